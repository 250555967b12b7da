"""Provenance: custody subgraphs, attribution, origin verdicts, proof bundles."""

DEFAULT_PRODUCT = "coffee"
DEFAULT_SCHEME = "SPP"
"""What a mass-balance report is of when its query names no product or scheme: one value
for ``trazo mass-balance`` and ``GET /api/v1/parties/{id}/mass-balance`` (kept here, so
that the command line need not import the report to know its defaults)."""
