"""Private reads benchmark (issue 17): what the read policy costs a listing and a lookup.

    python -m benchmarks.reads [--quick] [--repeat 7]

Over the demo ledger (loaded once into a temporary SQLite file), through the Flask app:
``GET /api/v1/events?limit=1000`` paged to the end and ``GET /api/v1/events/{id}`` for
200 ids, as the operator (no filter: the baseline, measured in the same run), as a trader
signed in with a session (its own events and those naming it) and anonymously (public
types only). Printed: median time per page or lookup and the ratio to the operator's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

from benchmarks import _common as c
from fixtures.generator import demo_chain, party_key

TOKEN = "bench-operator"


def _sign_in(client: Any, key: Any) -> str:
    from ledger.envelope import SESSION_PAYLOAD_TYPE, keyid_of, session_statement, sign

    challenge = client.post("/api/v1/sessions/challenge").get_json()
    statement = session_statement(
        challenge["challenge"], challenge["ledger"], "localhost", keyid_of(key.public_key())
    )
    answer = client.post(
        "/api/v1/sessions", json=sign(statement, key, SESSION_PAYLOAD_TYPE).to_dict()
    )
    token: str = answer.get_json()["token"]
    return token


def _pages(client: Any, headers: dict[str, str]) -> tuple[float, int]:
    """Seconds per page of the whole listing, and how many events it held."""
    after, pages, events = -1, 0, 0
    start = time.perf_counter()
    while True:
        body = client.get(f"/api/v1/events?limit=1000&after={after}", headers=headers).get_json()
        pages, events = pages + 1, events + len(body["events"])
        if body["next_after"] is None:
            break
        after = body["next_after"]
    return (time.perf_counter() - start) / pages, events


def _lookups(client: Any, headers: dict[str, str], ids: list[str]) -> float:
    start = time.perf_counter()
    for event_id in ids:
        client.get(f"/api/v1/events/{event_id}", headers=headers)
    return (time.perf_counter() - start) / len(ids)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reads")
    parser.add_argument("--quick", action="store_true", help="3 repetitions")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    repeat = 3 if args.quick else args.repeat

    from ledger.checkpoint import NoteSigner

    chain = demo_chain()
    signer = NoteSigner("trazo/operator", chain.log_key)
    with c.demo_client(chain, TOKEN, log_signer=signer) as (_, client):
        trader = chain.facts.overselling_trader
        callers = {
            "operator": {"Authorization": f"Bearer {TOKEN}"},
            f"party ({trader})": {
                "Authorization": f"Bearer {_sign_in(client, party_key(chain.facts.seed, trader))}"
            },
            "anonymous": {},
        }
        ids = [e.id for e in chain.events[:: max(1, len(chain.events) // 200)]][:200]
        rows, figures = [], {}
        base_page = base_lookup = 0.0
        for name, headers in callers.items():
            page = statistics.median(_pages(client, headers)[0] for _ in range(repeat))
            held = _pages(client, headers)[1]
            lookup = statistics.median(_lookups(client, headers, ids) for _ in range(repeat))
            if name == "operator":
                base_page, base_lookup = page, lookup
            rows.append(
                [
                    name,
                    str(held),
                    c.ms(page),
                    f"{page / base_page:.2f} ×",
                    c.ms(lookup),
                    f"{lookup / base_lookup:.2f} ×",
                ]
            )
            figures[name] = {"events": held, "page_s": page, "lookup_s": lookup}
    print(f"demo ledger, {len(chain.events)} events; median of {repeat}")
    print(
        c.table(
            rows,
            ["caller", "events listed", "per page", "vs operator", "per lookup", "vs operator"],
        )
    )
    c.write_result("reads", figures, argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
