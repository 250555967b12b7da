"""EPCIS benchmark (issue 19): what speaking EPCIS costs against trazo's own reads.

    python -m benchmarks.epcis [--quick] [--repeat 5]

Over the demo ledger (loaded once into a temporary SQLite file), as the operator, through
the Flask app: the whole ledger's custody events listed by ``GET /api/v1/events`` (the
baseline, measured in the same run) and by ``GET /api/v1/epcis/events`` (each event
mapped to EPCIS, its CBV 2.0 hash computed, the query filters applied); and, without
HTTP, one CBV 2.0 event hash against decoding the event's payload (``json.loads``).
Printed: the median time and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from typing import Any

from benchmarks import _common as c
from fixtures.generator import demo_chain

TOKEN = "bench-operator"
CUSTODY = ("harvest", "transform", "ship", "receive", "dispose", "void")


def _trazo_listing(client: Any, headers: dict[str, str]) -> int:
    count = 0
    for kind in CUSTODY:
        after = -1
        while True:
            url = f"/api/v1/events?limit=1000&after={after}&type={kind}"
            body = client.get(url, headers=headers).get_json()
            count += len(body["events"])
            if body["next_after"] is None:
                break
            after = body["next_after"]
    return count


def _epcis_listing(client: Any, headers: dict[str, str]) -> int:
    count, url = 0, "/api/v1/epcis/events?perPage=1000"
    while url:
        response = client.get(url, headers=headers)
        body = json.loads(response.get_data())
        count += len(body["epcisBody"]["queryResults"]["resultsBody"]["eventList"])
        link = response.headers.get("Link")
        url = link.split(">")[0].lstrip("<").removeprefix("http://localhost") if link else ""
    return count


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.epcis")
    parser.add_argument("--quick", action="store_true", help="3 repetitions")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    repeat = 3 if args.quick else args.repeat

    from graph.epcis.hashing import event_hash
    from graph.epcis.ledger import Exporter, naming_for
    from graph.epcis.mapping import CONTEXT
    from ledger.query import list_events

    chain = demo_chain()
    with c.demo_client(chain, TOKEN) as (store, client):
        headers = {"Authorization": f"Bearer {TOKEN}"}
        trazo = [c.timed(lambda: _trazo_listing(client, headers)) for _ in range(repeat)]
        epcis = [c.timed(lambda: _epcis_listing(client, headers)) for _ in range(repeat)]
        rows = [r for r in list_events(store, limit=10**6) if r.type in CUSTODY]
        exporter = Exporter(store, naming_for(store, "http://localhost"))
        events = [e for e in (exporter.event(r) for r in rows) if e is not None]
        decode = [c.timed(lambda: [json.loads(r.payload) for r in rows])[0] for _ in range(repeat)]
        hashing = [
            c.timed(lambda: [event_hash(e, CONTEXT) for e in events])[0] for _ in range(repeat)
        ]
    base_list = statistics.median(t for t, _ in trazo)
    epcis_list = statistics.median(t for t, _ in epcis)
    base_decode, hash_time = statistics.median(decode), statistics.median(hashing)
    n = len(events)
    table = [
        ["GET /api/v1/events (custody types)", str(trazo[0][1]), c.ms(base_list), "1.00 ×"],
        ["GET /api/v1/epcis/events", str(epcis[0][1]), c.ms(epcis_list),
         f"{epcis_list / base_list:.2f} ×"],
        ["json.loads(payload), per event", str(n), c.ms(base_decode / n), "1.00 ×"],
        ["CBV 2.0 event hash, per event", str(n), c.ms(hash_time / n),
         f"{hash_time / base_decode:.2f} ×"],
    ]  # fmt: skip
    print(f"demo ledger, {len(chain.events)} events ({n} custody events); median of {repeat}")
    print(c.table(table, ["what", "events", "time", "vs baseline"]))
    c.write_result(
        "epcis",
        {
            "events": n,
            "trazo_listing_s": base_list,
            "epcis_listing_s": epcis_list,
            "decode_per_event_s": base_decode / n,
            "hash_per_event_s": hash_time / n,
        },
        argv,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
