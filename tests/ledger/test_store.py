"""The store and the append pipeline on both databases: append-only, atomic, idempotent,
chained, and the key rules (who may register, add, revoke and sign)."""

from __future__ import annotations

import hashlib
import json
import os
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from ledger.append import append_batch, append_one
from ledger.envelope import Envelope, Signature, keyid_of
from ledger.errors import (
    ChainConflict,
    ClientError,
    DuplicateId,
    InvalidEvent,
    KeyRevoked,
    NotAuthorized,
    SignatureError,
    StoreError,
    TimeError,
    UnknownKey,
    UnknownReference,
)
from ledger.genesis import AlreadyInitialized, initialize
from ledger.rules.party_register import gs1_check_digit_ok
from ledger.schema import KeyRow
from ledger.signer import KeyChain
from ledger.store import Store
from tests.support import World, public_b64, seeded_key

# --- helpers ------------------------------------------------------------------------------


def _tables(store: Store) -> list[str]:
    names = inspect(store.engine).get_table_names()
    return sorted(n for n in names if n != "alembic_version")


def snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every ledger table (events and projections), in a stable order."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with store.engine.connect() as conn:
        for table in _tables(store):
            rows = conn.execute(text(f'SELECT * FROM "{table}"')).all()
            out[table] = sorted(
                (tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in rows),
                key=repr,
            )
    return out


def key_row(store: Store, keyid: str) -> KeyRow | None:
    with store.reading() as session:
        return session.get(KeyRow, keyid)


def fresh_key(name: str) -> Ed25519PrivateKey:
    return seeded_key(f"fresh:{name}")


def key_add(
    world: World, signer: str, subject: str, key: Ed25519PrivateKey, **extra: Any
) -> Envelope:
    return world.sign(
        signer, {"type": "key.add", "subject": subject, "public_key": public_b64(key), **extra}
    )


def chain_for(key: Ed25519PrivateKey, party: str, world: World) -> KeyChain:
    """A signer continuing ``key``'s chain from the head the ledger holds."""
    row = key_row(world.store, keyid_of(key.public_key()))
    seq, prev = (row.head_seq, row.head_event) if row else (0, None)
    return KeyChain(key, party, seq=seq, prev=prev, ledger=world.ledger)


def rejected(
    world: World,
    envelope: Envelope,
    error: type[ClientError],
    field: str | None,
    fragment: str,
    **kwargs: Any,
) -> ClientError:
    """Append must refuse ``envelope`` with this error, and leave the ledger unchanged."""
    before = snapshot(world.store)
    with pytest.raises(error) as err:
        append_batch(world.store, [envelope], **kwargs)
    assert type(err.value) is error
    assert err.value.field == field
    assert fragment in err.value.message, err.value.message
    assert err.value.index == 0
    assert snapshot(world.store) == before
    return err.value


# --- the database refuses edits ------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE events SET party = 'mallory' WHERE idx = 1",
        "UPDATE events SET payload = payload",
        "UPDATE events SET idx = idx + 100 WHERE idx = 1",
        "DELETE FROM events WHERE idx = 1",
        "DELETE FROM events",
    ],
)
def test_events_refuse_update_and_delete(world: World, sql: str) -> None:
    world.register("coop-pangoa", ["spo"])
    before = snapshot(world.store)
    with pytest.raises(DBAPIError) as err, world.store.engine.begin() as conn:
        conn.execute(text(sql))
    assert "append-only" in str(err.value)
    assert snapshot(world.store) == before
    assert world.store.size() == 2


def test_events_refuse_truncate_on_postgres(world: World) -> None:
    if world.store.dialect != "postgresql":
        pytest.skip("TRUNCATE is a PostgreSQL statement (SQLite has DELETE only)")
    world.register("coop-pangoa", ["spo"])
    before = snapshot(world.store)
    with pytest.raises(DBAPIError) as err, world.store.engine.begin() as conn:
        conn.execute(text("TRUNCATE events"))
    assert "append-only" in str(err.value)
    assert snapshot(world.store) == before


def test_the_refusal_does_not_block_later_appends(world: World) -> None:
    with pytest.raises(DBAPIError), world.store.engine.begin() as conn:
        conn.execute(text("DELETE FROM events"))
    result = world.append(world.register_envelope("coop-pangoa", ["spo"]))
    assert [(e.index, e.new) for e in result.events] == [(1, True)]


