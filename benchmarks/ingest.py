"""Ingest benchmark: one core's raw Ed25519 verify rate, and the append rates against it.

Measured in one run, on the same generated envelopes (a coffee chain in two independent
streams — two cooperatives, each with its exporter and roaster):

- ``verify``      — raw Ed25519 verifications/s on one core (messages prepared before);
- ``in-process``  — ``append_batch`` of 1,000-event batches, one caller (target ≥ 0.5 ×);
- ``http``        — ``trazo serve --workers 2``, the two streams posted concurrently in
                    1,000-event batches, on SQLite and, with ``--postgres URL`` (or
                    ``TRAZO_BENCH_POSTGRES_URL``), on PostgreSQL (target ≥ 1.0 ×; two cores
                    bound it near 2 ×).

    python -m benchmarks.ingest [--quick] [--events 20000] [--batch 1000] [--workers 2]
                                [--postgres URL]
    python -m benchmarks.ingest --load 1000000   # the rate and memory as a ledger grows

Each stream's mix, per round of ten events: four harvests, a dry-mill transform of them,
a shipment to an exporter and its receipt, a shipment on to a roaster and its receipt,
and a roast. A PostgreSQL database given here is emptied first.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, text

from benchmarks._common import write_result
from ledger.append import append_batch
from ledger.envelope import PAYLOAD_TYPE, Envelope, b64encode, keyid_of, pae, raw_public_key
from ledger.genesis import initialize
from ledger.keys import load_private_key, public_key_from_raw
from ledger.log import load_signer, resolve_origin
from ledger.signer import KeyChain
from ledger.store import Store, normalize_url

COOP, EXPORTER, ROASTER = "coop-pangoa", "andes-trading", "tostaduria"
MEMBERS = 20


def custody_mix(
    operator: KeyChain, events: int, streams: int = 2
) -> tuple[list[Envelope], list[list[Envelope]]]:
    """About ``events`` signed envelopes in an order the ledger accepts: the parties'
    registrations and enrolments (``setup``), then ``streams`` independent chains."""
    now = datetime.now(UTC).isoformat()
    setup, chains = parties(operator, streams, now)
    per_stream = max(10, (events - len(setup)) // streams)
    return setup, [list(_stream(*trio, per_stream, now)) for trio in chains]


def parties(
    operator: KeyChain, streams: int, now: str
) -> tuple[list[Envelope], list[tuple[KeyChain, KeyChain, KeyChain]]]:
    """Per stream a cooperative (with its members), an exporter and a roaster: the
    events that register and enrol them, and their key chains."""
    setup: list[Envelope] = []
    chains = []
    for n in range(streams):
        names = (f"{COOP}-{n}", f"{EXPORTER}-{n}", f"{ROASTER}-{n}")
        keys = {p: Ed25519PrivateKey.generate() for p in names}
        for party, role in zip(names, ("spo", "trader", "roaster"), strict=True):
            setup.append(
                operator.sign(
                    {
                        "type": "party.register",
                        "time": now,
                        "subject": party,
                        "name": party,
                        "roles": [role],
                        "country": "PE",
                        "public_key": b64encode(raw_public_key(keys[party].public_key())),
                    }
                )
            )
        coop, exporter, roaster = (KeyChain(keys[p], p, ledger=operator.ledger) for p in names)
        chains.append((coop, exporter, roaster))
    for coop, _, _ in chains:
        for m in range(MEMBERS):
            setup.append(
                coop.sign(
                    {
                        "type": "member.enroll",
                        "member": f"{coop.party}:m-{m}",
                        "products": ["coffee"],
                        "plots": [{"plot": f"{coop.party}:p-{m}", "area_ha": "2.5"}],
                        "since": "2019-05-01",
                        "time": now,
                    }
                )
            )
    return setup, chains


def _stream(
    coop: KeyChain, exporter: KeyChain, roaster: KeyChain, events: int, now: str
) -> Iterator[Envelope]:
    """A cooperative's chain of rounds, signed as it is consumed (``events`` or more)."""
    out: list[Envelope] = []

    def sign(chain: KeyChain, body: dict[str, Any]) -> str:
        out.append(chain.sign({**body, "time": now}))
        return out[-1].id

    r = made = 0
    while made < events:
        harvests = []
        for i in range(4):
            m = (4 * r + i) % MEMBERS
            lot = f"{coop.party}:h-{r}-{i}"
            harvests.append(
                (
                    lot,
                    sign(
                        coop,
                        {
                            "type": "harvest",
                            "lot": lot,
                            "product": "coffee",
                            "form": "parchment",
                            "quantity": "46",
                            "unit": "kg",
                            "member": f"{coop.party}:m-{m}",
                            "plot": f"{coop.party}:p-{m}",
                        },
                    ),
                )
            )
        green, roasted = f"{coop.party}:g-{r}", f"{roaster.party}:r-{r}"
        milled = sign(
            coop,
            {
                "type": "transform",
                "process": "dry-mill",
                "inputs": [_line(lot, e, "46") for lot, e in harvests],
                "outputs": [_output(green, "green", "150")],
            },
        )
        ship1 = sign(
            coop,
            {
                "type": "ship",
                "to": exporter.party,
                "lots": [_line(green, milled, "150")],
                "claims": ["SPP"],
                "transactions": [{"type": "po", "id": f"PO-{r}"}],
            },
        )
        got1 = sign(
            exporter,
            {
                "type": "receive",
                "shipment": ship1,
                "lots": [{"lot": green, "quantity": "150", "unit": "kg"}],
            },
        )
        ship2 = sign(
            exporter, {"type": "ship", "to": roaster.party, "lots": [_line(green, got1, "150")]}
        )
        got2 = sign(
            roaster,
            {
                "type": "receive",
                "shipment": ship2,
                "lots": [{"lot": green, "quantity": "150", "unit": "kg"}],
            },
        )
        sign(
            roaster,
            {
                "type": "transform",
                "process": "roast",
                "inputs": [_line(green, got2, "150")],
                "outputs": [_output(roasted, "roasted", "125")],
            },
        )
        r += 1
        made += len(out)
        yield from out
        out.clear()


