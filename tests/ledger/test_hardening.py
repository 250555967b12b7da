"""Holes found by a black-box attack run (issue 22), each as a test that failed before."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text

from ledger.append import Appended
from ledger.errors import IntegrityError
from ledger.rebuild import rebuild
from ledger.store import Store
from tests.graph import chains
from tests.support import World


def _sqlite_path(store: Store) -> str:
    return store.url.split("///", 1)[1]


def test_replace_into_cannot_rewrite_a_stored_event(sqlite_world: World) -> None:
    """Hole 5: on SQLite, REPLACE deletes the old row without firing the DELETE trigger."""
    world = sqlite_world
    world.register("coop-a", ["spo"])
    db = sqlite3.connect(_sqlite_path(world.store))
    row = db.execute(
        "SELECT idx, id, payload, envelope, type, party, keyid, seq, prev, time,"
        " recorded_at FROM events WHERE idx = 1"
    ).fetchone()
    forged = (*row[:10], "2000-01-01T00:00:00.000000Z")
    for verb in ("REPLACE INTO", "INSERT OR REPLACE INTO"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute(
                f"{verb} events (idx, id, payload, envelope, type, party, keyid, seq,"
                " prev, time, recorded_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                forged,
            )
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE events SET recorded_at = ? WHERE idx = 1", (forged[-1],))
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM events WHERE idx = 1")
    db.close()
    with world.store.reading() as session:
        assert (
            session.execute(text("SELECT recorded_at FROM events WHERE idx = 1")).scalar()
            == row[10]
        )


def _set_recorded_at(store: Store, index: int, value: str) -> None:
    """Alter a stored row the way an intruder who disables the triggers would."""
    with store.engine.begin() as conn:
        if store.dialect == "sqlite":
            conn.execute(text("DROP TRIGGER IF EXISTS events_no_update"))
        else:
            conn.execute(text("ALTER TABLE events DISABLE TRIGGER events_no_update_delete"))
        conn.execute(
            text("UPDATE events SET recorded_at = :v WHERE idx = :i"), {"v": value, "i": index}
        )


def _malformed_recorded_at(store: Store) -> None:
    _set_recorded_at(store, 1, "yesterday")


def test_rebuild_reports_a_malformed_recorded_at(world: World) -> None:
    """Hole 6: `trazo rebuild` crashed with a ValueError traceback."""
    world.register("coop-a", ["spo"])
    _malformed_recorded_at(world.store)
    with pytest.raises(IntegrityError, match="recorded_at") as err:
        rebuild(world.store)
    assert err.value.index == 1


def _inflate_holding(store: Store, lot: str, kg: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            text("UPDATE holdings SET kg = :kg, received_kg = :kg WHERE lot = :lot"),
            {"kg": kg, "lot": lot},
        )


def test_the_append_path_does_not_trust_an_inflated_holding(world: World) -> None:
    """Hole 5: a `holdings` row inflated in the database let a 500,000 kg shipment through."""
    from ledger.errors import IntegrityError as Integrity
    from tests.ledger.custody_support import COOP, EXPORTER, coffee_chain, line

    chain = coffee_chain(world)
    lot = f"{COOP}:h-1"
    via = chain.harvest(lot, "46")
    _inflate_holding(world.store, lot, "500000")
    size = world.store.size()
    with pytest.raises(Integrity, match="projections were altered"):
        world.append(
            world.sign(COOP, {"type": "ship", "to": EXPORTER, "lots": [line(lot, via, "500000")]})
        )
    assert world.store.size() == size


# --- hole 5: the audit misses nothing in the attack run's list --------------------------------


def _audited_chain(world: World) -> tuple[object, str, str]:
    """A coffee chain recorded with checkpoints: the clean ledger audits OK."""
    from ledger.audit import audit
    from tests.graph import chains

    c = chains.base(world)
    lot = f"{chains.COOP}:h-1"
    via = c.harvest(chains.COOP, lot, "46", chains.M1, chains.P1)
    c.move(chains.COOP, chains.EXPORTER, lot, via, "46")
    report = audit(world.store)
    assert report.ok, [str(f) for f in report.findings]
    return c, lot, via


def _checks(world: World) -> dict[str, list[str]]:
    from ledger.audit import audit

    report = audit(world.store)
    out: dict[str, list[str]] = {}
    for f in report.findings:
        out.setdefault(f.check, []).append(str(f))
    return out


def _sql(store: Store, sql: str, **params: object) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(sql), params)


def test_audit_finds_a_deleted_merkle_node(world: World) -> None:
    _audited_chain(world)
    _sql(world.store, "DELETE FROM merkle_nodes WHERE level = 0 AND idx = 3")
    found = _checks(world)
    assert any("level 0 are missing (first: index 3)" in m for m in found["merkle"])


def test_audit_finds_a_rule_breaking_event_inserted_directly(world: World) -> None:
    """Signed by the holder, refused by the append path, written with SQL."""
    from ledger.fields import utc_text
    from tests.graph import chains

    _c, lot, via = _audited_chain(world)
    envelope = world.sign(
        chains.EXPORTER,
        {
            "type": "ship",
            "to": chains.ROASTER,
            "claims": ["SPP"],
            "lots": [{"lot": lot, "event": via, "quantity": "500000", "unit": "kg"}],
        },
    )
    from ledger.payload import loads_strict

    body = loads_strict(envelope.payload)
    size = world.store.size()
    from datetime import UTC, datetime

    now = utc_text(datetime.now(UTC))
    _sql(
        world.store,
        "INSERT INTO events (idx, id, payload, envelope, type, party, keyid, seq, prev, time,"
        " recorded_at) VALUES (:idx, :id, :payload, :envelope, 'ship', :party, :keyid, :seq,"
        " :prev, :time, :rec)",
        idx=size,
        id=envelope.id,
        payload=envelope.payload,
        envelope=envelope.to_json(),
        party=chains.EXPORTER,
        keyid=body["key"],
        seq=body["seq"],
        prev=body["prev"],
        time=utc_text(datetime.fromisoformat(body["time"])),
        rec=now,
    )
    found = _checks(world)
    assert any(f"event {size} " in m and "does not pass on replay" in m for m in found["rules"]), (
        found
    )


def test_audit_finds_an_inflated_holding(world: World) -> None:
    _c, lot, _via = _audited_chain(world)
    _inflate_holding(world.store, lot, "500000")
    found = _checks(world)
    assert any("holdings row" in m and "500000" in m for m in found["projection"]), found


def test_audit_finds_a_changed_recorded_at(world: World) -> None:
    _audited_chain(world)
    _set_recorded_at(world.store, 5, "2001-01-01T00:00:00.000000Z")
    found = _checks(world)
    assert any(
        "event 5 " in m and "before the previous event" in m for m in found["recorded_at"]
    ), found


def test_audit_finds_a_malformed_recorded_at_without_a_traceback(world: World) -> None:
    _audited_chain(world)
    _malformed_recorded_at(world.store)
    found = _checks(world)
    assert any("'yesterday'" in m for m in found["recorded_at"]), found
    assert any("malformed recorded_at" in m for m in found["rules"]), found


def test_audit_finds_the_latest_checkpoint_deleted(world: World) -> None:
    _audited_chain(world)
    size = world.store.size()
    _sql(world.store, "DELETE FROM checkpoints WHERE size = :s", s=size)
    found = _checks(world)
    assert any(f"–{size - 1} are covered by no checkpoint" in m for m in found["checkpoint"]), found


# --- hole 1: an event is bound to its ledger ------------------------------------------------


def test_a_chain_cannot_be_replayed_into_another_ledger(world: World, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A party whose key is registered in two ledgers: its events from one are refused in
    the other, although the chain, the key and the quantities would all fit."""
    from ledger.errors import WrongLedger
    from tests.conftest import make_store
    from tests.ledger.custody_support import COOP, enroll_body, harvest_body

    other = World.create(make_store("sqlite", tmp_path / "other"), operator="operator-2")
    assert other.ledger != world.ledger
    for w in (world, other):
        w.register(COOP, ["spo"])
    envelopes = [
        world.sign(COOP, enroll_body(f"{COOP}:m-1", [(f"{COOP}:p-1", "2.0")])),
        world.sign(
            COOP, harvest_body(f"{COOP}:h-1", "46", member=f"{COOP}:m-1", plot=f"{COOP}:p-1")
        ),
    ]
    assert all(e.new for e in world.append(*envelopes).events)
    size = other.store.size()
    with pytest.raises(WrongLedger) as err:
        other.append(*envelopes)
    assert err.value.field == "ledger" and err.value.index == 0
    assert world.ledger in str(err.value) and str(other.ledger) in str(err.value)
    assert other.store.size() == size