# --- a batch is one transaction ------------------------------------------------------------


def _bad_last(world: World, kind: str) -> Envelope:
    if kind == "chain-gap":
        world.operator.seq += 1
        return world.operator.sign(
            {
                "type": "key.add",
                "subject": "coop-pangoa",
                "time": world.tick(),
                "public_key": public_b64(fresh_key("gap")),
            }
        )
    if kind == "signature":
        good = key_add(world, "coop-pangoa", "coop-pangoa", fresh_key("sig"))
        other = seeded_key("coop-pangoa").sign(b"something else")
        return Envelope(good.payload, Signature(good.signature.keyid, other))
    if kind == "duplicate-party":
        return world.register_envelope("coop-pangoa", ["spo"])
    if kind == "not-authorized":
        return key_add(world, "andes-trading", "coop-pangoa", fresh_key("third"))
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("chain-gap", ChainConflict),
        ("signature", SignatureError),
        ("duplicate-party", DuplicateId),
        ("not-authorized", NotAuthorized),
    ],
)
def test_batch_with_a_bad_last_event_leaves_the_ledger_unchanged(
    world: World, kind: str, error: type[ClientError]
) -> None:
    world.register("coop-pangoa", ["spo"])
    before = snapshot(world.store)
    size = world.store.size()
    good = [
        world.register_envelope("andes-trading", ["trader"]),  # new party and key
        key_add(world, "coop-pangoa", "coop-pangoa", fresh_key("a")),  # coop key head 1
        key_add(world, "coop-pangoa", "coop-pangoa", fresh_key("b")),  # coop key head 2
        key_add(world, "operator", "coop-pangoa", fresh_key("c")),  # operator head moves
    ]
    bad = _bad_last(world, kind)
    with pytest.raises(error) as err:
        world.append(*good, bad)
    assert err.value.index == len(good)
    after = snapshot(world.store)
    assert after == before  # events, parties, keys (every head_seq/head_event), meta, …
    assert world.store.size() == size
    assert len(after["events"]) == size
    assert "andes-trading" not in {row[0] for row in after["parties"]}
    # The good prefix, submitted alone, goes in from the same index: nothing was left over.
    result = world.append(*good)
    assert [e.index for e in result.events] == list(range(size, size + len(good)))
    assert all(e.new for e in result.events)


def test_batch_with_a_bad_first_event_appends_nothing(world: World) -> None:
    before = snapshot(world.store)
    bad = world.register_envelope("operator", ["spo"])  # the operator again: duplicate
    with pytest.raises(DuplicateId) as err:
        world.append(bad, world.register_envelope("coop-pangoa", ["spo"]))
    assert err.value.index == 0
    assert snapshot(world.store) == before


# --- idempotent re-submission --------------------------------------------------------------


def test_resubmitting_a_stored_envelope_returns_it(world: World) -> None:
    env = world.register_envelope("coop-pangoa", ["spo"])
    first = world.append(env).events[0]
    assert (first.index, first.new, first.id) == (1, True, env.id)
    world.register("andes-trading", ["trader"])  # the operator's chain moves on
    before = snapshot(world.store)
    again = world.append(env)
    assert again.events[0].id == env.id
    assert again.events[0].index == 1
    assert again.events[0].new is False
    assert again.created is False
    assert again.size == 3
    assert snapshot(world.store) == before
    # as a dict, the way it travels, too
    assert append_one(world.store, env.to_dict()).index == 1


def test_duplicate_within_one_batch_is_appended_once(world: World) -> None:
    env = world.register_envelope("coop-pangoa", ["spo"])
    result = world.append(env, env)
    assert [(e.id, e.index, e.new) for e in result.events] == [
        (env.id, 1, True),
        (env.id, 1, False),
    ]
    assert result.size == world.store.size() == 2
    assert result.created is True


def test_batch_mixing_stored_and_new_events(world: World) -> None:
    coop = world.register_envelope("coop-pangoa", ["spo"])
    world.append(coop)
    trader = world.register_envelope("andes-trading", ["trader"])
    result = world.append(coop, trader)
    assert [(e.index, e.new) for e in result.events] == [(1, False), (2, True)]
    assert result.size == 3


