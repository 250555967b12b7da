"""Mass-balance benchmark: a year's report for one busy party, and the ledger-wide sweep.

    python -m benchmarks.mass_balance [--events 20000] [--traders 4] [--db URL]

``--events`` is the number of events signed by the audited trader in 2026 (the issue's
figure is ~100k: ``--events 100000``); the ledger holds about twice as many for it (the
cooperative's harvests and shipments it receives), plus ``--traders`` more traders of the
same size for the sweep, one of them overselling.

Mass balance only reads, so the ledger is seeded straight into the tables it reads
(events with their payloads, event_lots, lots, shipments, certificates, parties), as the
custody rules would have left them; envelopes are not signed (nothing here verifies
them; the append path has its own benchmark, ``benchmarks.ingest``).

Printed, each with its ratio to a baseline measured in the same run on the same rows:

- the report (time, and peak Python memory under tracemalloc) against a plain
  ``SELECT count(*)`` of the party's events in the period, and against fetching and
  JSON-parsing those rows' payloads in time order (the least any report must do);
- the sweep against ``SELECT count(*)`` of every custody event it reads.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from graph.mass_balance import Period, mass_balance, sweep
from ledger.schema import (
    CertificateRow,
    EventLotRow,
    EventRow,
    LotRow,
    PartyRow,
    ShipmentLotRow,
    ShipmentRow,
)
from ledger.store import Store

COOP, ROASTER, CERTIFIER = "coop-bench", "roaster-bench", "certifier-bench"
YEAR = Period.parse("2026")
START = datetime(2026, 1, 1, tzinfo=UTC)


class _Seeder:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.index = 0
        self.seq: dict[str, int] = {}
        self.rows: dict[type, list[dict[str, Any]]] = {}

    def event(
        self, party: str, kind: str, when: datetime, body: dict[str, Any], lots: list[str]
    ) -> str:
        body = {
            "type": kind,
            "schema": 1,
            "party": party,
            "key": _keyid(party),
            "time": when.isoformat(),
            **body,
        }
        payload = json.dumps(body, separators=(",", ":")).encode()
        event_id = "sha256:" + hashlib.sha256(payload).hexdigest()
        seq = self.seq[party] = self.seq.get(party, 0) + 1
        utc = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.add(
            EventRow,
            index=self.index,
            id=event_id,
            payload=payload,
            envelope="{}",
            type=kind,
            party=party,
            keyid=_keyid(party),
            seq=seq,
            prev=None,
            time=utc,
            recorded_at=utc,
        )
        for lot in lots:
            self.add(EventLotRow, event=event_id, lot=lot, idx=self.index)
        self.index += 1
        return event_id

    def add(self, table: type, **row: Any) -> None:
        self.rows.setdefault(table, []).append(row)
        if len(self.rows[table]) >= 5000:
            self.flush()

    def flush(self) -> None:
        with self.store.writing() as session:
            for table in (
                EventRow,
                LotRow,
                ShipmentRow,
                ShipmentLotRow,
                EventLotRow,
                PartyRow,
                CertificateRow,
            ):
                rows = self.rows.pop(table, [])
                if rows:
                    session.execute(insert(table), rows)


def _keyid(party: str) -> str:
    return hashlib.sha256(party.encode()).hexdigest()


def seed(store: Store, events: int, traders: int) -> list[str]:
    """The ledger; returns the traders' ids (the first is audited, the last oversells)."""
    s = _Seeder(store)
    names = [f"trader-{i}" for i in range(traders + 1)]
    for party in [COOP, ROASTER, CERTIFIER, *names]:
        s.add(
            PartyRow,
            id=party,
            name=party,
            roles="[]",
            country="PE",
            identifiers="{}",
            event="sha256:" + "0" * 64,
            time="2025-01-01T00:00:00.000000Z",
        )
    for party in [COOP, *names]:
        s.add(
            CertificateRow,
            id=f"SPP-{party}",
            certifier=CERTIFIER,
            subject=party,
            scheme="SPP",
            products='["coffee"]',
            valid_from="2025-01-01",
            valid_until="2027-12-31",
            event="sha256:" + "1" * 64,
            time="2025-01-01T00:00:00.000000Z",
            revoked_event=None,
            revoked_time=None,
            revoke_reason=None,
            voided_by=None,
        )
    rounds = max(events // 2, 1)
    step = timedelta(days=365) / rounds
    for r in range(rounds):
        when = START + step * r
        for t, trader in enumerate(names):
            at = when + timedelta(seconds=t)
            lot = f"{COOP}:{t}-{r}"
            harvest = s.event(
                COOP,
                "harvest",
                at,
                {
                    "lot": lot,
                    "product": "coffee",
                    "form": "green",
                    "quantity": "1000",
                    "unit": "kg",
                },
                [lot],
            )
            s.add(
                LotRow,
                id=lot,
                product="coffee",
                form="green",
                party=COOP,
                event=harvest,
                kind="harvest",
                kg=Decimal(1000),
                quantity="1000",
                unit="kg",
                member=None,
                plot=None,
                time=at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                voided_by=None,
            )
            ship = s.event(
                COOP,
                "ship",
                at + timedelta(minutes=1),
                {
                    "to": trader,
                    "claims": ["SPP"],
                    "lots": [{"lot": lot, "event": harvest, "quantity": "1000", "unit": "kg"}],
                },
                [lot],
            )
            s.add(
                ShipmentRow,
                id=ship,
                shipper=COOP,
                receiver=trader,
                time=(at + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                status="received",
                receive_event=None,
            )
            s.add(
                ShipmentLotRow, shipment=ship, lot=lot, kg=Decimal(1000), received_kg=Decimal(1000)
            )
            receipt = s.event(
                trader,
                "receive",
                at + timedelta(minutes=2),
                {"shipment": ship, "lots": [{"lot": lot, "quantity": "1000", "unit": "kg"}]},
                [lot],
            )
            sold = "1010" if t == traders and traders else "990"  # the last one oversells
            s.event(
                trader,
                "ship",
                at + timedelta(minutes=3),
                {
                    "to": ROASTER,
                    "claims": ["SPP"],
                    "lots": [{"lot": lot, "event": receipt, "quantity": sold, "unit": "kg"}],
                },
                [lot],
            )
    s.flush()
    return names


def _timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def _peak(fn: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _fetch_and_parse(store: Store, party: str) -> int:
    with store.reading() as session:
        rows = session.execute(
            select(EventRow.payload)
            .where(EventRow.party == party, EventRow.time < YEAR.end_utc)
            .order_by(EventRow.time, EventRow.index)
            .execution_options(yield_per=1000, stream_results=True)
        )
        return sum(1 for (payload,) in rows if json.loads(payload))


def run(store: Store, events: int, traders: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    names = seed(store, events, traders)
    seeded = time.perf_counter() - t0
    party = names[0]
    with store.reading() as session:
        total = session.scalar(select(func.count()).select_from(EventRow)) or 0
        own = (
            session.scalar(
                select(func.count()).select_from(EventRow).where(EventRow.party == party)
            )
            or 0
        )

    def count_party() -> int:
        with store.reading() as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(EventRow)
                    .where(
                        EventRow.party == party,
                        EventRow.time >= YEAR.start_utc,
                        EventRow.time < YEAR.end_utc,
                    )
                )
                or 0
            )

    def count_sweep() -> int:
        with store.reading() as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(EventRow)
                    .where(
                        EventRow.type.in_(("harvest", "receive", "ship")),
                        EventRow.time < YEAR.end_utc,
                    )
                )
                or 0
            )

    t_count, _ = _timed(count_party)
    t_parse, _ = _timed(lambda: _fetch_and_parse(store, party))
    t_report, report = _timed(lambda: mass_balance(store, party, "coffee", "SPP", YEAR), 2)
    mem_report = _peak(lambda: mass_balance(store, party, "coffee", "SPP", YEAR))
    t_scount, _ = _timed(count_sweep)
    t_sweep, swept = _timed(lambda: sweep(store, YEAR), 1)
    assert not report.in_deficit and len(report.lines) == own
    assert [e.party for e in swept.in_deficit] == ([names[-1]] if traders else [])
    return {
        "seeded_s": seeded,
        "ledger_events": total,
        "party_events": own,
        "count_s": t_count,
        "parse_s": t_parse,
        "report_s": t_report,
        "report_peak_bytes": mem_report,
        "sweep_count_s": t_scount,
        "sweep_s": t_sweep,
        "sweep_events": swept.events,
        "balances": len(swept.entries),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.mass_balance", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--events",
        type=int,
        default=20_000,
        help="events signed by the audited trader (default 20000)",
    )
    parser.add_argument(
        "--traders",
        type=int,
        default=4,
        help="other traders of the same size, for the sweep (default 4)",
    )
    parser.add_argument("--db", help="an EMPTY database URL (default: a temporary SQLite file)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(args.db or f"sqlite:///{Path(tmp) / 'mass-balance.db'}")
        store.migrate()
        try:
            out = run(store, args.events, args.traders)
        finally:
            store.dispose()
    for line in _lines(out, store.dialect):
        print(line)
    return 0


def _lines(o: dict[str, Any], dialect: str) -> Iterator[str]:
    yield (
        f"{dialect}: {o['ledger_events']} events seeded in {o['seeded_s']:.1f} s;"
        f" audited party: {o['party_events']} events in 2026"
    )
    per = o["report_s"] / max(o["party_events"], 1) * 1e6
    yield (
        f"report (year, one party):  {o['report_s']:.3f} s  ({per:.1f} µs/event,"
        f" {o['party_events'] / o['report_s']:,.0f} events/s)"
    )
    ratio, parse_ratio = o["report_s"] / o["count_s"], o["report_s"] / o["parse_s"]
    yield f"  baseline SELECT count(*): {o['count_s']:.4f} s   ratio {ratio:.0f}x"
    yield f"  baseline fetch+parse:     {o['parse_s']:.3f} s   ratio {parse_ratio:.1f}x"
    yield (
        f"  peak Python memory:       {o['report_peak_bytes'] / 2**20:.1f} MiB"
        f" ({o['report_peak_bytes'] / max(o['party_events'], 1):,.0f} B/event)"
    )
    yield (
        f"sweep (year, whole ledger): {o['sweep_s']:.3f} s over {o['sweep_events']}"
        f" events, {o['balances']} balances"
    )
    sweep_ratio = o["sweep_s"] / o["sweep_count_s"]
    yield f"  baseline SELECT count(*): {o['sweep_count_s']:.4f} s   ratio {sweep_ratio:.0f}x"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
