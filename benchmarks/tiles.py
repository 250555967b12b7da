"""Tiles benchmark (issue 20): reading a C2SP tile against an inclusion proof, as the log grows.

    python -m benchmarks.tiles [--quick] [--sizes 10000,100000] [--reads 200]

Over the synthetic ``merkle_nodes`` tables of ``benchmarks.log`` (built once and cached),
each read in a read session of its own through ``SqlNodes``, round-robin over the sizes:
a full level-0 tile (256 leaf hashes), a full level-1 tile where the log has one, the
rightmost partial level-0 tile, and — the baseline measured in the same run — an
inclusion proof. Printed: the median per size and the ratio to the proof's median.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from typing import Any

from benchmarks import _common as c
from benchmarks.log import node_store
from ledger import merkle, tiles
from ledger.log import SqlNodes


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tiles")
    parser.add_argument("--quick", action="store_true", help="one size, 50 reads")
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--reads", type=int, default=200)
    args = parser.parse_args(argv)
    sizes = [10_000] if args.quick else sorted(int(s) for s in args.sizes.split(","))
    reads = 50 if args.quick else args.reads
    rng = random.Random(20)
    stores = {n: node_store(n)[0] for n in sizes}
    kinds = ["proof", "tile 0 full", "tile 0 partial", "tile 1 full"]
    times: dict[tuple[int, str], list[float]] = {(n, k): [] for n in sizes for k in kinds}

    def run(n: int, kind: str) -> Any:
        with stores[n].reading() as session:
            nodes = SqlNodes(session)
            if kind == "proof":
                return merkle.inclusion_proof(rng.randrange(n), n, nodes)
            if kind == "tile 0 full":
                return tiles.tile_bytes(tiles.Tile(0, rng.randrange(n // 256)), n, nodes)
            if kind == "tile 0 partial":
                return tiles.tile_bytes(tiles.Tile(0, n // 256, n % 256 or 256), n, nodes)
            if n >= 65_536:
                return tiles.tile_bytes(tiles.Tile(1, 0), n, nodes)
            return None

    try:
        for _ in range(reads):
            for n in sizes:
                for kind in kinds:
                    if kind == "tile 1 full" and n < 65_536:
                        continue
                    times[(n, kind)].append(c.timed(lambda n=n, kind=kind: run(n, kind))[0])
    finally:
        for store in stores.values():
            store.dispose()
    rows, figures = [], {}
    for n in sizes:
        base = statistics.median(times[(n, "proof")])
        for kind in kinds:
            if not times[(n, kind)]:
                continue
            median = statistics.median(times[(n, kind)])
            rows.append([f"{n:,}", kind, c.ms(median), f"{median / base:.2f} ×"])
            figures[f"{n}:{kind}"] = median
    print(f"median of {reads} reads, each in its own read session")
    print(c.table(rows, ["leaves", "read", "median", "÷ inclusion proof"]))
    c.write_result("tiles", figures, argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