# --- the per-key hash chain ---------------------------------------------------------------


def test_chain_gap_is_a_conflict(world: World) -> None:
    world.register("coop-pangoa", ["spo"])
    first = world.record(
        "coop-pangoa",
        {"type": "key.add", "subject": "coop-pangoa", "public_key": public_b64(fresh_key("1"))},
    )
    world.chains["coop-pangoa"].seq += 1  # skip seq 2
    env = key_add(world, "coop-pangoa", "coop-pangoa", fresh_key("2"))
    err = rejected(world, env, ChainConflict, "seq", "expected seq 2")
    assert err.details == {"expected_seq": 2, "expected_prev": first}


def test_fork_second_event_with_the_same_seq_is_a_conflict(world: World) -> None:
    world.register("coop-pangoa", ["spo"])
    key = seeded_key("coop-pangoa")
    a = KeyChain(key, "coop-pangoa", ledger=world.ledger).sign(
        {
            "type": "key.add",
            "subject": "coop-pangoa",
            "time": world.tick(),
            "public_key": public_b64(fresh_key("a")),
        }
    )
    b = KeyChain(key, "coop-pangoa", ledger=world.ledger).sign(
        {
            "type": "key.add",
            "subject": "coop-pangoa",
            "time": world.tick(),
            "public_key": public_b64(fresh_key("b")),
        }
    )
    assert a.id != b.id
    assert world.append(a).events[0].new
    err = rejected(world, b, ChainConflict, "seq", f"expected seq 2 and prev {a.id}")
    assert err.details == {"expected_seq": 2, "expected_prev": a.id}
    assert err.to_dict()["expected_prev"] == a.id
    row = key_row(world.store, keyid_of(key.public_key()))
    assert row is not None and (row.head_seq, row.head_event) == (1, a.id)


def test_fork_in_one_batch_is_a_conflict(world: World) -> None:
    world.register("coop-pangoa", ["spo"])
    key = seeded_key("coop-pangoa")
    a, b = (
        KeyChain(key, "coop-pangoa", ledger=world.ledger).sign(
            {
                "type": "key.add",
                "subject": "coop-pangoa",
                "time": world.tick(),
                "public_key": public_b64(fresh_key(n)),
            }
        )
        for n in "ab"
    )
    with pytest.raises(ChainConflict) as err:
        world.append(a, b)
    assert err.value.index == 1
    assert err.value.details["expected_prev"] == a.id
    assert world.store.size() == 2


def test_wrong_prev_is_a_conflict(world: World) -> None:
    world.register("coop-pangoa", ["spo"])
    first = world.record(
        "coop-pangoa",
        {"type": "key.add", "subject": "coop-pangoa", "public_key": public_b64(fresh_key("1"))},
    )
    chain = KeyChain(
        seeded_key("coop-pangoa"),
        "coop-pangoa",
        seq=1,
        prev="sha256:" + "0" * 64,
        ledger=world.ledger,
    )
    env = chain.sign(
        {
            "type": "key.add",
            "subject": "coop-pangoa",
            "time": world.tick(),
            "public_key": public_b64(fresh_key("2")),
        }
    )
    err = rejected(world, env, ChainConflict, "prev", f"expected seq 2 and prev {first}")
    assert err.details == {"expected_seq": 2, "expected_prev": first}


def test_first_event_of_a_key_must_be_seq_1(world: World) -> None:
    world.register("coop-pangoa", ["spo"])
    chain = KeyChain(
        seeded_key("coop-pangoa"),
        "coop-pangoa",
        seq=1,
        prev="sha256:" + "1" * 64,
        ledger=world.ledger,
    )
    env = chain.sign(
        {
            "type": "key.add",
            "subject": "coop-pangoa",
            "time": world.tick(),
            "public_key": public_b64(fresh_key("x")),
        }
    )
    err = rejected(world, env, ChainConflict, "seq", "expected seq 1 and prev None")
    assert err.details == {"expected_seq": 1, "expected_prev": None}