def _line(lot: str, event: str, quantity: str) -> dict[str, str]:
    return {"lot": lot, "event": event, "quantity": quantity, "unit": "kg"}


def _output(lot: str, form: str, quantity: str) -> dict[str, str]:
    return {"lot": lot, "product": "coffee", "form": form, "quantity": quantity, "unit": "kg"}


def verifications_per_second(envelopes: list[Envelope], public_keys: dict[str, Any]) -> float:
    """Raw Ed25519 verifications/s on one core (messages prepared beforehand)."""
    work = [
        (public_keys[e.signature.keyid], e.signature.sig, pae(PAYLOAD_TYPE, e.payload))
        for e in envelopes
    ]
    start = time.perf_counter()
    for key, sig, message in work:
        key.verify(sig, message)
    return len(work) / (time.perf_counter() - start)


def _public_keys(operator: KeyChain, envelopes: list[Envelope]) -> dict[str, Any]:
    """keyid → public key of every signer: the operator's and those registered in the mix."""
    found = {operator.keyid: operator.private_key.public_key()}
    for envelope in envelopes:
        body = json.loads(envelope.payload)
        if body["type"] == "party.register":
            raw = base64.b64decode(body["public_key"])
            found[keyid_of(raw)] = public_key_from_raw(raw)
    return found


# --- the server ------------------------------------------------------------------------------


def start_server(db: str, keys: Path, workers: int) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from api.cli.core import main; main()",
            "serve",
            "--db",
            db,
            "--keys",
            str(keys),
            "--port",
            "0",
            "--workers",
            str(workers),
            "--no-access-log",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    banner: list[str] = []
    reader = threading.Thread(
        target=lambda: banner.append(process.stdout.readline()),  # type: ignore[union-attr]
        daemon=True,
    )
    reader.start()
    reader.join(60)
    if not banner or " at " not in banner[0]:
        stop_server(process)
        raise SystemExit(f"trazo serve did not start: {banner}")
    return process, banner[0].rsplit(" at ", 1)[1].strip()


