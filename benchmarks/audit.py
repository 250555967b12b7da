"""Audit benchmark: ``ledger.audit.audit`` over a whole ledger, against raw Ed25519.

    python -m benchmarks.audit [--quick] [--sizes 100000]

The audit re-reads every event, recomputes its id, verifies its signature and key chain,
rebuilds the Merkle tree and checks every stored node and every signed checkpoint (with
the log key). The ledgers are those of ``benchmarks.provenance`` (the demo chain plus
filler, cached in ``benchmarks/results/``; built here when missing). Printed: events/s and
the ratio to raw Ed25519 verifications/s of one core, measured in the same run: the audit
must verify every signature, so that rate is its ceiling.
"""

from __future__ import annotations

import argparse
import sys
from itertools import islice
from typing import Any

from benchmarks import _common as c
from benchmarks.provenance import SEED, _filler, ledger, log_key_of
from fixtures.generator import demo_chain
from ledger.audit import audit


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.audit", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: a 10k ledger")
    parser.add_argument(
        "--sizes", help="ledger sizes, comma-separated (default 100000; quick 10000)"
    )
    args = parser.parse_args(argv)
    if args.sizes:
        sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    else:
        sizes = [10_000] if args.quick else [100_000]

    chain = demo_chain(SEED)
    key = log_key_of(chain)
    sample = [*chain.events, *islice(_filler(chain, SEED), 2000)]
    rows, results = [], []
    for events in sizes:
        store, built = ledger(chain, events)
        if built is not None:
            print(f"ledger of {events:,} events built in {built:.0f} s", flush=True)
        try:
            seconds, report = c.timed(lambda store=store: audit(store, log_key=key))
        finally:
            store.dispose()
        verify_rate = c.ed25519_rate(sample)
        rate = report.events / seconds
        result: dict[str, Any] = {
            "events": report.events,
            "keys": report.keys,
            "nodes": report.nodes,
            "checkpoints": report.checkpoints,
            "findings": len(report.findings),
            "audit_s": seconds,
            "events_per_s": rate,
            "ed25519_verifications_per_s": verify_rate,
            "ratio_to_ed25519": rate / verify_rate,
        }
        results.append(result)
        rows.append(
            [
                f"{events:,}",
                f"{seconds:.1f} s",
                f"{rate:,.0f}",
                f"{verify_rate:,.0f}",
                f"{rate / verify_rate:.3f}",
                str(len(report.findings)),
            ]
        )
        if report.findings:
            print(f"  unexpected findings: {[str(f) for f in report.findings[:3]]}")
    print(c.table(rows, ["ledger", "audit", "events/s", "Ed25519/s (1 core)", "ratio", "findings"]))
    path = c.write_result("audit", {"runs": results}, argv)
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