def test_chain_heads_follow_appends(world: World) -> None:
    world.register("coop-pangoa", ["spo"])
    ids = [
        world.record(
            "coop-pangoa",
            {
                "type": "key.add",
                "subject": "coop-pangoa",
                "public_key": public_b64(fresh_key(str(n))),
            },
        )
        for n in range(3)
    ]
    row = key_row(world.store, keyid_of(seeded_key("coop-pangoa").public_key()))
    assert row is not None and (row.head_seq, row.head_event) == (3, ids[-1])
    with world.store.engine.connect() as conn:
        chain = conn.execute(
            text("SELECT seq, prev, id FROM events WHERE party = 'coop-pangoa' ORDER BY seq")
        ).all()
    assert [r.seq for r in chain] == [1, 2, 3]
    assert [r.prev for r in chain] == [None, ids[0], ids[1]]


# --- who registers parties ----------------------------------------------------------------


def test_only_the_operator_registers_parties(world: World) -> None:
    world.register("coop-pangoa", ["spo"])
    env = world.sign(
        "coop-pangoa",
        {
            "type": "party.register",
            "subject": "rogue",
            "name": "Rogue",
            "roles": ["trader"],
            "country": "PE",
            "public_key": public_b64(seeded_key("rogue")),
        },
    )
    rejected(world, env, NotAuthorized, "party", "only the operator 'operator' registers")


def test_a_second_operator_is_refused(world: World) -> None:
    env = world.register_envelope("operator-2", ["operator"])
    rejected(world, env, NotAuthorized, "roles", "one operator")


def test_duplicate_party_is_refused(world: World) -> None:
    world.register("coop-pangoa", ["spo"])
    env = world.operator.sign(
        {
            "type": "party.register",
            "time": world.tick(),
            "subject": "coop-pangoa",
            "name": "Again",
            "roles": ["spo"],
            "country": "PE",
            "public_key": public_b64(fresh_key("other")),
        }
    )
    rejected(world, env, DuplicateId, "subject", "'coop-pangoa' is already registered")


def test_registering_an_existing_key_is_refused(world: World) -> None:
    world.register("coop-pangoa", ["spo"])
    env = world.operator.sign(
        {
            "type": "party.register",
            "time": world.tick(),
            "subject": "coop-copy",
            "name": "Copy",
            "roles": ["spo"],
            "country": "PE",
            "public_key": public_b64(seeded_key("coop-pangoa")),
        }
    )
    rejected(world, env, DuplicateId, "public_key", "already registered")


# --- key.add and key.revoke ------------------------------------------------------------------


def test_key_add_of_an_existing_key_is_refused(world: World) -> None:
    world.register("coop-pangoa", ["spo"])
    world.register("andes-trading", ["trader"])
    env = key_add(world, "coop-pangoa", "coop-pangoa", seeded_key("andes-trading"))
    rejected(world, env, DuplicateId, "public_key", "already registered")


def test_key_add_by_the_party_itself(world: World) -> None:
    world.register("coop-pangoa", ["spo"])
    new = fresh_key("tablet")
    added = world.record(
        "coop-pangoa", {"type": "key.add", "subject": "coop-pangoa", "public_key": public_b64(new)}
    )
    row = key_row(world.store, keyid_of(new.public_key()))
    assert row is not None
    assert (row.party, row.added_event, row.head_seq, row.revoked_event) == (
        "coop-pangoa",
        added,
        0,
        None,
    )
    # the new key signs for its party, starting its own chain at seq 1
    env = chain_for(new, "coop-pangoa", world).sign(
        {
            "type": "key.add",
            "subject": "coop-pangoa",
            "time": world.tick(),
            "public_key": public_b64(fresh_key("tablet-2")),
        }
    )
    assert world.append(env).events[0].new
    row = key_row(world.store, keyid_of(new.public_key()))
    assert row is not None and (row.head_seq, row.head_event) == (1, env.id)


def test_key_add_by_the_operator(world: World) -> None:
    world.register("coop-pangoa", ["spo"])
    new = fresh_key("by-operator")
    world.record(
        "operator", {"type": "key.add", "subject": "coop-pangoa", "public_key": public_b64(new)}
    )
    row = key_row(world.store, keyid_of(new.public_key()))
    assert row is not None and row.party == "coop-pangoa"


def test_key_add_by_a_third_party_is_refused(world: World) -> None:
    world.register("coop-pangoa", ["spo"])
    world.register("andes-trading", ["trader"])
    env = key_add(world, "andes-trading", "coop-pangoa", fresh_key("squat"))
    rejected(world, env, NotAuthorized, "party", "must be signed by 'coop-pangoa' or the operator")


