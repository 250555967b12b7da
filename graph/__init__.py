"""Provenance: custody subgraphs, attribution, origin verdicts, proof bundles."""