def test_an_event_without_ledger_is_refused(world: World) -> None:
    from ledger.errors import WrongLedger
    from ledger.signer import KeyChain
    from tests.support import public_b64, seeded_key

    world.register("coop-a", ["spo"])
    unbound = KeyChain(seeded_key("coop-a"), "coop-a")  # signs no `ledger`
    envelope = unbound.sign(
        {
            "type": "key.add",
            "subject": "coop-a",
            "time": world.tick(),
            "public_key": public_b64(seeded_key("coop-a-2")),
        }
    )
    with pytest.raises(WrongLedger, match="names no ledger"):
        world.append(envelope)


def test_trazo_sign_needs_the_ledger_once_and_remembers_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from ledger.errors import InvalidEvent
    from ledger.keys import write_keypair
    from ledger.payload import loads_strict
    from ledger.signer import sign_payload

    write_keypair(tmp_path, "coop")
    raw = json.dumps(
        {
            "type": "dispose",
            "party": "coop",
            "time": "2026-03-01T10:00:00-05:00",
            "lot": "coop:l",
            "event": "sha256:" + "1" * 64,
            "quantity": "1",
            "unit": "kg",
            "reason": "x",
        }
    ).encode()
    with pytest.raises(InvalidEvent, match="--ledger") as err:
        sign_payload(raw, tmp_path / "coop.key")
    assert err.value.field == "ledger"
    ledger = "sha256:" + "a" * 64
    first = loads_strict(sign_payload(raw, tmp_path / "coop.key", ledger=ledger).payload)
    again = loads_strict(sign_payload(raw, tmp_path / "coop.key").payload)
    assert first["ledger"] == again["ledger"] == ledger