def test_key_add_for_an_unknown_party_is_refused(world: World) -> None:
    env = key_add(world, "operator", "nobody", fresh_key("nobody"))
    rejected(world, env, UnknownReference, "subject", "'nobody' is not registered")


def test_key_revoke_by_a_third_party_is_refused(world: World) -> None:
    world.register("coop-pangoa", ["spo"])
    world.register("andes-trading", ["trader"])
    env = world.sign(
        "andes-trading",
        {
            "type": "key.revoke",
            "subject": "coop-pangoa",
            "reason": "hostile",
            "keyid": keyid_of(seeded_key("coop-pangoa").public_key()),
        },
    )
    rejected(world, env, NotAuthorized, "party", "must be signed by 'coop-pangoa'")


def test_key_revoke_of_another_partys_key_is_refused(world: World) -> None:
    world.register("coop-pangoa", ["spo"])
    world.register("andes-trading", ["trader"])
    env = world.sign(
        "coop-pangoa",
        {
            "type": "key.revoke",
            "subject": "coop-pangoa",
            "reason": "not mine",
            "keyid": keyid_of(seeded_key("andes-trading").public_key()),
        },
    )
    rejected(world, env, NotAuthorized, "keyid", "belongs to 'andes-trading'")


def test_key_revoke_of_an_unknown_key_is_refused(world: World) -> None:
    world.register("coop-pangoa", ["spo"])
    env = world.sign(
        "coop-pangoa",
        {"type": "key.revoke", "subject": "coop-pangoa", "reason": "typo", "keyid": "e" * 64},
    )
    rejected(world, env, UnknownReference, "keyid", "no key eeee")


def test_revoked_key_signs_nothing_more_whatever_its_time(world: World) -> None:
    """Once revoked, a key appends nothing: not even events dated before the revocation,
    which a thief holding the key could otherwise backdate at will."""
    world.register("coop-pangoa", ["spo"])
    tablet = fresh_key("tablet")
    tablet_id = keyid_of(tablet.public_key())
    t_added = world.tick()
    t_before = world.tick()
    t_revoked = world.tick()
    t_after = world.tick()
    world.append(
        world.sign(
            "coop-pangoa",
            {
                "type": "key.add",
                "subject": "coop-pangoa",
                "time": t_added,
                "public_key": public_b64(tablet),
            },
        )
    )
    world.append(
        world.sign(
            "coop-pangoa",
            {
                "type": "key.revoke",
                "subject": "coop-pangoa",
                "time": t_revoked,
                "keyid": tablet_id,
                "reason": "device lost",
            },
        )
    )
    row = key_row(world.store, tablet_id)
    assert row is not None and row.revoke_reason == "device lost"

    def by_tablet(time: str, name: str) -> Envelope:
        return chain_for(tablet, "coop-pangoa", world).sign(
            {
                "type": "key.add",
                "subject": "coop-pangoa",
                "time": time,
                "public_key": public_b64(fresh_key(name)),
            }
        )

    err = rejected(world, by_tablet(t_after, "after"), KeyRevoked, "key", "was revoked by")
    assert "device lost" in err.message
    assert datetime.fromisoformat(err.details["revoked_at"]) == datetime.fromisoformat(t_revoked)
    for time, name in ((t_before, "before"), (t_revoked, "at")):
        err = rejected(world, by_tablet(time, name), KeyRevoked, "key", "whatever its time")


def test_revoking_twice_is_refused(world: World) -> None:
    world.register("coop-pangoa", ["spo"])
    tablet = fresh_key("tablet")
    world.record(
        "coop-pangoa",
        {"type": "key.add", "subject": "coop-pangoa", "public_key": public_b64(tablet)},
    )
    body = {
        "type": "key.revoke",
        "subject": "coop-pangoa",
        "keyid": keyid_of(tablet.public_key()),
        "reason": "lost",
    }
    world.record("operator", body)
    rejected(world, world.sign("coop-pangoa", body), InvalidEvent, "keyid", "already revoked")


