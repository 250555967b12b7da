"""Ingest benchmark: signed custody events posted in batches to a live ``trazo serve``.

Prints the ingest rate (events/s, end to end over HTTP) and, measured in the same run
on the same envelopes, the raw Ed25519 verification rate of one core; their ratio is
the figure to watch (target: ingest ≥ half of one core's verification rate).

    python -m benchmarks.ingest [--quick] [--events 20000] [--batch 1000] [--workers 2] [--db URL]

The mix follows a coffee chain, per round of ten events: four harvests, a dry-mill
transform of them, a shipment to an exporter and its receipt, a shipment on to a
roaster and its receipt, and a roast.
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
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from benchmarks._common import write_result
from ledger.envelope import PAYLOAD_TYPE, Envelope, b64encode, keyid_of, pae, raw_public_key
from ledger.genesis import initialize
from ledger.keys import load_private_key, public_key_from_raw
from ledger.signer import KeyChain
from ledger.store import Store

COOP, EXPORTER, ROASTER = "coop-pangoa", "andes-trading", "tostaduria"
MEMBERS = 20


def custody_mix(operator: KeyChain, events: int) -> list[Envelope]:
    """About ``events`` signed envelopes of a coffee chain, in an order the ledger accepts."""
    now = datetime.now(UTC).isoformat()
    keys = {p: Ed25519PrivateKey.generate() for p in (COOP, EXPORTER, ROASTER)}
    roles = {COOP: "spo", EXPORTER: "trader", ROASTER: "roaster"}
    out = [operator.sign({"type": "party.register", "time": now, "subject": p, "name": p,
                          "roles": [roles[p]], "country": "PE",
                          "public_key": b64encode(raw_public_key(k.public_key()))})
           for p, k in keys.items()]
    coop, exporter, roaster = (KeyChain(keys[p], p, ledger=operator.ledger)
                               for p in (COOP, EXPORTER, ROASTER))

    def sign(chain: KeyChain, body: dict[str, Any]) -> str:
        out.append(chain.sign({**body, "time": now}))
        return out[-1].id

    for m in range(MEMBERS):
        sign(coop, {"type": "member.enroll", "member": f"{COOP}:m-{m}", "products": ["coffee"],
                    "plots": [{"plot": f"{COOP}:p-{m}", "area_ha": "2.5"}],
                    "since": "2019-05-01"})
    r = 0
    while len(out) < events:
        harvests = []
        for i in range(4):
            m = (4 * r + i) % MEMBERS
            lot = f"{COOP}:h-{r}-{i}"
            harvests.append((lot, sign(coop, {
                "type": "harvest", "lot": lot, "product": "coffee", "form": "parchment",
                "quantity": "46", "unit": "kg", "member": f"{COOP}:m-{m}",
                "plot": f"{COOP}:p-{m}"})))
        green, roasted = f"{COOP}:g-{r}", f"{ROASTER}:r-{r}"
        milled = sign(coop, {"type": "transform", "process": "dry-mill",
                             "inputs": [_line(lot, e, "46") for lot, e in harvests],
                             "outputs": [_output(green, "green", "150")]})
        ship1 = sign(coop, {"type": "ship", "to": EXPORTER,
                            "lots": [_line(green, milled, "150")], "claims": ["SPP"],
                            "transactions": [{"type": "po", "id": f"PO-{r}"}]})
        got1 = sign(exporter, {"type": "receive", "shipment": ship1,
                               "lots": [{"lot": green, "quantity": "150", "unit": "kg"}]})
        ship2 = sign(exporter, {"type": "ship", "to": ROASTER,
                                "lots": [_line(green, got1, "150")]})
        got2 = sign(roaster, {"type": "receive", "shipment": ship2,
                              "lots": [{"lot": green, "quantity": "150", "unit": "kg"}]})
        sign(roaster, {"type": "transform", "process": "roast",
                       "inputs": [_line(green, got2, "150")],
                       "outputs": [_output(roasted, "roasted", "125")]})
        r += 1
    return out


def _line(lot: str, event: str, quantity: str) -> dict[str, str]:
    return {"lot": lot, "event": event, "quantity": quantity, "unit": "kg"}


def _output(lot: str, form: str, quantity: str) -> dict[str, str]:
    return {"lot": lot, "product": "coffee", "form": form, "quantity": quantity, "unit": "kg"}


def verifications_per_second(envelopes: list[Envelope], public_keys: dict[str, Any]) -> float:
    """Raw Ed25519 verifications/s on one core (messages prepared beforehand)."""
    work = [(public_keys[e.signature.keyid], e.signature.sig, pae(PAYLOAD_TYPE, e.payload))
            for e in envelopes]
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
        [sys.executable, "-c", "from api.cli import main; main()", "serve", "--db", db,
         "--keys", str(keys), "--port", "0", "--workers", str(workers), "--no-access-log"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    banner: list[str] = []
    reader = threading.Thread(target=lambda: banner.append(process.stdout.readline()),  # type: ignore[union-attr]
                              daemon=True)
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
    data = json.dumps({"events": [e.to_dict() for e in envelopes]},
                      separators=(",", ":")).encode()
    request = urllib.request.Request(url + "events", data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as e:
        raise SystemExit(f"batch rejected: {e.code} {e.read().decode()[:2000]}") from e


# --- the run ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 5000 events")
    parser.add_argument("--events", type=int, help="events posted (default 20000; quick 5000)")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--db", help="an empty database (default: a fresh SQLite file)")
    args = parser.parse_args(argv)
    args.events = args.events or (5000 if args.quick else 20_000)

    with tempfile.TemporaryDirectory(prefix="trazo-bench-") as tmp:
        db = args.db or f"sqlite:///{Path(tmp) / 'ledger.db'}"
        keys = Path(tmp) / "keys"
        store = Store(db)
        init = initialize(store, keys)
        store.dispose()
        operator = KeyChain(load_private_key(init.operator_key), "operator", seq=1,
                            prev=init.genesis_id, ledger=init.genesis_id)
        envelopes = custody_mix(operator, args.events)
        mix = Counter(json.loads(e.payload)["type"] for e in envelopes)
        verify_rate = verifications_per_second(envelopes, _public_keys(operator, envelopes))

        process, url = start_server(db, keys, args.workers)
        try:
            start = time.perf_counter()
            for i in range(0, len(envelopes), args.batch):
                post(url, envelopes[i:i + args.batch])
            elapsed = time.perf_counter() - start
        finally:
            stop_server(process)

    ingest_rate = len(envelopes) / elapsed
    print(f"events:  {len(envelopes)} ({', '.join(f'{t} {n}' for t, n in mix.most_common())})")
    print(f"server:  trazo serve --workers {args.workers}, {db.split(':', 1)[0]};"
          f" batches of {args.batch}")
    print(f"ingest:  {ingest_rate:,.0f} events/s ({elapsed:.2f} s)")
    print(f"verify:  {verify_rate:,.0f} Ed25519 verifications/s (one core)")
    print(f"ratio:   {ingest_rate / verify_rate:.3f} (target ≥ 0.5)")
    path = write_result("ingest", {
        "events": len(envelopes), "mix": dict(mix), "batch": args.batch,
        "workers": args.workers, "dialect": db.split(":", 1)[0], "seconds": elapsed,
        "ingest_events_per_s": ingest_rate, "ed25519_verifications_per_s": verify_rate,
        "ratio_to_ed25519": ingest_rate / verify_rate, "target_ratio": 0.5}, argv)
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
