"""Reproducible performance runs that print ratios; ``python -m benchmarks`` runs them all."""
