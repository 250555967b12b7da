"""The outbox: a refused event is set aside, not a wedge; re-signing keeps references
right; two devices on one key end on one linear chain (issue 16).

Everything runs against a real ledger (``LocalLedger`` over the test store) with real
signatures; the server and the kill tests are in ``tests/api/test_outbox_cli.py``.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from ledger.audit import audit
from ledger.envelope import Envelope
from ledger.outbox import (
    BLOCKED,
    DROPPED,
    PENDING,
    REPLACED,
    SENT,
    SET_ASIDE,
    LocalLedger,
    Outbox,
    OutboxError,
)
from ledger.payload import loads_strict
from ledger.schema import EventRow
from tests.ledger.custody_support import COOP, Chain, coffee_chain, harvest_body, line, output
from tests.support import World, seeded_key


def key_file(folder: Path, party: str) -> Path:
    path = folder / f"{party}.key"
    path.write_bytes(
        seeded_key(party).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def coop_outbox(chain: Chain, folder: Path, name: str = "coop.outbox.db") -> Outbox:
    """The coop's outbox, its chain aligned with the ledger's head of the coop's key."""
    key = folder / f"{COOP}.key"
    if not key.exists():
        key_file(folder, COOP)
    box = Outbox(key, folder / name)
    box.resync(LocalLedger(chain.store))
    return box


def wet_mill(lot: str, event: str, into: str) -> dict[str, Any]:
    return {
        "type": "transform",
        "process": "wet-mill",
        "inputs": [line(lot, event, "100")],
        "outputs": [output(into, "parchment", "15")],
    }


def ledger_events(chain: Chain) -> list[dict[str, Any]]:
    with chain.store.reading() as session:
        rows = session.scalars(select(EventRow).order_by(EventRow.index)).all()
        return [dict(loads_strict(bytes(r.payload)), id=r.id) for r in rows]


def lots_of(events: list[dict[str, Any]]) -> Counter[str]:
    """How often each lot is created: by a harvest, or as a transform's output."""
    created: Counter[str] = Counter()
    for e in events:
        if e["type"] == "harvest":
            created[e["lot"]] += 1
        for out in e.get("outputs", []):
            created[out["lot"]] += 1
    return created


@pytest.fixture
def chain(world: World) -> Chain:
    return coffee_chain(world)


def test_twenty_queued_events_a_refusal_is_set_aside_and_fixed(
    chain: Chain, tmp_path: Path
) -> None:
    world, box = chain.world, coop_outbox(chain, tmp_path)
    lot = {n: f"{COOP}:l-{n}" for n in range(1, 21)}
    ids: dict[int, str] = {}

    def queue(n: int, body: dict[str, Any]) -> None:
        ids[n] = box.sign({**body, "time": world.tick()}, ledger=world.ledger).id

    for n in range(1, 21):
        if n == 7:  # a typo'd unit: the ledger refuses it
            queue(n, harvest_body(lot[n], "100", unit="kgs"))
        elif n == 8:  # depends on 7
            queue(n, wet_mill(lot[7], ids[7], lot[n]))
        elif n == 13:  # depends on 9, which is re-signed when 7 is set aside
            queue(n, wet_mill(lot[9], ids[9], lot[n]))
        elif n == 14:  # depends on 8, so on 7 through it
            queue(
                n,
                {
                    "type": "transform",
                    "process": "dry-mill",
                    "inputs": [line(lot[8], ids[8], "15")],
                    "outputs": [output(lot[n], "green", "12")],
                },
            )
        else:
            queue(n, harvest_body(lot[n], "100"))
    before = len(ledger_events(chain))

    done = box.submit(LocalLedger(chain.store), batch_size=5)

    status = {n: box.entry(ids[n]).status if n <= 6 else None for n in ids}
    assert all(status[n] == SENT for n in range(1, 7))  # 1–6 land as they were signed
    aside = box.entry(ids[7])
    assert aside.status == SET_ASIDE and "unit" in (aside.reason or "")
    assert [e.id for e in done.set_aside] == [ids[7]]
    by_lot = {e.payload.get("lot") or e.payload["outputs"][0]["lot"]: e for e in box.entries()}
    assert by_lot[lot[8]].status == BLOCKED and by_lot[lot[14]].status == BLOCKED
    assert ids[7][:19] in (by_lot[lot[8]].reason or "")
    independent = [n for n in range(9, 21) if n not in (13, 14)]
    assert all(by_lot[lot[n]].status == SENT for n in [*independent, 13])
    assert all(by_lot[lot[n]].id != ids[n] for n in independent)  # re-signed onto the head
    landed = {e["id"]: e for e in ledger_events(chain)}
    milled = landed[by_lot[lot[13]].id]
    assert milled["inputs"][0]["event"] == by_lot[lot[9]].id  # the reference was rewritten
    assert len(landed) == before + 17

    fixed = box.replace(ids[7], harvest_body(lot[7], "100"))
    assert box.entry(ids[7]).status == REPLACED
    assert box.entry(fixed.id).status == PENDING
    box.submit(LocalLedger(chain.store))

    assert not box.entries(PENDING, SET_ASIDE, BLOCKED)
    events = ledger_events(chain)
    assert len(events) == before + 20
    created = lots_of(events)
    assert all(created[lot[n]] == 1 for n in range(1, 21)), created
    landed = {e["id"]: e for e in events}
    eight = next(e for e in events if e.get("outputs", [{}])[0].get("lot") == lot[8])
    fourteen = next(e for e in events if e.get("outputs", [{}])[0].get("lot") == lot[14])
    assert eight["inputs"][0]["event"] == fixed.id
    assert fourteen["inputs"][0]["event"] == eight["id"]
    assert ids[7] not in landed
    report = audit(chain.store)
    assert report.ok, report.findings


