"""Helpers shared by the benchmarks: timing, peak memory, the Ed25519 baseline, results.

Every benchmark prints its figures and a ratio against a baseline measured in the same
run (the machines these run on are shared and noisy), and merges its figures into
``benchmarks/results/latest.json`` under its own name, with the machine and the date.
"""

from __future__ import annotations

import base64
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from ledger.envelope import PAYLOAD_TYPE, Envelope, keyid_of, pae
from ledger.keys import public_key_from_raw

T = TypeVar("T")

RESULTS = Path(__file__).resolve().parent / "results"
"""Git-ignored: the result file and cached ledgers live here."""
RESULT_FILE = RESULTS / "latest.json"

written: set[str] = set()
"""Benchmark names that wrote their figures in this process (``__main__`` checks it)."""


# --- a served demo ledger ---------------------------------------------------------------


@contextmanager
def demo_client(chain: Any, token: str, log_signer: Any = None) -> Iterator[tuple[Any, Any]]:
    """The demo chain appended in batches of 1,000 to a new SQLite ledger in a temporary
    folder, and a test client of the app over it that ``token`` reads as the operator,
    with no request budget: ``(store, client)``, both closed on leaving."""
    from api import create_app
    from ledger.append import append_batch
    from ledger.store import Store

    with tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite:///{Path(folder) / 'ledger.db'}")
        store.migrate()
        for start in range(0, len(chain.events), 1000):
            batch = chain.events[start : start + 1000]
            append_batch(store, batch, log_signer=log_signer, genesis=start == 0)
        config = {"TRAZO_DATABASE_URL": store.url, "TRAZO_KEYS": folder, "TRAZO_READ_TOKEN": token}
        app = create_app(config)
        app.config["TRAZO_RATE_LIMIT"] = 0
        try:
            yield store, app.test_client()
        finally:
            app.extensions["trazo.store"].dispose()
            store.dispose()


# --- timing and memory -----------------------------------------------------------------


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    """Seconds one call of ``fn`` takes, and its result."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def samples(fn: Callable[[], Any], repeat: int) -> list[float]:
    """``repeat`` timings (seconds) of ``fn``."""
    return [timed(fn)[0] for _ in range(repeat)]


def percentile(values: Iterable[float], p: float) -> float:
    """The ``p``-th percentile (0…100), nearest rank on the sorted values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered)) - 1))
    return ordered[rank]


def summary(values: list[float]) -> dict[str, float]:
    """Median, p95, min and max of timings (seconds)."""
    return {
        "median_s": statistics.median(values),
        "p95_s": percentile(values, 95),
        "min_s": min(values),
        "max_s": max(values),
        "n": len(values),
    }


def peak_memory(fn: Callable[[], T]) -> tuple[int, T]:
    """Peak Python heap (bytes, under tracemalloc) while ``fn`` runs, and its result.

    tracemalloc slows the code it watches: never time the same call.
    """
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = fn()
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


def mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


# --- the Ed25519 baseline ----------------------------------------------------------------


def public_keys(envelopes: Iterable[Envelope]) -> dict[str, Any]:
    """keyid → public key of every key an envelope registers (party.register, key.add)."""
    found: dict[str, Any] = {}
    for envelope in envelopes:
        body = json.loads(envelope.payload)
        if body.get("type") in ("party.register", "key.add") and "public_key" in body:
            raw = base64.b64decode(body["public_key"])
            found[keyid_of(raw)] = public_key_from_raw(raw)
    return found


def ed25519_rate(
    envelopes: list[Envelope],
    keys: dict[str, Any] | None = None,
    *,
    at_least: int = 2000,
    repeat: int = 3,
) -> float:
    """Raw Ed25519 verifications per second on one core, over these envelopes' signatures.

    The PAE messages and key objects are prepared beforehand, so this is the cost of
    ``verify`` alone: the ceiling for anything that must check every signature. The
    envelopes are cycled to at least ``at_least`` verifications; the best of ``repeat``.
    """
    keys = public_keys(envelopes) if keys is None else keys
    work = [
        (keys[e.signature.keyid], e.signature.sig, pae(PAYLOAD_TYPE, e.payload))
        for e in envelopes
        if e.signature.keyid in keys
    ]
    if not work:
        raise ValueError("no envelope is signed by a key the envelopes register")
    while len(work) < at_least:
        work = work + work[: at_least - len(work)]
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for key, sig, message in work:
            key.verify(sig, message)
        best = min(best, time.perf_counter() - start)
    return len(work) / best


# --- results -----------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_result(name: str, figures: dict[str, Any], argv: list[str] | None = None) -> Path:
    """Merge ``figures`` into the result file under ``name`` (other benchmarks' entries kept)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    try:
        document = json.loads(RESULT_FILE.read_text())
        if not isinstance(document, dict):
            document = {}
    except (OSError, ValueError):
        document = {}
    now = datetime.now(UTC).isoformat(timespec="seconds")
    info = machine()
    document["machine"] = info
    document["updated"] = now
    document.setdefault("benchmarks", {})[name] = {
        "date": now,
        "argv": list(argv or []),
        "machine": info,
        "figures": figures,
    }
    tmp = RESULT_FILE.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    tmp.replace(RESULT_FILE)
    written.add(name)
    return RESULT_FILE


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain text table, columns left-aligned except numbers-looking ones."""
    cells = [header, *rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for n, row in enumerate(cells):
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