def test_a_stored_payload_with_a_forged_signature_is_not_confirmed(world: World) -> None:
    """Re-submitting a stored event is idempotent, but only with a signature that verifies:
    the ledger must not answer "already appended" to a forged envelope."""
    from ledger.append import append_batch
    from ledger.envelope import Envelope, Signature
    from ledger.errors import SignatureError

    chains.base(world)
    envelope = world.sign(
        chains.COOP,
        {
            "type": "harvest",
            "lot": f"{chains.COOP}:h-dup",
            "product": "coffee",
            "form": "parchment",
            "quantity": "10",
            "unit": "kg",
            "member": chains.M1,
            "plot": chains.P1,
        },
    )
    first = append_batch(world.store, [envelope]).events[0]
    assert append_batch(world.store, [envelope]).events[0] == Appended(
        first.id, first.index, new=False
    )
    forged = Envelope(envelope.payload, Signature(envelope.signature.keyid, bytes(64)))
    size = world.store.size()
    with pytest.raises(SignatureError) as info:
        append_batch(world.store, [forged])
    assert info.value.index == 0 and world.store.size() == size


def test_a_resubmission_gets_a_checkpoint_that_includes_it(world: World) -> None:
    """After appends that went unsigned (no log key), the newest stored checkpoint does not
    cover the re-submitted event: the ledger signs one of the whole log instead."""
    from ledger.append import append_batch
    from ledger.checkpoint import LogKey, NoteSigner

    signer = NoteSigner(chains.LOG_ORIGIN, chains.log_private())
    chains.base(world)  # appended without a log key: no checkpoint covers these
    envelope = world.sign(
        chains.COOP,
        {
            "type": "harvest",
            "lot": f"{chains.COOP}:h-late",
            "product": "coffee",
            "form": "parchment",
            "quantity": "5",
            "unit": "kg",
            "member": chains.M1,
            "plot": chains.P1,
        },
    )
    first = append_batch(world.store, [envelope])  # unsigned too
    again = append_batch(world.store, [envelope], log_signer=signer)
    assert again.events[0].new is False and again.checkpoint is not None
    opened = LogKey.load(signer.verifier_key()).open(again.checkpoint)  # checks the signature
    assert opened.size == world.store.size() > first.events[0].index