def test_dropping_a_refused_event_says_what_it_leaves_blocked(chain: Chain, tmp_path: Path) -> None:
    world, box = chain.world, coop_outbox(chain, tmp_path)
    bad = box.sign(
        {**harvest_body(f"{COOP}:x", "1", unit="kgs"), "time": world.tick()}, ledger=world.ledger
    )
    needs = box.sign({**wet_mill(f"{COOP}:x", bad.id, f"{COOP}:y"), "time": world.tick()})
    free = box.sign({**harvest_body(f"{COOP}:z", "5"), "time": world.tick()})
    box.submit(LocalLedger(chain.store))
    assert box.entry(bad.id).status == SET_ASIDE and box.entry(needs.id).status == BLOCKED
    blocked = box.drop(bad.id)
    assert [e.id for e in blocked] == [needs.id]
    assert box.entry(bad.id).status == DROPPED
    assert box.entry(needs.id).status == BLOCKED  # for good: what it names will never come
    assert box.entry(free.id).status == SENT
    with pytest.raises(OutboxError, match="not set aside"):
        box.replace(needs.id, harvest_body(f"{COOP}:y", "1"))


def test_a_second_device_on_the_same_key_ends_on_one_linear_chain(
    chain: Chain, tmp_path: Path
) -> None:
    world = chain.world
    first = coop_outbox(chain, tmp_path, "first.outbox.db")
    second = coop_outbox(chain, tmp_path, "second.outbox.db")
    for n in range(10):
        first.sign(
            {**harvest_body(f"{COOP}:a-{n}", "10"), "time": world.tick()}, ledger=world.ledger
        )
        second.sign(
            {**harvest_body(f"{COOP}:b-{n}", "10"), "time": world.tick()}, ledger=world.ledger
        )
    first.submit(LocalLedger(chain.store), batch_size=3)
    second.submit(LocalLedger(chain.store), batch_size=3)  # conflicts, re-signs, lands
    for n in range(10, 30):  # and now both at once, from two threads
        first.sign({**harvest_body(f"{COOP}:a-{n}", "10"), "time": world.tick()})
        second.sign({**harvest_body(f"{COOP}:b-{n}", "10"), "time": world.tick()})
    for box in (first, second):  # each thread opens its own connection to its outbox
        box.close()
    errors: list[BaseException] = []

    def run(path: str) -> None:
        try:
            with Outbox(tmp_path / f"{COOP}.key", tmp_path / path) as box:
                for _ in range(20):  # the other device keeps moving the head
                    try:
                        box.submit(LocalLedger(chain.store), batch_size=2)
                        return
                    except Exception as e:
                        if "Chain conflict" not in str(e) and "chain" not in str(e):
                            raise
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [
        threading.Thread(target=run, args=(p,)) for p in ("first.outbox.db", "second.outbox.db")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for path in ("first.outbox.db", "second.outbox.db"):
        with Outbox(tmp_path / f"{COOP}.key", tmp_path / path) as box:
            assert not box.entries(PENDING, SET_ASIDE, BLOCKED)
    mine = [e for e in ledger_events(chain) if e["party"] == COOP]
    assert [e["seq"] for e in mine] == list(range(1, len(mine) + 1))
    assert all(e["prev"] == p["id"] for p, e in itertools.pairwise(mine))
    created = lots_of(mine)
    assert sorted(created) == sorted(
        [f"{COOP}:a-{n}" for n in range(30)] + [f"{COOP}:b-{n}" for n in range(30)]
    )
    assert set(created.values()) == {1}
    assert audit(chain.store).ok


def test_resync_never_signs_twice_what_the_ledger_already_holds(
    chain: Chain, tmp_path: Path
) -> None:
    """A batch was appended but its answer was lost: resync marks it sent."""
    world, box = chain.world, coop_outbox(chain, tmp_path)
    envelopes = [
        box.sign({**harvest_body(f"{COOP}:r-{n}", "10"), "time": world.tick()}, ledger=world.ledger)
        for n in range(3)
    ]
    LocalLedger(chain.store).append([e.to_dict() for e in envelopes[:2]])  # answer "lost"
    assert box.resync(LocalLedger(chain.store)) == 0
    assert [box.entry(e.id).status for e in envelopes] == [SENT, SENT, PENDING]
    box.submit(LocalLedger(chain.store))
    assert lots_of(ledger_events(chain))[f"{COOP}:r-2"] == 1


def test_a_refusal_found_by_the_dry_run_queues_nothing(chain: Chain, tmp_path: Path) -> None:
    from ledger.outbox import Refusal

    world, box = chain.world, coop_outbox(chain, tmp_path)
    head = box.head()
    with pytest.raises(Refusal, match="Invalid event: field 'unit': unknown unit 'kgs'"):
        box.sign(
            {**harvest_body(f"{COOP}:d", "10", unit="kgs"), "time": world.tick()},
            ledger=world.ledger,
            check=LocalLedger(chain.store),
        )
    assert box.head() == head and box.entries(PENDING) == []
    ok = box.sign(
        {**harvest_body(f"{COOP}:d", "10"), "time": world.tick()},
        ledger=world.ledger,
        check=LocalLedger(chain.store),
    )
    assert box.entries(PENDING)[0].id == ok.id


def test_an_outbox_belongs_to_one_key(chain: Chain, tmp_path: Path) -> None:
    coop_outbox(chain, tmp_path).close()
    other = key_file(tmp_path, "someone-else")
    with pytest.raises(OutboxError, match="is the outbox of key"):
        Outbox(other, tmp_path / "coop.outbox.db")


def test_every_envelope_in_the_outbox_is_what_it_says(chain: Chain, tmp_path: Path) -> None:
    world, box = chain.world, coop_outbox(chain, tmp_path)
    box.sign({**harvest_body(f"{COOP}:v", "1"), "time": world.tick()}, ledger=world.ledger)
    for entry in box.entries():
        envelope = Envelope.from_json(entry.envelope)
        assert envelope.id == entry.id
        assert json.loads(envelope.payload)["seq"] == entry.seq


def test_a_pending_event_is_not_dropped_it_may_be_in_the_ledger(
    chain: Chain, tmp_path: Path
) -> None:
    w, box = chain.world, coop_outbox(chain, tmp_path)
    a = box.sign({**harvest_body(f"{COOP}:a", "100"), "time": w.tick()}, ledger=w.ledger)
    LocalLedger(chain.store).append([json.loads(box.entry(a.id).envelope)])  # answer lost
    with pytest.raises(OutboxError, match="may already be in the ledger"):
        box.drop(a.id)
    box.submit(LocalLedger(chain.store))
    assert box.entry(a.id).status == SENT
    assert lots_of(ledger_events(chain))[f"{COOP}:a"] == 1


def test_a_lost_answer_then_another_device_signs_nothing_twice(
    chain: Chain, tmp_path: Path
) -> None:
    """Found by review: the landed event was re-signed onto the other device's head."""
    w = chain.world
    first = coop_outbox(chain, tmp_path, "first.outbox.db")
    second = coop_outbox(chain, tmp_path, "second.outbox.db")
    h = first.sign({**harvest_body(f"{COOP}:x", "100"), "time": w.tick()}, ledger=w.ledger)
    m = first.sign({**wet_mill(f"{COOP}:x", h.id, f"{COOP}:m"), "time": w.tick()})
    first.sign({**harvest_body(f"{COOP}:y", "5"), "time": w.tick()})
    LocalLedger(chain.store).append([json.loads(first.entry(i).envelope) for i in (h.id, m.id)])
    second.resync(LocalLedger(chain.store))
    second.sign({**harvest_body(f"{COOP}:z", "5"), "time": w.tick()}, ledger=w.ledger)
    second.submit(LocalLedger(chain.store))
    first.submit(LocalLedger(chain.store))  # h and m landed unseen; y conflicts with z
    created = lots_of(ledger_events(chain))
    assert [created[f"{COOP}:{lot}"] for lot in "xmyz"] == [1, 1, 1, 1]
    assert first.entry(h.id).id == h.id and first.entry(m.id).id == m.id  # never re-signed
    assert audit(chain.store).ok


def test_a_second_fix_after_another_device_moved_the_head(chain: Chain, tmp_path: Path) -> None:
    w, box = chain.world, coop_outbox(chain, tmp_path)
    bad = box.sign(
        {**harvest_body(f"{COOP}:x", "1", unit="kgs"), "time": w.tick()}, ledger=w.ledger
    )
    box.sign({**wet_mill(f"{COOP}:x", bad.id, f"{COOP}:y"), "time": w.tick()})
    box.submit(LocalLedger(chain.store))
    first_fix = box.replace(bad.id, harvest_body(f"{COOP}:x", "1", unit="kgz"))  # wrong again
    box.submit(LocalLedger(chain.store))
    assert box.entry(first_fix.id).status == SET_ASIDE
    other = coop_outbox(chain, tmp_path, "other.outbox.db")
    other.sign({**harvest_body(f"{COOP}:o", "5"), "time": w.tick()}, ledger=w.ledger)
    other.submit(LocalLedger(chain.store))
    second_fix = box.replace(first_fix.id, harvest_body(f"{COOP}:x", "100"))
    box.submit(LocalLedger(chain.store))  # a chain conflict on the way: re-signed, sent
    assert not box.entries(PENDING, SET_ASIDE, BLOCKED)
    events = ledger_events(chain)
    x = next(e for e in events if e.get("lot") == f"{COOP}:x")
    y = next(e for e in events if e.get("outputs", [{}])[0].get("lot") == f"{COOP}:y")
    assert y["inputs"][0]["event"] == x["id"] == box.current_id(second_fix.id)
    assert lots_of(events)[f"{COOP}:x"] == 1
    assert audit(chain.store).ok


def test_the_same_payload_signed_twice_does_not_wedge_the_queue(
    chain: Chain, tmp_path: Path
) -> None:
    """Found by review: re-signing the twin gave the refused one's very bytes."""
    w, box = chain.world, coop_outbox(chain, tmp_path)
    twice = {**harvest_body(f"{COOP}:w", "3", unit="qq"), "time": w.tick()}
    first = box.sign(twice, ledger=w.ledger)
    second = box.sign(twice)
    after = box.sign({**harvest_body(f"{COOP}:ok", "3"), "time": w.tick()})
    box.submit(LocalLedger(chain.store))
    assert box.entry(first.id).status == SET_ASIDE
    assert box.entry(second.id).status == DROPPED  # its twin is the set-aside one
    assert box.current_id(second.id) == first.id
    assert box.entry(after.id).status == SENT
    fixed = box.replace(first.id, {**twice, "unit": "kg"})
    with pytest.raises(OutboxError, match="replaced, not set aside"):
        box.replace(first.id, {**twice, "unit": "kg"})
    box.submit(LocalLedger(chain.store))
    assert box.entry(fixed.id).status == SENT
    assert lots_of(ledger_events(chain))[f"{COOP}:w"] == 1


def test_restarting_the_chain_under_waiting_events_is_refused(chain: Chain, tmp_path: Path) -> None:
    """Found by review: `--seq/--prev` with events pending forked the outbox's chain."""
    w, box = chain.world, coop_outbox(chain, tmp_path)
    box.sign({**harvest_body(f"{COOP}:p", "3"), "time": w.tick()}, ledger=w.ledger)
    with pytest.raises(OutboxError, match="would fork it"):
        box.sign({**harvest_body(f"{COOP}:q", "3"), "time": w.tick()}, head=(7, None))


def test_the_dry_run_does_not_refuse_a_good_event_for_a_moved_head(
    chain: Chain, tmp_path: Path
) -> None:
    """Found by review: a second device's sign --server refused a good event."""
    w = chain.world
    first = coop_outbox(chain, tmp_path, "first.outbox.db")
    second = coop_outbox(chain, tmp_path, "second.outbox.db")
    first.sign({**harvest_body(f"{COOP}:f", "3"), "time": w.tick()}, ledger=w.ledger)
    first.submit(LocalLedger(chain.store))
    good = second.sign(
        {**harvest_body(f"{COOP}:g", "3"), "time": w.tick()},
        ledger=w.ledger,
        check=LocalLedger(chain.store),
    )
    assert second.unchecked and "moved on" in second.unchecked
    second.submit(LocalLedger(chain.store))
    assert second.entry(good.id).status == SENT


def test_review_a_time_without_offset_is_set_aside_not_a_wedge(
    chain: Chain, tmp_path: Path
) -> None:
    w, box = chain.world, coop_outbox(chain, tmp_path)
    box.sign({**harvest_body(f"{COOP}:n1", "3", unit="qq"), "time": w.tick()}, ledger=w.ledger)
    naive = box.sign({**harvest_body(f"{COOP}:n2", "3"), "time": "2026-03-02T08:00:00"})
    box.submit(LocalLedger(chain.store), batch_size=1)  # no TypeError while re-signing
    assert box.entry(naive.id).status == SET_ASIDE  # the ledger's own refusal: no offset


def test_review_a_refusal_about_the_key_stops_and_sets_nothing_aside(
    chain: Chain, tmp_path: Path
) -> None:
    from ledger.outbox import Refusal

    w = chain.world
    stranger = Outbox(key_file(tmp_path, "nobody"))
    for n in range(3):
        stranger.sign(
            {**harvest_body(f"{COOP}:s{n}", "1"), "party": COOP, "time": w.tick()},
            ledger=w.ledger,
        )
    with pytest.raises(Refusal, match="Unknown key"):
        stranger.submit(LocalLedger(chain.store))
    assert [e.status for e in stranger.entries()] == [PENDING] * 3


def test_review_sign_follows_renames_and_refuses_to_name_a_set_aside_event(
    chain: Chain, tmp_path: Path
) -> None:
    w, box = chain.world, coop_outbox(chain, tmp_path)
    bad = box.sign({**harvest_body(f"{COOP}:b", "3", unit="qq"), "time": w.tick()}, ledger=w.ledger)
    moved = box.sign({**harvest_body(f"{COOP}:m", "100"), "time": w.tick()})
    box.submit(LocalLedger(chain.store))  # bad set aside, moved re-signed
    with pytest.raises(OutboxError, match="replace"):
        box.sign({**wet_mill(f"{COOP}:b", bad.id, f"{COOP}:b2"), "time": w.tick()})
    milled = box.sign({**wet_mill(f"{COOP}:m", moved.id, f"{COOP}:m2"), "time": w.tick()})
    assert milled.id == box.entries(PENDING)[-1].id
    assert loads_strict(milled.payload)["inputs"][0]["event"] == box.current_id(moved.id)
    box.submit(LocalLedger(chain.store))
    assert box.entry(milled.id).status == SENT