def stop_server(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def post(url: str, envelopes: list[Envelope]) -> Any:
    data = json.dumps({"events": [e.to_dict() for e in envelopes]}, separators=(",", ":")).encode()
    request = urllib.request.Request(
        url + "events", data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as e:
        raise SystemExit(f"batch rejected: {e.code} {e.read().decode()[:2000]}") from e


# --- the run ---------------------------------------------------------------------------------


def _fresh(db: str | None, tmp: Path, name: str) -> tuple[str, Path, KeyChain]:
    """An initialized ledger (a new SQLite file, or the PostgreSQL database emptied)."""
    if db is None:
        db = f"sqlite:///{tmp / name}.db"
    else:
        engine = create_engine(normalize_url(db))
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    keys = tmp / f"{name}-keys"
    store = Store(db)
    init = initialize(store, keys)
    store.dispose()
    return (
        db,
        keys,
        KeyChain(
            load_private_key(init.operator_key),
            "operator",
            seq=1,
            prev=init.genesis_id,
            ledger=init.genesis_id,
        ),
    )


def in_process(tmp: Path, events: int, batch: int) -> tuple[float, float, int]:
    """(append rate, this run's verify rate, events) for ``append_batch`` in-process."""
    db, _keys, operator = _fresh(None, tmp, "in-process")
    setup, streams = custody_mix(operator, events)
    envelopes = setup + [e for stream in streams for e in stream]
    verify_rate = verifications_per_second(envelopes, _public_keys(operator, envelopes))
    store = Store(db)
    try:
        start = time.perf_counter()
        for i in range(0, len(envelopes), batch):
            append_batch(store, envelopes[i : i + batch])
        elapsed = time.perf_counter() - start
    finally:
        store.dispose()
    return len(envelopes) / elapsed, verify_rate, len(envelopes)


def over_http(
    tmp: Path, db: str | None, events: int, batch: int, workers: int
) -> tuple[float, int, str]:
    """(ingest rate, events, dialect): the streams posted concurrently to ``trazo serve``."""
    url_db, keys, operator = _fresh(db, tmp, "http-" + ("sqlite" if db is None else "pg"))
    setup, streams = custody_mix(operator, events, streams=workers)
    process, url = start_server(url_db, keys, workers)
    try:
        start = time.perf_counter()
        post(url, setup)
        threads = [
            threading.Thread(target=_post_all, args=(url, stream, batch)) for stream in streams
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
    finally:
        stop_server(process)
    total = len(setup) + sum(len(s) for s in streams)
    return total / elapsed, total, url_db.split(":", 1)[0]


def load(tmp: Path, events: int, batch: int) -> dict[str, float]:
    """Load ``events`` in-process, as ``trazo serve`` appends (a signed checkpoint per
    batch), printing the rate and the resident memory as the ledger grows."""
    db, keys, operator = _fresh(None, tmp, "load")
    now = datetime.now(UTC).isoformat()
    setup, chains = parties(operator, 1, now)
    stream = _stream(*chains[0], events, now)
    store = Store(db)
    signer = load_signer(keys, resolve_origin(store, None))  # a checkpoint per batch
    done, mark, since, window = 0, 10_000, 0, time.perf_counter()
    figures: dict[str, float] = {}
    try:
        append_batch(store, setup, log_signer=signer)
        while done < events:
            chunk = list(islice(stream, batch))
            if not chunk:
                break
            append_batch(store, chunk, log_signer=signer)
            done += len(chunk)
            if done >= mark or done >= events:
                rate = (done - since) / (time.perf_counter() - window)
                rss = _rss_mb()
                print(
                    f"load: {done:>9,} events  {rate:,.0f} events/s since {since:,}"
                    f"  resident {rss:,.0f} MB",
                    flush=True,
                )
                figures.setdefault("rss_mb_at_10k", rss)
                figures.update(rss_mb_at_end=rss, events_per_s_at_end=rate)
                since, window = done, time.perf_counter()
                mark += 10_000 if done < 100_000 else 100_000
    finally:
        store.dispose()
    return figures


def _rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _post_all(url: str, envelopes: list[Envelope], batch: int) -> None:
    for i in range(0, len(envelopes), batch):
        post(url, envelopes[i : i + batch])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ingest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: 5000 events")
    parser.add_argument("--events", type=int, help="events per run (default 20000; quick 5000)")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--load",
        type=int,
        metavar="N",
        help="instead: load N events in-process (e.g. 1000000), printing the"
        " rate and the resident memory as the ledger grows",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("TRAZO_BENCH_POSTGRES_URL"),
        help="a PostgreSQL database to empty and ingest into as well",
    )
    args = parser.parse_args(argv)
    args.events = args.events or (5000 if args.quick else 20_000)

    if args.load:
        with tempfile.TemporaryDirectory(prefix="trazo-bench-") as tmp:
            figures = load(Path(tmp), args.load, args.batch)
        print(
            f"resident memory: {figures['rss_mb_at_end'] / figures['rss_mb_at_10k']:.2f} ×"
            " its size at 10,000 events (target ≤ 1.2 ×)"
        )
        print(f"results: {write_result('ingest_load', {'events': args.load, **figures}, argv)}")
        return 0
    results: dict[str, Any] = {"events": args.events, "batch": args.batch, "workers": args.workers}
    with tempfile.TemporaryDirectory(prefix="trazo-bench-") as tmp:
        rate, verify_rate, n = in_process(Path(tmp), args.events, args.batch)
        print(f"verify:      {verify_rate:,.0f} Ed25519 verifications/s (one core)")
        print(
            f"in-process:  {rate:,.0f} events/s ({n} events, batches of {args.batch})"
            f"  ratio {rate / verify_rate:.3f} (target ≥ 0.5)"
        )
        results.update(
            ed25519_verifications_per_s=verify_rate,
            in_process_events_per_s=rate,
            in_process_ratio=rate / verify_rate,
        )
        for db in [None, *([args.postgres] if args.postgres else [])]:
            rate, n, dialect = over_http(Path(tmp), db, args.events, args.batch, args.workers)
            print(
                f"http {dialect}: {rate:,.0f} events/s ({n} events, trazo serve --workers"
                f" {args.workers}, {args.workers} concurrent streams)"
                f"  ratio {rate / verify_rate:.3f} (target ≥ 1.0)"
            )
            results[f"http_{dialect}_events_per_s"] = rate
            results[f"http_{dialect}_ratio"] = rate / verify_rate
    path = write_result("ingest", results, argv)
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