def test_event_dated_before_its_key_was_registered_is_refused(world: World) -> None:
    world.register("coop-pangoa", ["spo"])
    early = (world.clock - timedelta(minutes=1)).isoformat()
    env = world.sign(
        "coop-pangoa",
        {
            "type": "key.add",
            "subject": "coop-pangoa",
            "time": early,
            "public_key": public_b64(fresh_key("e")),
        },
    )
    rejected(world, env, KeyRevoked, "time", "signs nothing dated before")


def test_event_more_than_five_minutes_in_the_future_is_refused(world: World) -> None:
    world.register("coop-pangoa", ["spo"])
    env = key_add(world, "coop-pangoa", "coop-pangoa", fresh_key("future"))
    moment = world.clock
    err = rejected(
        world,
        env,
        TimeError,
        "time",
        "more than 5 minutes in the future",
        now=moment - timedelta(minutes=5, seconds=1),
    )
    assert err.index == 0
    result = append_batch(world.store, [env], now=moment - timedelta(minutes=5))
    assert result.events[0].new


def test_key_registered_to_another_party_is_refused(world: World) -> None:
    world.register("coop-pangoa", ["spo"])
    world.register("andes-trading", ["trader"])
    impostor = KeyChain(seeded_key("coop-pangoa"), "andes-trading", ledger=world.ledger)
    env = impostor.sign(
        {
            "type": "key.add",
            "subject": "andes-trading",
            "time": world.tick(),
            "public_key": public_b64(fresh_key("imp")),
        }
    )
    rejected(world, env, NotAuthorized, "key", "registered to 'coop-pangoa', not 'andes-trading'")


def test_unregistered_key_is_refused(world: World) -> None:
    world.register("coop-pangoa", ["spo"])
    stranger = KeyChain(fresh_key("stranger"), "coop-pangoa", ledger=world.ledger)
    env = stranger.sign(
        {
            "type": "key.add",
            "subject": "coop-pangoa",
            "time": world.tick(),
            "public_key": public_b64(fresh_key("s2")),
        }
    )
    err = rejected(world, env, UnknownKey, "key", "is not registered")
    assert "trazo init" not in err.message


def test_empty_ledger_refuses_anything_but_genesis(store: Store) -> None:
    key = seeded_key("coop-pangoa")
    env = KeyChain(key, "coop-pangoa").sign(
        {
            "type": "party.register",
            "time": "2026-03-01T08:00:00Z",
            "subject": "other",
            "name": "Other",
            "roles": ["spo"],
            "country": "PE",
            "public_key": public_b64(key),
        }
    )
    with pytest.raises(UnknownKey, match="trazo init"):
        append_one(store, env)
    assert store.size() == 0


def test_time_outside_the_utc_range_is_a_client_error(sqlite_store: Store) -> None:
    # Only the genesis event reaches utc_text() with it: later events fail the key-validity
    # check first. The client should get InvalidEvent/TimeError, not an internal error.
    key = seeded_key("operator")
    env = KeyChain(key, "operator").sign(
        {
            "type": "party.register",
            "time": "0001-01-01T00:00:00+01:00",
            "subject": "operator",
            "name": "Operator",
            "roles": ["operator"],
            "country": "ZZ",
            "public_key": public_b64(key),
        }
    )
    with pytest.raises(ClientError) as err:
        append_one(sqlite_store, env)
    assert err.value.field == "time"
    assert sqlite_store.size() == 0


def test_bad_signature_is_refused(world: World) -> None:
    world.register("coop-pangoa", ["spo"])
    good = key_add(world, "coop-pangoa", "coop-pangoa", fresh_key("k"))
    forged = Envelope(
        good.payload,
        Signature(good.signature.keyid, seeded_key("coop-pangoa").sign(b"other bytes")),
    )
    rejected(world, forged, SignatureError, "signatures[0].sig", "does not verify")
    # the genuine one still goes in: the rejected forgery did not move the chain
    assert world.append(good).events[0].index == 2


def test_signature_over_a_changed_payload_is_refused(world: World) -> None:
    world.register("coop-pangoa", ["spo"])
    good = key_add(world, "coop-pangoa", "coop-pangoa", fresh_key("k"))
    changed = good.payload.replace(b'"key.add"', b'"key.add" ', 1)
    rejected(
        world,
        Envelope(changed, good.signature),
        SignatureError,
        "signatures[0].sig",
        "does not verify",
    )


# --- GLN --------------------------------------------------------------------------------------


