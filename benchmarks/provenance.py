"""Provenance benchmark (issue 6): trace and origin of a retail lot as the ledger grows.

    python -m benchmarks.provenance [--quick] [--large] [--sizes 10000,100000] [--repeat 5]

The retail lots are the demo chain's bags (``demo_chain(seed).facts``), whose ancestry
holds a few hundred events. Each ledger is the demo chain followed by filler events up to
the asked size, all appended through ``append_batch`` with the log key (a signed checkpoint
per batch of 500): a fourth cooperative, an exporter and a roaster registered by the
operator, trading day after day (harvests, dry milling, two shipments and their receipts,
roasting). The filler never touches the bags' ancestry, so the work per query is the same
at every size and only the ledger grows. (``generate(N)`` does not start with the demo
chain byte for byte — it plans a world for N events — so its bags differ by size.)

Loading runs at ~1k events/s; built ledgers are cached in ``benchmarks/results/`` by size
and seed, so reruns reuse them. ``--large`` adds a 1M-event ledger (~20 minutes once).

Printed per size: time (median of ``--repeat``) and peak Python memory (tracemalloc,
separate run) of ``gather`` + ``origin_verdict`` (what the origin page and API do) and of
``trace``; the ratio largest/smallest (target ≤ 1.5×) and whether origin stays under
100 ms at the largest size. Then ``build_bundle`` for the blended bag and ``verify_bundle``
offline: events verified per second against raw Ed25519 verifications per second of one
core, measured in the same run on the bundle's own envelopes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from benchmarks import _common as c
from fixtures.generator import DemoChain, demo_chain, party_key
from graph.ancestry import gather
from graph.bundle import build_bundle
from graph.origin import origin_verdict
from graph.prices import price_section
from graph.trace import trace
from graph.verify import verify_bundle
from ledger.append import append_batch
from ledger.checkpoint import NoteSigner
from ledger.envelope import Envelope, b64encode, raw_public_key
from ledger.log import LogKey, default_origin
from ledger.signer import KeyChain
from ledger.store import Store

SEED = 1
BATCH = 500
COOP, EXPORTER, ROASTER = "bench-coop", "bench-exporter", "bench-roaster"
MEMBERS = 40


# --- the ledger -----------------------------------------------------------------------------


def _filler(chain: DemoChain, seed: int) -> Iterator[Envelope]:
    """Endless custody events of three new parties, after the demo chain, in append order."""
    operator = chain.facts.operator
    bodies = [json.loads(e.payload) for e in chain.events]
    mine = [
        (b["seq"], e.id)
        for b, e in zip(bodies, chain.events, strict=True)
        if b["party"] == operator
    ]
    seq, prev = max(mine)
    ledger = chain.events[0].id
    op = KeyChain(chain.operator_key, operator, seq=seq, prev=prev, ledger=ledger)
    when = (datetime.fromisoformat(chain.facts.last_time) + timedelta(hours=1)).isoformat()
    roles = {COOP: "spo", EXPORTER: "trader", ROASTER: "roaster"}
    keys = {p: party_key(seed, p) for p in roles}
    for party, role in roles.items():
        yield op.sign(
            {
                "type": "party.register",
                "time": when,
                "subject": party,
                "name": party,
                "roles": [role],
                "country": "PE",
                "public_key": b64encode(raw_public_key(keys[party].public_key())),
            }
        )
    coop, exporter, roaster = (
        KeyChain(keys[p], p, ledger=ledger) for p in (COOP, EXPORTER, ROASTER)
    )
    last: list[str] = []

    def sign(signer: KeyChain, body: dict[str, Any]) -> Envelope:
        envelope = signer.sign({**body, "time": when})
        last.append(envelope.id)
        return envelope

    for m in range(MEMBERS):
        yield sign(
            coop,
            {
                "type": "member.enroll",
                "member": f"{COOP}:m-{m}",
                "products": ["coffee"],
                "since": "2019-05-01",
                "plots": [{"plot": f"{COOP}:p-{m}", "area_ha": "2.5"}],
            },
        )
    r = 0
    while True:
        harvests = []
        for i in range(4):
            m = (4 * r + i) % MEMBERS
            lot = f"{COOP}:h-{r}-{i}"
            yield sign(
                coop,
                {
                    "type": "harvest",
                    "lot": lot,
                    "product": "coffee",
                    "form": "parchment",
                    "quantity": "46",
                    "unit": "kg",
                    "member": f"{COOP}:m-{m}",
                    "plot": f"{COOP}:p-{m}",
                },
            )
            harvests.append((lot, last[-1]))
        green, roasted = f"{COOP}:g-{r}", f"{ROASTER}:r-{r}"
        yield sign(
            coop,
            {
                "type": "transform",
                "process": "dry-mill",
                "inputs": [_line(lot, e, "46") for lot, e in harvests],
                "outputs": [_output(green, "green", "150")],
            },
        )
        yield sign(
            coop,
            {
                "type": "ship",
                "to": EXPORTER,
                "lots": [_line(green, last[-1], "150")],
                "transactions": [{"type": "po", "id": f"PO-{r}"}],
            },
        )
        yield sign(
            exporter,
            {
                "type": "receive",
                "shipment": last[-1],
                "lots": [{"lot": green, "quantity": "150", "unit": "kg"}],
            },
        )
        yield sign(
            exporter, {"type": "ship", "to": ROASTER, "lots": [_line(green, last[-1], "150")]}
        )
        yield sign(
            roaster,
            {
                "type": "receive",
                "shipment": last[-1],
                "lots": [{"lot": green, "quantity": "150", "unit": "kg"}],
            },
        )
        yield sign(
            roaster,
            {
                "type": "transform",
                "process": "roast",
                "inputs": [_line(green, last[-1], "150")],
                "outputs": [_output(roasted, "roasted", "125")],
            },
        )
        del last[:-1]
        r += 1


def _line(lot: str, event: str, quantity: str) -> dict[str, str]:
    return {"lot": lot, "event": event, "quantity": quantity, "unit": "kg"}


def _output(lot: str, form: str, quantity: str) -> dict[str, str]:
    return {"lot": lot, "product": "coffee", "form": form, "quantity": quantity, "unit": "kg"}


def signer_of(chain: DemoChain) -> NoteSigner:
    return NoteSigner(default_origin(chain.facts.operator), chain.log_key)


def log_key_of(chain: DemoChain) -> LogKey:
    return LogKey(raw_public_key(chain.log_key.public_key()))


def ledger(chain: DemoChain, events: int, seed: int = SEED) -> tuple[Store, float | None]:
    """A SQLite ledger of ``events`` events: the demo chain, then filler (cached by size, seed).

    Returns the store and the build time in seconds (None when a cached file was reused).
    """
    path = c.RESULTS / f"provenance-ledger-{events}-seed{seed}.db"
    if path.exists():
        return Store(f"sqlite:///{path}"), None
    c.RESULTS.mkdir(parents=True, exist_ok=True)
    building = path.with_suffix(".building")
    for stale in (building, Path(f"{building}-journal"), Path(f"{building}-wal")):
        stale.unlink(missing_ok=True)
    store = Store(f"sqlite:///{building}")
    store.migrate()
    signer = signer_of(chain)
    filler = islice(_filler(chain, seed), max(events - len(chain.events), 0))
    stream = islice(_concat(chain.events, filler), events)
    start = time.perf_counter()
    done = 0
    batch: list[Envelope] = []
    for envelope in stream:
        batch.append(envelope)
        if len(batch) == BATCH:
            append_batch(store, batch, log_signer=signer, genesis=done == 0)
            done += len(batch)
            batch = []
            if done % 20_000 == 0:
                rate = done / (time.perf_counter() - start)
                print(f"  loading: {done:,}/{events:,} events ({rate:,.0f}/s)", flush=True)
    if batch:
        append_batch(store, batch, log_signer=signer, genesis=done == 0)
    elapsed = time.perf_counter() - start
    if store.size() != events:
        raise SystemExit(f"built {store.size()} events, not {events}")
    store.dispose()
    building.replace(path)
    return Store(f"sqlite:///{path}"), elapsed


def _concat(first: list[Envelope], rest: Iterator[Envelope]) -> Iterator[Envelope]:
    yield from first
    yield from rest


# --- the measures ---------------------------------------------------------------------------


def measure(
    stores: dict[int, Store], lots: dict[str, str], repeat: int
) -> dict[int, dict[str, Any]]:
    """Per ledger size and lot: origin and trace timings, measured round-robin across the
    sizes (so the machine's noise hits every size alike), then peak memory apart."""

    def origin(store: Store, lot: str) -> Any:
        evidence = gather(store, lot)
        return evidence, origin_verdict(lot, evidence)

    times: dict[tuple[int, str, str], list[float]] = {}
    for store in stores.values():  # warm caches and connections; all is measured warm
        for lot in lots.values():
            origin(store, lot)
            trace(store, lot)
    for _ in range(repeat):
        for events, store in stores.items():
            for name, lot in lots.items():
                times.setdefault((events, name, "origin"), []).append(
                    c.timed(lambda store=store, lot=lot: origin(store, lot))[0]
                )
                times.setdefault((events, name, "trace"), []).append(
                    c.timed(lambda store=store, lot=lot: trace(store, lot))[0]
                )
    out: dict[int, dict[str, Any]] = {}
    for events, store in stores.items():
        for name, lot in lots.items():
            m_origin, (evidence, verdict) = c.peak_memory(
                lambda store=store, lot=lot: origin(store, lot)
            )
            m_trace, graph = c.peak_memory(lambda store=store, lot=lot: trace(store, lot))
            t_origin, t_trace = times[(events, name, "origin")], times[(events, name, "trace")]
            out.setdefault(events, {})[name] = {
                "lot": lot,
                "evidence_events": len(evidence.records),
                "trace_nodes": len(graph["nodes"]),
                "trace_edges": len(graph["edges"]),
                "certified_percent": str(verdict.certified_percent),
                "origin_median_s": statistics.median(t_origin),
                "origin_min_s": min(t_origin),
                "origin_peak_bytes": m_origin,
                "trace_median_s": statistics.median(t_trace),
                "trace_min_s": min(t_trace),
                "trace_peak_bytes": m_trace,
            }
    return out


def price_figures(store: Store, lot: str, repeat: int) -> dict[str, Any]:
    """What the price section (issue 21) costs the origin verdict: ``price_section`` alone
    against the whole ``origin_verdict`` it is part of, on the same evidence, same run."""
    evidence = gather(store, lot)
    origin_verdict(lot, evidence)  # warm
    t_verdict = statistics.median(
        c.timed(lambda: origin_verdict(lot, evidence))[0] for _ in range(repeat)
    )
    t_prices = statistics.median(
        c.timed(lambda: price_section(lot, evidence))[0] for _ in range(repeat)
    )
    section = price_section(lot, evidence)
    return {
        "lot": lot,
        "figures": len(section.figures),
        "events": len(section.events),
        "verdict_s": t_verdict,
        "price_section_s": t_prices,
        "share_of_verdict": t_prices / t_verdict,
    }


def bundle_figures(store: Store, chain: DemoChain, lot: str) -> dict[str, Any]:
    t_build, bundle = c.timed(lambda: build_bundle(store, lot))
    key = log_key_of(chain)
    verify_bundle(bundle, key)  # warm: rule tables, imports
    t_verify, report = c.timed(lambda: verify_bundle(bundle, key))
    if not report.ok:
        raise SystemExit(f"the bundle of {lot} does not verify: {report.findings[:3]}")
    envelopes = [Envelope.from_dict(e["envelope"]) for e in bundle["events"]]
    verify_rate = c.ed25519_rate(envelopes)
    rate = report.events / t_verify
    return {
        "lot": lot,
        "events": report.events,
        "bytes": len(json.dumps(bundle, separators=(",", ":"))),
        "build_s": t_build,
        "verify_s": t_verify,
        "verify_events_per_s": rate,
        "ed25519_verifications_per_s": verify_rate,
        "ratio_to_ed25519": rate / verify_rate,
    }


# --- the run ----------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.provenance", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: 10k events only")
    parser.add_argument("--large", action="store_true", help="add a 1M-event ledger")
    parser.add_argument("--sizes", help="ledger sizes, comma-separated (default 10000,100000)")
    parser.add_argument("--repeat", type=int, help="timed runs per query (default 7; quick 3)")
    args = parser.parse_args(argv)
    if args.sizes:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    else:
        sizes = [10_000] if args.quick else [10_000, 100_000]
        if args.large:
            sizes.append(1_000_000)
    sizes = sorted(set(sizes))
    repeat = args.repeat or (3 if args.quick else 7)

    chain = demo_chain(SEED)
    lots = {
        "blended bag": chain.facts.blended_bag,
        "single-origin bag": chain.facts.single_origin_bag,
    }
    if sizes[0] < len(chain.events):
        raise SystemExit(f"the smallest ledger must hold the demo chain ({len(chain.events)})")
    stores: dict[int, Store] = {}
    built: dict[int, float | None] = {}
    try:
        for events in sizes:
            stores[events], built[events] = ledger(chain, events)
            t = built[events]
            how = "cached" if t is None else f"built in {t:.0f} s ({events / t:,.0f}/s)"
            print(f"ledger of {events:,} events: {how}", flush=True)
        measured = measure(stores, lots, repeat)
        bundle = bundle_figures(stores[sizes[-1]], chain, chain.facts.blended_bag)
        prices = price_figures(stores[sizes[-1]], chain.facts.single_origin_bag, repeat)
    finally:
        for store in stores.values():
            store.dispose()
    per_size = [{"events": n, "build_s": built[n], "lots": measured[n]} for n in sizes]

    rows = []
    for s in per_size:
        for name, m in s["lots"].items():
            rows.append(
                [
                    f"{s['events']:,}",
                    name,
                    str(m["evidence_events"]),
                    c.ms(m["origin_median_s"]),
                    c.mib(m["origin_peak_bytes"]),
                    c.ms(m["trace_median_s"]),
                    c.mib(m["trace_peak_bytes"]),
                ]
            )
    print(
        c.table(rows, ["ledger", "lot", "evidence", "origin", "origin peak", "trace", "trace peak"])
    )
    figures: dict[str, Any] = {"sizes": per_size, "repeat": repeat}
    first, last = per_size[0], per_size[-1]
    for name in lots:
        a, b = first["lots"][name], last["lots"][name]
        r_origin = b["origin_median_s"] / a["origin_median_s"]
        r_trace = b["trace_median_s"] / a["trace_median_s"]
        under = b["origin_median_s"] < 0.1
        figures[name] = {
            "origin_ratio_largest_to_smallest": r_origin,
            "trace_ratio_largest_to_smallest": r_trace,
            "origin_under_100ms_at_largest": under,
        }
        if len(per_size) > 1:
            print(
                f"{name}: {last['events']:,} ÷ {first['events']:,} events: origin"
                f" {r_origin:.2f}x, trace {r_trace:.2f}x (target ≤ 1.5x:"
                f" {'met' if max(r_origin, r_trace) <= 1.5 else 'MISSED'})"
            )
        print(
            f"{name}: origin at {last['events']:,} events {c.ms(b['origin_median_s'])}"
            f" (target < 100 ms: {'met' if under else 'MISSED'})"
        )
    print(
        f"bundle of the blended bag ({last['events']:,}-event ledger): {bundle['events']}"
        f" events, {bundle['bytes'] / 1024:.0f} KiB, built in {c.ms(bundle['build_s'])}"
    )
    print(
        f"verify_bundle offline: {bundle['verify_events_per_s']:,.0f} events/s"
        f" ({c.ms(bundle['verify_s'])}); Ed25519 one core"
        f" {bundle['ed25519_verifications_per_s']:,.0f}/s; ratio"
        f" {bundle['ratio_to_ed25519']:.3f}"
    )
    figures["bundle"] = bundle
    print(
        f"price section of the single-origin bag ({prices['figures']} figure(s) resting on"
        f" {prices['events']} events): {c.ms(prices['price_section_s'])} of the verdict's"
        f" {c.ms(prices['verdict_s'])} ({prices['share_of_verdict']:.0%})"
    )
    figures["prices"] = prices
    path = c.write_result("provenance", figures, argv)
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
