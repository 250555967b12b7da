"""``ledger.audit.audit`` against tampering done behind the ledger's back.

An attacker with database access can drop the append-only triggers and edit rows. The
audit trusts no column and no projection: it recomputes ids, re-verifies signatures and
replays the key chains from the stored bytes, and names the event of every finding.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from ledger.audit import AuditReport, Finding, audit
from ledger.envelope import b64encode, keyid_of
from ledger.signer import KeyChain
from ledger.store import Store
from tests.support import World, public_b64, seeded_key

COOP = "coop-pangoa"
TRADER = "andes-trading"


@dataclass
class Ledger:
    store: Store
    ids: list[str]  # event id by index
    extra_keys: list[Ed25519PrivateKey]


def build(world: World) -> Ledger:
    """Events 0–7: three registrations, three coop key.adds, a trader key.add, a revoke."""
    extra = [seeded_key(f"audit-extra-{n}") for n in range(4)]
    world.register(COOP, ["spo"])
    world.register(TRADER, ["trader"])
    for key in extra[:3]:  # indexes 3, 4, 5: coop's chain seq 1, 2, 3
        world.record(COOP, {"type": "key.add", "subject": COOP, "public_key": public_b64(key)})
    world.record(
        TRADER,
        {
            "type": "key.add",
            "subject": TRADER,  # index 6
            "public_key": public_b64(extra[3]),
        },
    )
    world.record(
        COOP,
        {
            "type": "key.revoke",
            "subject": COOP,  # index 7: coop seq 4
            "keyid": keyid_of(extra[0].public_key()),
            "reason": "lost",
        },
    )
    with world.store.engine.connect() as conn:
        ids = list(conn.execute(text("SELECT id FROM events ORDER BY idx")).scalars())
    assert len(ids) == 8
    return Ledger(world.store, ids, extra)


def drop_triggers(store: Store) -> None:
    """What an attacker with database access does first."""
    with store.engine.begin() as conn:
        if store.dialect == "sqlite":
            conn.execute(text("DROP TRIGGER events_no_update"))
            conn.execute(text("DROP TRIGGER events_no_delete"))
        else:
            conn.execute(text("DROP TRIGGER events_no_update_delete ON events"))


def tamper(store: Store, sql: str, **params: Any) -> None:
    with store.engine.begin() as conn:
        result = conn.execute(text(sql), params)
        assert result.rowcount == 1, f"tampering touched {result.rowcount} rows: {sql}"


def column(store: Store, sql: str, **params: Any) -> Any:
    with store.engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def checks_at(report: AuditReport, index: int | None) -> set[str]:
    return {f.check for f in report.findings if f.index == index}


def event_findings(report: AuditReport) -> list[Finding]:
    """Findings about an event (ledger-wide ones, such as projections, name none)."""
    return [f for f in report.findings if f.index is not None]


def ledger_findings(report: AuditReport, check: str) -> list[Finding]:
    return [f for f in report.findings if f.index is None and f.check == check]


# --- a clean ledger -------------------------------------------------------------------------


def test_clean_ledger_audits_ok(world: World) -> None:
    ledger = build(world)
    report = audit(ledger.store)
    assert report.ok
    assert bool(report) is True
    assert report.findings == []
    assert report.events == 8
    assert report.keys == 1 + 2 + 4  # three registrations, four key.adds


def test_progress_is_reported_per_event(sqlite_world: World) -> None:
    build(sqlite_world)
    ticks: list[int] = []
    audit(sqlite_world.store, progress=ticks.append)
    assert sum(ticks) == 8


def test_empty_ledger_audits_ok(sqlite_store: Store) -> None:
    report = audit(sqlite_store)
    assert report.ok and (report.events, report.keys) == (0, 0)


# --- tampering with one event -----------------------------------------------------------------


def _flip_payload_byte(ledger: Ledger) -> None:
    payload = bytes(column(ledger.store, "SELECT payload FROM events WHERE idx = 4"))
    assert b'"lost"' not in payload and b'"subject":"coop-pangoa"' in payload
    changed = payload.replace(b'"subject":"coop-pangoa"', b'"subject":"coop-pangoz"')
    assert len(changed) == len(payload)
    tamper(ledger.store, "UPDATE events SET payload = :p WHERE idx = 4", p=changed)


def _break_payload_json(ledger: Ledger) -> None:
    payload = bytes(column(ledger.store, "SELECT payload FROM events WHERE idx = 4"))
    tamper(ledger.store, "UPDATE events SET payload = :p WHERE idx = 4", p=b"[" + payload[1:])


def _swap_envelope(ledger: Ledger) -> None:
    other = column(ledger.store, "SELECT envelope FROM events WHERE idx = 5")
    tamper(ledger.store, "UPDATE events SET envelope = :e WHERE idx = 4", e=other)


def _garble_envelope(ledger: Ledger) -> None:
    tamper(ledger.store, "UPDATE events SET envelope = :e WHERE idx = 4", e='{"payload": 1')


def _replace_signature(ledger: Ledger) -> None:
    envelope = json.loads(column(ledger.store, "SELECT envelope FROM events WHERE idx = 4"))
    envelope["signatures"][0]["sig"] = b64encode(seeded_key(COOP).sign(b"something else"))
    tamper(ledger.store, "UPDATE events SET envelope = :e WHERE idx = 4", e=json.dumps(envelope))


def _party_column(ledger: Ledger) -> None:
    tamper(ledger.store, "UPDATE events SET party = :p WHERE idx = 4", p=TRADER)


def _seq_column(ledger: Ledger) -> None:
    tamper(ledger.store, "UPDATE events SET seq = 7 WHERE idx = 4")


def _time_column(ledger: Ledger) -> None:
    tamper(
        ledger.store, "UPDATE events SET time = :t WHERE idx = 4", t="2020-01-01T00:00:00.000000Z"
    )


EVENT_TAMPERING: list[tuple[str, Callable[[Ledger], None], set[str], str, bool]] = [
    # (case, tampering with event 4, checks that must be found at index 4, message fragment,
    #  whether event 5 — next in the same key's chain — may report the broken link)
    ("payload-byte", _flip_payload_byte, {"id", "signature"}, "not the stored id", True),
    ("payload-not-json", _break_payload_json, {"id", "payload"}, "does not parse", True),
    ("envelope-of-another-event", _swap_envelope, {"envelope"}, "differs from the stored", False),
    ("envelope-garbled", _garble_envelope, {"envelope"}, "does not parse", True),
    ("envelope-signature", _replace_signature, {"signature"}, "does not verify", False),
    ("party-column", _party_column, {"columns"}, "column party='andes-trading'", False),
    ("seq-column", _seq_column, {"columns"}, "column seq=7", False),
    ("time-column", _time_column, {"columns"}, "column time=", False),
]


ON_BOTH_DATABASES = {"payload-byte", "party-column"}


@pytest.mark.parametrize(
    ("tampering", "expected", "fragment", "breaks_next"),
    [
        pytest.param(t, e, f, b, id=name)
        for name, t, e, f, b in EVENT_TAMPERING
        if name in ON_BOTH_DATABASES
    ],
)
def test_tampered_event_is_found(
    world: World,
    tampering: Callable[[Ledger], None],
    expected: set[str],
    fragment: str,
    breaks_next: bool,
) -> None:
    check_tampering(world, tampering, expected, fragment, breaks_next)


@pytest.mark.parametrize(
    ("tampering", "expected", "fragment", "breaks_next"),
    [
        pytest.param(t, e, f, b, id=name)
        for name, t, e, f, b in EVENT_TAMPERING
        if name not in ON_BOTH_DATABASES
    ],
)
def test_tampered_event_is_found_sqlite(
    sqlite_world: World,
    tampering: Callable[[Ledger], None],
    expected: set[str],
    fragment: str,
    breaks_next: bool,
) -> None:
    check_tampering(sqlite_world, tampering, expected, fragment, breaks_next)


def check_tampering(
    world: World,
    tampering: Callable[[Ledger], None],
    expected: set[str],
    fragment: str,
    breaks_next: bool,
) -> None:
    ledger = build(world)
    drop_triggers(ledger.store)
    tampering(ledger)
    report = audit(ledger.store)
    assert not report.ok
    assert bool(report) is False
    assert report.events == 8
    found = checks_at(report, 4)
    assert expected <= found, [str(f) for f in report.findings]
    assert any(fragment in f.message for f in report.findings if f.index == 4), [
        str(f) for f in report.findings
    ]
    # every finding about an event names it by index and stored id: event 4, and at most
    # the broken prev link of event 5 when event 4's hash can no longer be trusted
    allowed = {(4, ledger.ids[4])} | ({(5, ledger.ids[5])} if breaks_next else set())
    # replaying the rules over a tampered ledger also refuses what builds on event 4
    for finding in event_findings(report):
        if finding.check == "rules" and finding.index is not None and finding.index >= 4:
            assert finding.event in ledger.ids, str(finding)
            continue
        assert (finding.index, finding.event) in allowed, str(finding)
        assert finding.index == 4 or finding.check == "chain", str(finding)
        assert str(finding).startswith(
            f"event {finding.index} ({finding.event}): [{finding.check}]"
        )


def test_changed_payload_finds_id_and_signature_with_the_recomputed_id(world: World) -> None:
    ledger = build(world)
    drop_triggers(ledger.store)
    _flip_payload_byte(ledger)
    report = audit(ledger.store)
    by_check = {f.check: f for f in report.findings}
    changed = bytes(column(ledger.store, "SELECT payload FROM events WHERE idx = 4"))
    recomputed = "sha256:" + hashlib.sha256(changed).hexdigest()
    assert recomputed in by_check["id"].message
    assert "does not verify" in by_check["signature"].message
    # event 5 still names the original id of event 4 as its prev: the hash chain breaks
    at5 = [f for f in event_findings(report) if f.index == 5]
    assert [f.check for f in at5] == ["chain"]
    assert f"prev {ledger.ids[4]}" in at5[0].message and recomputed in at5[0].message
    assert {f.index for f in event_findings(report)} == {4, 5}


# --- deleting and inserting ------------------------------------------------------------------


def test_deleted_middle_event_is_found(world: World) -> None:
    ledger = build(world)
    drop_triggers(ledger.store)
    tamper(ledger.store, "DELETE FROM events WHERE idx = 4")
    report = audit(ledger.store)
    assert not report.ok
    assert report.events == 7
    at5 = {f.check: f for f in report.findings if f.index == 5}
    assert {"index", "chain"} <= set(at5), [str(f) for f in report.findings]
    assert "expected index 4" in at5["index"].message
    assert "seq 3" in at5["chain"].message and "expected seq 2" in at5["chain"].message
    assert at5["index"].event == ledger.ids[5]
    # the key event 4 added is in the keys table but no longer in any event
    deleted_key = keyid_of(ledger.extra_keys[1].public_key())
    assert any(deleted_key[:16] in f.message for f in ledger_findings(report, "projection"))
    # the events after the gap are checked too: nothing else is wrong with them, but the
    # rules, replayed without the deleted key.add, refuse what its key signed
    assert {f.index for f in event_findings(report) if f.check != "rules"} == {5}
    assert all(f.check == "rules" for f in event_findings(report) if f.index != 5)


def test_deleted_last_event_of_a_chain_leaves_the_projection_ahead(world: World) -> None:
    ledger = build(world)
    drop_triggers(ledger.store)
    tamper(ledger.store, "DELETE FROM events WHERE idx = 7")
    report = audit(ledger.store)
    assert not report.ok
    assert report.events == 7
    assert event_findings(report) == []  # the log itself is a consistent prefix...
    coop_key = keyid_of(seeded_key(COOP).public_key())
    keys = [f for f in ledger_findings(report, "projection") if f.message.startswith("keys")]
    heads = [f for f in keys if coop_key in f.message]
    assert len(heads) == 1  # ...the heads say more, and so does the revocation it recorded
    assert any("revoked_event" in f.message for f in keys if coop_key not in f.message)
    assert "seq 4" in heads[0].message and "seq 3" in heads[0].message


def test_event_inserted_with_an_unregistered_key_is_found(world: World) -> None:
    ledger = build(world)
    mallory = seeded_key("mallory")
    env = KeyChain(mallory, COOP).sign(
        {
            "type": "key.add",
            "subject": COOP,
            "time": "2026-03-01T12:00:00Z",
            "public_key": public_b64(seeded_key("mallory-2")),
        }
    )
    tamper(
        ledger.store,  # INSERT is allowed: no trigger needs dropping
        "INSERT INTO events (idx, id, payload, envelope, type, party, keyid, seq, prev,"
        " time, recorded_at) VALUES (8, :id, :payload, :envelope, 'key.add', :party,"
        " :keyid, 1, NULL, '2026-03-01T12:00:00.000000Z', '2026-03-01T12:00:00.000000Z')",
        id=env.id,
        payload=env.payload,
        envelope=env.to_json(),
        party=COOP,
        keyid=keyid_of(mallory.public_key()),
    )
    report = audit(ledger.store)
    assert report.events == 9
    findings = [f for f in report.findings if f.index == 8]
    # the replay stops at the first step the event fails: its key is not registered
    by_check = {f.check: f for f in findings}
    assert sorted(by_check) == ["recorded_at", "signature"]
    assert "is not registered" in by_check["signature"].message
    assert "before the previous event" in by_check["recorded_at"].message  # dated back
    assert all(f.event == env.id for f in findings)


# --- projections ---------------------------------------------------------------------------


def test_changed_key_head_is_found(world: World) -> None:
    ledger = build(world)
    coop_key = keyid_of(seeded_key(COOP).public_key())
    # the keys table is a projection: no trigger guards it
    tamper(
        ledger.store,
        "UPDATE keys SET head_seq = 2, head_event = :e WHERE keyid = :k",
        e=ledger.ids[4],
        k=coop_key,
    )
    report = audit(ledger.store)
    assert not report.ok
    assert event_findings(report) == []  # a projection row is not an event
    [finding] = ledger_findings(report, "projection")
    assert coop_key[:16] in finding.message
    assert "seq 2" in finding.message and "seq 4" in finding.message
    assert "trazo rebuild" in finding.message


def test_deleted_key_row_is_found(sqlite_world: World) -> None:
    ledger = build(sqlite_world)
    trader_key = keyid_of(ledger.extra_keys[3].public_key())
    tamper(ledger.store, "DELETE FROM keys WHERE keyid = :k", k=trader_key)
    report = audit(ledger.store)
    assert not report.ok and event_findings(report) == []
    assert [trader_key[:16] in f.message for f in ledger_findings(report, "projection")] == [True]


# --- the audit does not stop at the first finding ---------------------------------------------


def test_every_finding_is_reported(world: World) -> None:
    ledger = build(world)
    drop_triggers(ledger.store)
    _party_column(ledger)
    tamper(ledger.store, "UPDATE events SET type = 'key.revoke' WHERE idx = 2")
    tamper(ledger.store, "UPDATE events SET prev = NULL WHERE idx = 7")
    report = audit(ledger.store)
    assert {f.index for f in event_findings(report)} == {2, 4, 7}
    assert all(f.check == "columns" for f in event_findings(report))
    assert report.events == 8


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE events SET payload = 'not bytes' WHERE idx = 4",
        "UPDATE events SET idx = 'four' WHERE idx = 4",
    ],
    ids=["text-payload", "text-index"],
)
def test_a_row_of_the_wrong_types_is_a_finding_not_a_crash(sqlite_world: World, sql: str) -> None:
    """SQLite stores any type in any column: a tampered row must be reported, and the
    audit must go on to the rest of the ledger."""
    ledger = build(sqlite_world)
    drop_triggers(ledger.store)
    tamper(ledger.store, sql)
    report = audit(ledger.store)
    wrong = [f for f in report.findings if "of the wrong type" in f.message]
    assert len(wrong) == 1 and wrong[0].check == "columns", [str(f) for f in report.findings]
    assert wrong[0].event == ledger.ids[4]


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE merkle_nodes SET hash = 'not bytes' WHERE level = 0 AND idx = 1",
        "UPDATE merkle_nodes SET idx = 'one' WHERE level = 0 AND idx = 1",
        "UPDATE keys SET public_key = 'not bytes' WHERE keyid = (SELECT MIN(keyid) FROM keys)",
    ],
    ids=["node-hash-text", "node-index-text", "key-text"],
)
def test_log_and_projection_rows_of_the_wrong_type_are_findings(
    sqlite_world: World, sql: str
) -> None:
    ledger = build(sqlite_world)
    drop_triggers(ledger.store)
    tamper(ledger.store, sql)
    report = audit(ledger.store)
    assert not report.ok
    assert any(f.check in ("merkle", "projection") for f in report.findings), [
        str(f) for f in report.findings
    ]