def _gs1_check_digit(first12: str) -> str:
    """Independent GS1 mod-10: from the left, weights 1,3,1,3,… over the first 12 digits."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return str(-total % 10)


@pytest.mark.parametrize(
    "gln", ["4006381333931", "5901234123457", "0614141000005", "7750000000014"]
)
def test_known_valid_gs1_numbers(gln: str) -> None:
    assert gs1_check_digit_ok(gln)
    assert _gs1_check_digit(gln[:12]) == gln[12]


def test_check_digit_agrees_with_an_independent_implementation() -> None:
    rng = random.Random(20260301)
    for _ in range(2000):
        body = "".join(rng.choice("0123456789") for _ in range(12))
        good = _gs1_check_digit(body)
        assert gs1_check_digit_ok(body + good)
        for wrong in "0123456789".replace(good, ""):
            assert not gs1_check_digit_ok(body + wrong)


@pytest.mark.parametrize(
    "gln",
    [
        "7750000000017",
        "775000000001",
        "77500000000144",
        "775000000001A",
        " 7750000000014",
        "",
        "７７５００００００００１４",
    ],  # fullwidth digits with a valid check digit
)
def test_party_register_rejects_a_bad_gln(sqlite_world: World, gln: str) -> None:
    world = sqlite_world  # a field check: the database plays no part
    env = world.register_envelope("coop-pangoa", ["spo"], identifiers={"gln": gln})
    fragment = "non-empty string" if gln == "" else "GS1 check digit"
    rejected(world, env, InvalidEvent, "identifiers.gln", fragment)


def test_party_register_stores_a_valid_gln(sqlite_world: World) -> None:
    world = sqlite_world
    world.append(
        world.register_envelope(
            "coop-pangoa", ["spo"], identifiers={"gln": "7750000000014", "ruc": "2010"}
        )
    )
    with world.store.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT identifiers FROM parties WHERE id = 'coop-pangoa'")
        ).scalar_one()
    assert json.loads(stored) == {"gln": "7750000000014", "ruc": "2010"}


# --- trazo init, twice ---------------------------------------------------------------------


def _files(directory: Path) -> dict[str, tuple[bytes, int, int]]:
    if not directory.exists():
        return {}
    return {
        p.name: (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode)
        for p in sorted(directory.iterdir())
    }


def test_init_creates_genesis(store: Store, tmp_path: Path) -> None:
    result = initialize(store, tmp_path / "keys")
    assert store.size() == 1
    assert result.operator_keyid != result.log_keyid
    assert set(_files(tmp_path / "keys")) >= {
        "log.key",
        "log.pub",
        "operator.outbox.db",
        "operator.key",
        "operator.pub",
    }
    from ledger.outbox import SENT, Outbox

    with Outbox(tmp_path / "keys" / "operator.key") as outbox:
        state = outbox.head()
        assert [(e.id, e.status, e.ledger_index) for e in outbox.entries()] == [
            (result.genesis_id, SENT, 0)
        ]
    assert state == {
        "keyid": result.operator_keyid,
        "party": "operator",
        "seq": 1,
        "prev": result.genesis_id,
        "ledger": result.genesis_id,
    }


def test_init_twice_with_the_same_keys_is_refused(store: Store, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    initialize(store, keys)
    files = _files(keys)
    before = snapshot(store)
    with pytest.raises(AlreadyInitialized, match="already exists; refusing to overwrite"):
        initialize(store, keys)
    assert _files(keys) == files
    assert snapshot(store) == before


def test_init_with_fresh_keys_on_a_used_ledger_is_refused(store: Store, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    initialize(store, keys)
    files = _files(keys)
    before = snapshot(store)
    fresh = tmp_path / "fresh-keys"
    with pytest.raises(AlreadyInitialized, match="already holds 1 events"):
        initialize(store, fresh)
    assert _files(fresh) == {}  # no key was written for a ledger it cannot take over
    assert _files(keys) == files
    assert snapshot(store) == before


def test_init_refuses_when_only_one_key_file_exists(sqlite_store: Store, tmp_path: Path) -> None:
    store = sqlite_store
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "log.pub").write_bytes(b"somebody's key\n")
    os.utime(keys / "log.pub", ns=(1, 1))
    files = _files(keys)
    with pytest.raises(AlreadyInitialized, match=r"log\.pub already exists"):
        initialize(store, keys)
    assert _files(keys) == files
    assert store.size() == 0


def test_seeded_keys_are_distinct_per_name() -> None:
    # a guard for the helpers above: fresh keys never collide with party keys
    names = ["coop-pangoa", "fresh:coop-pangoa", "fresh:a", "fresh:b"]
    ids = {keyid_of(seeded_key(n).public_key()) for n in names}
    assert len(ids) == len(names)
    assert hashlib.sha256(b"x").hexdigest() != keyid_of(seeded_key("x").public_key())


def test_revocation_cannot_reach_back_before_what_the_key_signed(world: World) -> None:
    world.register("coop-pangoa", ["spo"])
    signed_at = world.tick()
    world.append(
        world.sign(
            "coop-pangoa",
            {
                "type": "key.add",
                "subject": "coop-pangoa",
                "public_key": public_b64(fresh_key("x")),
                "time": signed_at,
            },
        )
    )
    keyid = world.chains["coop-pangoa"].keyid
    back = (datetime.fromisoformat(signed_at) - timedelta(minutes=5)).isoformat()
    revoke = world.operator.sign(
        {
            "type": "key.revoke",
            "subject": "coop-pangoa",
            "keyid": keyid,
            "reason": "lost",
            "time": back,
        }
    )
    rejected(world, revoke, TimeError, "time", "cannot reach back")
    world.operator.seq -= 1
    world.operator.prev = key_row(world.store, world.operator.keyid).head_event
    ok = world.operator.sign(
        {
            "type": "key.revoke",
            "subject": "coop-pangoa",
            "keyid": keyid,
            "reason": "lost",
            "time": world.tick(),
        }
    )
    assert world.append(ok).events[0].new


def test_a_keys_events_move_forward_in_time(world: World) -> None:
    world.register("coop-pangoa", ["spo"])
    first = world.tick()
    world.append(
        world.sign(
            "coop-pangoa",
            {
                "type": "key.add",
                "subject": "coop-pangoa",
                "public_key": public_b64(fresh_key("a")),
                "time": first,
            },
        )
    )
    earlier = (datetime.fromisoformat(first) - timedelta(minutes=1)).isoformat()
    env = world.sign(
        "coop-pangoa",
        {
            "type": "key.add",
            "subject": "coop-pangoa",
            "public_key": public_b64(fresh_key("b")),
            "time": earlier,
        },
    )
    rejected(world, env, TimeError, "time", "before the key's previous event")


# --- read-only stores (what every reading command opens) -----------------------------------


def test_a_read_only_store_reads_but_the_database_refuses_its_writes(world: World) -> None:
    world.register("coop-pangoa", ["spo"])
    before = snapshot(world.store)
    reader = Store(world.store.url, read_only=True)
    try:
        assert reader.size() == 2 and reader.schema_ready()
        with pytest.raises(DBAPIError), reader.engine.begin() as conn:
            conn.execute(text("DELETE FROM checkpoints"))
        with pytest.raises(StoreError, match="read-only"), reader.writing():
            pass
        with pytest.raises(StoreError, match="read-only"):
            reader.migrate()
        with reader.trial() as session:  # the audit's snapshot needs no write lock
            assert session.scalar(text("SELECT count(*) FROM events")) == 2
    finally:
        reader.dispose()
    assert snapshot(world.store) == before


def test_a_read_only_store_never_creates_a_sqlite_file(tmp_path: Path) -> None:
    reader = Store(f"sqlite:///{tmp_path}/nothing.db", read_only=True)
    with pytest.raises(DBAPIError), reader.engine.connect():
        pass
    assert not reader.schema_ready()
    assert list(tmp_path.iterdir()) == []


def test_a_read_only_sqlite_store_opens_a_file_it_may_not_write(tmp_path: Path) -> None:
    writer = Store(f"sqlite:///{tmp_path}/l.db")
    writer.migrate()
    writer.dispose()
    for leftover in tmp_path.glob("l.db-*"):
        leftover.unlink()
    (tmp_path / "l.db").chmod(0o444)
    reader = Store(f"sqlite:///{tmp_path}/l.db", read_only=True)
    try:
        assert reader.schema_ready() and reader.size() == 0
    finally:
        reader.dispose()
