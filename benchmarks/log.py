"""Merkle log benchmark (issue 5): the log's cost on append, and proof latency at scale.

    python -m benchmarks.log [--quick] [--events 20000] [--batch 500]
                             [--sizes 10000,100000,1000000] [--proofs 200]

(a) Append throughput with the log (Merkle nodes plus a signed checkpoint per batch)
    against ``merkle=False`` without a signer: the same generated events go into two fresh
    SQLite ledgers in the same run, batch by batch, alternating which ledger goes first.
    Printed: both rates, each against one core's raw Ed25519 verification rate measured
    in the same run, and the log's cost in % (target < 10 %).
(b) Inclusion and consistency proof latency at growing log sizes. Appending a million
    events through ``append_batch`` takes ~20 minutes, so the ``merkle_nodes`` table is
    built directly for N synthetic leaves with the ledger's own code path
    (``merkle.nodes_completed_by`` over an in-memory reader, bulk-inserted), and cached
    under ``benchmarks/results/``. The proofs then read it through ``SqlNodes`` in a read
    session per proof, as the server does (the event-id lookup of ``ledger.log.inclusion``
    is left out: synthetic leaves have no event rows). Printed: median and p95 per size,
    nodes and queries per proof, and the ratio largest/smallest (target: flat, O(log n)).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Collection
from typing import Any, cast

from sqlalchemy import Table, func, insert, select

from benchmarks import _common as c
from fixtures.generator import generate, log_key
from ledger import merkle
from ledger.append import append_batch
from ledger.checkpoint import NoteSigner
from ledger.log import MerkleNodeRow, SqlNodes
from ledger.store import Store

SEED = 1


# --- (a) append with and without the log ---------------------------------------------------


def append_cost(events: int, batch: int) -> dict[str, Any]:
    envelopes = list(generate(events, SEED))
    verify_rate = c.ed25519_rate(envelopes)
    signer = NoteSigner("trazo/bench", log_key(SEED))
    with tempfile.TemporaryDirectory(prefix="trazo-bench-log-") as tmp:
        on, off = Store(f"sqlite:///{tmp}/on.db"), Store(f"sqlite:///{tmp}/off.db")
        on.migrate()
        off.migrate()
        t_on = t_off = 0.0
        ratios = []
        try:
            for n, start in enumerate(range(0, len(envelopes), batch)):
                chunk = envelopes[start : start + batch]

                def with_log(chunk: list[Any] = chunk, start: int = start) -> Any:
                    return append_batch(on, chunk, log_signer=signer, genesis=start == 0)

                def without(chunk: list[Any] = chunk, start: int = start) -> Any:
                    return append_batch(off, chunk, merkle=False, genesis=start == 0)

                if n % 2:
                    a, _ = c.timed(with_log)
                    b, _ = c.timed(without)
                else:
                    b, _ = c.timed(without)
                    a, _ = c.timed(with_log)
                t_on, t_off = t_on + a, t_off + b
                ratios.append(a / b)
            assert on.size() == off.size() == len(envelopes)
        finally:
            on.dispose()
            off.dispose()
    rate_on, rate_off = len(envelopes) / t_on, len(envelopes) / t_off
    return {
        "events": len(envelopes),
        "batch": batch,
        "batches": len(ratios),
        "with_log_events_per_s": rate_on,
        "without_log_events_per_s": rate_off,
        "with_log_s": t_on,
        "without_log_s": t_off,
        "log_cost_percent": (t_on / t_off - 1) * 100,
        "log_cost_percent_median_batch": (statistics.median(ratios) - 1) * 100,
        "ed25519_verifications_per_s": verify_rate,
        "with_log_ratio_to_ed25519": rate_on / verify_rate,
        "without_log_ratio_to_ed25519": rate_off / verify_rate,
        "target_log_cost_percent": 10,
    }


# --- (b) proofs on a large log --------------------------------------------------------------


class _Levels:
    """The complete subtrees so far, as ``MemoryTree`` keeps them: a ``NodeReader``."""

    def __init__(self) -> None:
        self.levels: list[list[bytes]] = []

    def get_nodes(self, coords: Collection[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        return {
            (lv, i): self.levels[lv][i]
            for lv, i in coords
            if lv < len(self.levels) and i < len(self.levels[lv])
        }

    def add(self, rows: list[tuple[int, int, bytes]]) -> None:
        for level, _idx, digest in rows:
            if level == len(self.levels):
                self.levels.append([])
            self.levels[level].append(digest)


class _Counting(SqlNodes):
    """``SqlNodes`` that counts what a proof reads (for the report, never timed)."""

    def __init__(self, session: Any) -> None:
        super().__init__(session)
        self.nodes = self.queries = 0

    def get_nodes(self, coords: Collection[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        self.nodes += len(coords)
        self.queries += sum((n + 499) // 500 for n in _per_level(coords).values())
        return super().get_nodes(coords)


def _per_level(coords: Collection[tuple[int, int]]) -> dict[int, int]:
    out: dict[int, int] = {}
    for level, _ in coords:
        out[level] = out.get(level, 0) + 1
    return out


def synthetic_leaf(i: int) -> bytes:
    """Leaf ``i``'s hash: the leaf input is a 32-byte SHA-256, as an event's is."""
    return merkle.leaf_hash(hashlib.sha256(f"synthetic leaf {i}".encode()).digest())


def expected_nodes(leaves: int) -> int:
    """Complete subtrees of a tree of ``leaves`` leaves: 2n − popcount(n)."""
    return 2 * leaves - leaves.bit_count()


def node_store(leaves: int) -> tuple[Store, float | None, bytes]:
    """A ledger database whose ``merkle_nodes`` hold ``leaves`` synthetic leaves (cached).

    Returns the store, the build time (None when reused) and the in-memory root.
    """
    path = c.RESULTS / f"merkle-nodes-{leaves}.db"
    store = Store(f"sqlite:///{path}")
    if path.exists():
        with store.reading() as session:
            count = session.scalar(select(func.count()).select_from(MerkleNodeRow))
        if count == expected_nodes(leaves):
            with store.reading() as session:
                root = merkle.root(leaves, SqlNodes(session))
            return store, None, root
        store.dispose()
        path.unlink()
        store = Store(f"sqlite:///{path}")
    c.RESULTS.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    store.migrate()
    reader = _Levels()
    table = cast(Table, MerkleNodeRow.__table__)
    pending: list[dict[str, Any]] = []
    for i in range(leaves):
        rows = merkle.nodes_completed_by(i, synthetic_leaf(i), reader)
        reader.add(rows)
        pending.extend({"level": lv, "idx": idx, "hash": h} for lv, idx, h in rows)
        if len(pending) >= 100_000 or i == leaves - 1:
            with store.writing() as session:
                session.connection().execute(insert(table), pending)  # executemany
            pending = []
    root = merkle.root(leaves, reader)
    return store, time.perf_counter() - start, root


def proof_latencies(sizes: list[int], proofs: int, rng: random.Random) -> list[dict[str, Any]]:
    """Proof timings per log size, measured round-robin across the sizes (one inclusion and
    one consistency proof per size per round), so the machine's noise hits every size alike.
    """
    built: dict[int, float | None] = {}
    stores: dict[int, Store] = {}
    roots: dict[int, bytes] = {}
    try:
        for leaves in sizes:
            stores[leaves], built[leaves], roots[leaves] = node_store(leaves)
            print(f"  merkle_nodes of {leaves:,} leaves ready", flush=True)
            with stores[leaves].reading() as session:  # the stored table gives the same root
                if merkle.root(leaves, SqlNodes(session)) != roots[leaves]:
                    raise SystemExit(f"merkle_nodes of {leaves} leaves do not give its root")
        indexes = {n: [rng.randrange(n) for _ in range(proofs)] for n in sizes}
        sizes1 = {n: [rng.randrange(1, n) for _ in range(proofs)] for n in sizes}

        def inclusion(n: int, i: int) -> list[bytes]:
            with stores[n].reading() as session:
                return merkle.inclusion_proof(i, n, SqlNodes(session))

        def consistency(n: int, m: int) -> list[bytes]:
            with stores[n].reading() as session:
                return merkle.consistency_proof(m, n, SqlNodes(session))

        for n in sizes:  # warm the connection pools and page caches
            for i in indexes[n][:10]:
                inclusion(n, i)
        t_inc: dict[int, list[float]] = {n: [] for n in sizes}
        t_con: dict[int, list[float]] = {n: [] for n in sizes}
        for k in range(proofs):
            for n in sizes:
                t_inc[n].append(c.timed(lambda n=n, k=k: inclusion(n, indexes[n][k]))[0])
                t_con[n].append(c.timed(lambda n=n, k=k: consistency(n, sizes1[n][k]))[0])
        out = []
        for n in sizes:
            # correctness and what each proof reads, outside the timings
            for i in indexes[n][:20]:
                merkle.verify_inclusion(synthetic_leaf(i), i, n, inclusion(n, i), roots[n])
            reads: dict[str, list[tuple[int, int, int]]] = {"inclusion": [], "consistency": []}
            with stores[n].reading() as session:
                for kind, args, fn in (
                    ("inclusion", indexes[n], merkle.inclusion_proof),
                    ("consistency", sizes1[n], merkle.consistency_proof),
                ):
                    for a in args:
                        counter = _Counting(session)
                        proof = fn(a, n, counter)
                        reads[kind].append((counter.nodes, counter.queries, len(proof)))
            r: dict[str, Any] = {
                "leaves": n,
                "nodes_stored": expected_nodes(n),
                "build_s": built[n],
                "cached": built[n] is None,
            }
            for kind, times in (("inclusion", t_inc[n]), ("consistency", t_con[n])):
                nodes = [x for x, _, _ in reads[kind]]
                queries = [q for _, q, _ in reads[kind]]
                hashes = [h for _, _, h in reads[kind]]
                r[kind] = {
                    **c.summary(times),
                    "nodes_read_median": statistics.median(nodes),
                    "nodes_read_max": max(nodes),
                    "queries_median": statistics.median(queries),
                    "queries_max": max(queries),
                    "proof_hashes_median": statistics.median(hashes),
                }
            out.append(r)
        return out
    finally:
        for store in stores.values():
            store.dispose()


# --- the run ----------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.log", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 3000 events, 100 proofs per size"
    )
    parser.add_argument("--events", type=int, help="events appended (default 20000; quick 3000)")
    parser.add_argument("--batch", type=int, default=500, help="events per append batch")
    parser.add_argument(
        "--sizes", default="10000,100000,1000000", help="log sizes for the proofs, comma-separated"
    )
    parser.add_argument("--proofs", type=int, help="proofs per size (default 200; quick 100)")
    args = parser.parse_args(argv)
    events = args.events or (3000 if args.quick else 20_000)
    proofs = args.proofs or (100 if args.quick else 200)
    sizes = sorted(int(s) for s in args.sizes.split(",") if s.strip())

    print(
        f"(a) append {events} generated events in batches of {args.batch},"
        " two fresh SQLite ledgers, interleaved",
        flush=True,
    )
    a = append_cost(events, args.batch)
    print(
        c.table(
            [
                [
                    "log on (nodes + signed checkpoint)",
                    f"{a['with_log_events_per_s']:,.0f}",
                    f"{a['with_log_ratio_to_ed25519']:.3f}",
                ],
                [
                    "log off (merkle=False, no signer)",
                    f"{a['without_log_events_per_s']:,.0f}",
                    f"{a['without_log_ratio_to_ed25519']:.3f}",
                ],
                [
                    "Ed25519 verify, one core (baseline)",
                    f"{a['ed25519_verifications_per_s']:,.0f}",
                    "1.000",
                ],
            ],
            ["append", "events/s", "÷ Ed25519/s"],
        )
    )
    verdict = "met" if a["log_cost_percent"] < 10 else "MISSED"
    print(
        f"log cost: {a['log_cost_percent']:+.1f} % of append time"
        f" (median per batch pair {a['log_cost_percent_median_batch']:+.1f} %);"
        f" target < 10 %: {verdict}"
    )

    print(
        f"\n(b) proofs: {proofs} random proofs per size through SqlNodes, one read session"
        " each, sizes measured round-robin; merkle_nodes built directly for synthetic"
        " leaves (nodes_completed_by + executemany), not through append_batch",
        flush=True,
    )
    rng = random.Random(SEED)
    rows, results = [], proof_latencies(sizes, proofs, rng)
    for r in results:
        leaves = r["leaves"]
        built = "cached" if r["cached"] else f"built {r['build_s']:.1f} s"
        for kind in ("inclusion", "consistency"):
            k = r[kind]
            rows.append(
                [
                    f"{leaves:,} ({built})" if kind == "inclusion" else "",
                    kind,
                    c.ms(k["median_s"]),
                    c.ms(k["p95_s"]),
                    f"{k['nodes_read_median']:.0f} / {k['nodes_read_max']}",
                    f"{k['queries_median']:.0f} / {k['queries_max']}",
                ]
            )
    print(
        c.table(rows, ["leaves", "proof", "median", "p95", "nodes read med/max", "queries med/max"])
    )
    figures: dict[str, Any] = {"append": a, "proofs": results}
    if len(results) > 1:
        first, last = results[0], results[-1]
        for kind in ("inclusion", "consistency"):
            ratio = last[kind]["median_s"] / first[kind]["median_s"]
            figures[f"{kind}_median_ratio_largest_to_smallest"] = ratio
            print(
                f"{kind}: median at {last['leaves']:,} ÷ at {first['leaves']:,} ="
                f" {ratio:.2f}x (target: flat, O(log n);"
                f" log2 ratio {_log_ratio(last['leaves'], first['leaves']):.2f})"
            )
    path = c.write_result("log", figures, argv)
    print(f"results: {path}")
    return 0


def _log_ratio(big: int, small: int) -> float:
    return big.bit_length() / small.bit_length()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
