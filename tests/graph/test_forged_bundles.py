"""Forged events the ledger operator writes behind the append path: `trazo verify` and
`trazo audit` each name them.

The attacker is the operator. It holds the database (it INSERTs events the append path
would refuse, adds their leaves to the Merkle log and signs a checkpoint over them with
the log key) and its own party key, but no other party's key, except where a scenario
has a party misbehave with its own. Every forged event carries a real Ed25519 signature
and a correct inclusion proof under a checkpoint signed by the trusted log key, so only
the custody rules can refuse it. Each scenario is shown twice:

- (a) ``verify_bundle`` over a bundle of a lot whose proof needs the forged event names
  it, under the check and with the reason the rule gives;
- (b) ``audit`` over the database that holds the same bytes names it by index and id.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from graph.bundle import build_bundle
from graph.evidence import Evidence
from graph.origin import origin_verdict
from graph.verify import FORMAT, VERSION, BundleReport, _needed, verify_bundle
from ledger.append import parse
from ledger.audit import AuditReport, audit
from ledger.checkpoint import LogKey
from ledger.envelope import Envelope, raw_public_key
from ledger.fields import utc_text
from ledger.log import CheckpointRow, LogAppender, SqlNodes
from ledger.merkle import inclusion_proof
from ledger.schema import EventRow
from ledger.signer import KeyChain
from ledger.sqlview import EVENTS
from ledger.store import Store
from ledger.tables import default_tables
from tests.graph import chains
from tests.graph.chains import COOP, COOP2, EXPORTER, M1, P1, ROASTER
from tests.support import World, public_b64, seeded_key

TRUSTED = LogKey(raw_public_key(chains.log_private().public_key()))
CERTIFIER = "certi-sur"

LOG_CHECKS = frozenset(
    {"format", "schema", "checkpoint", "envelopes", "inclusion", "tables", "ledger"}
)
"""Verifier checks a well-made forgery passes: it is signed, logged and in its ledger."""


# --- the operator's tools ---------------------------------------------------------------------


def smuggle(world: World, *envelopes: Envelope) -> list[int]:
    """INSERT ``envelopes`` into ``events`` behind the append path (no rule runs, no
    projection changes), add their Merkle leaves, and sign a checkpoint over the new size
    with the log key. Returns their indexes."""
    now = datetime.now(UTC)
    indexes: list[int] = []
    with world.store.writing() as session:
        conn = session.connection()
        size = int(conn.scalar(select(func.count()).select_from(EVENTS)) or 0)
        log = LogAppender(session)
        for envelope in envelopes:
            event = parse(envelope)
            conn.execute(
                EVENTS.insert().values(
                    idx=size,
                    id=event.id,
                    payload=envelope.payload,
                    envelope=envelope.to_json(),
                    type=event.type,
                    party=event.party,
                    keyid=event.key,
                    seq=event.seq,
                    prev=event.prev,
                    time=utc_text(event.time),
                    recorded_at=utc_text(now),
                )
            )
            log.add(size, envelope.payload)
            indexes.append(size)
            size += 1
        log.flush()
        log.checkpoint(size, chains.log_signer(), now)
    return indexes


def bundle_for(store: Store, lot: str) -> dict[str, Any]:
    """The bundle the operator serves for ``lot``, from the events table and the log.

    ``graph.bundle.build_bundle`` reads the projections, which the smuggled events never
    reached; this one reads the events themselves. It carries exactly the events the
    lot's proof needs (no "added" findings), each with its inclusion proof against the
    latest checkpoint, and the verdict those events give as its claim.
    """
    with store.reading() as session:
        stored = [
            (index, Envelope.from_json(text))
            for index, text in session.execute(
                select(EventRow.index, EventRow.envelope).order_by(EventRow.index)
            )
        ]
        everything = Evidence.from_envelopes(stored)
        needed = _needed(lot, everything)
        public = Evidence({r.id: r for r in everything if r.id in needed and r.type != "plot.map"})
        checkpoint = session.scalar(
            select(CheckpointRow).order_by(CheckpointRow.size.desc()).limit(1)
        )
        assert checkpoint is not None and checkpoint.size == len(stored)
        nodes = SqlNodes(session)
        events = [
            {
                "index": r.index,
                "envelope": r.event.envelope.to_dict(),
                "inclusion": [h.hex() for h in inclusion_proof(r.index, checkpoint.size, nodes)],
            }
            for r in public
        ]
        note = checkpoint.note
    return {
        "format": FORMAT,
        "version": VERSION,
        "lot": lot,
        "checkpoint": note,
        "events": events,
        "tables": default_tables().document(),
        "verdict": origin_verdict(lot, public).to_dict(),
    }


def forged_by(world: World, party: str, name: str) -> KeyChain:
    """A key whose private half the forger holds, signing as ``party``."""
    return KeyChain(seeded_key(name), party, ledger=world.ledger)


# --- what the checks must say -----------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    event: str
    check: str
    says: str
    index: int | None = None
    audit_check: str | None = None


def verify_names(bundle: dict[str, Any], *expected: Expected) -> BundleReport:
    """``verify_bundle`` passes the log checks and names each expected event exactly once,
    under its check, with the rule's reason."""
    report = verify_bundle(json.loads(json.dumps(bundle)), TRUSTED)
    shown = [str(f) for f in report.findings]
    assert report.checkpoint is not None, shown
    assert not {f.check for f in report.findings} & LOG_CHECKS, shown
    assert not report.ok
    for want in expected:
        mine = [f for f in report.findings if f.event == want.event]
        assert [f.check for f in mine] == [want.check], shown
        assert want.says in mine[0].message, shown
    return report


def audit_names(store: Store, *expected: Expected) -> AuditReport:
    """``audit`` names each expected event by index and id, with the rule's reason; the
    log the operator extended is consistent (no merkle or checkpoint finding)."""
    report = audit(store, log_key=TRUSTED)
    shown = [str(f) for f in report.findings]
    assert not [f for f in report.findings if f.check in ("merkle", "checkpoint")], shown
    for want in expected:
        mine = [f for f in report.findings if f.event == want.event]
        assert [(f.index, f.check) for f in mine] == [
            (want.index, want.audit_check or want.check)
        ], shown
        assert want.says in mine[0].message and "does not pass on replay" in mine[0].message
    return report


def no_finding(report: BundleReport | AuditReport, event_id: str) -> None:
    assert not [str(f) for f in report.findings if f.event == event_id]


def harvest_body(lot: str, kg: str = "100", **extra: str) -> dict[str, Any]:
    return {
        "type": "harvest",
        "lot": lot,
        "product": "coffee",
        "form": "green",
        "quantity": kg,
        "unit": "kg",
        **extra,
    }


def line(lot: str, via: str, kg: str) -> dict[str, str]:
    return {"lot": lot, "event": via, "quantity": kg, "unit": "kg"}


# --- 1. a self-ship -----------------------------------------------------------------------------


def test_a_self_ship_is_named(world: World) -> None:
    """The coop ships a lot to itself, receives it and mills it: the lot's proof runs
    through the self-ship."""
    c = chains.base(world)
    lot, green = f"{COOP}:h-1", f"{COOP}:g-1"
    h = c.harvest(COOP, lot, "100", M1, P1, form="parchment")
    ship = world.sign(
        COOP, {"type": "ship", "to": COOP, "claims": ["SPP"], "lots": [line(lot, h, "100")]}
    )
    receipt = world.sign(
        COOP,
        {
            "type": "receive",
            "shipment": ship.id,
            "lots": [{"lot": lot, "quantity": "100", "unit": "kg"}],
        },
    )
    mill = world.sign(
        COOP,
        {
            "type": "transform",
            "process": "dry-mill",
            "inputs": [line(lot, receipt.id, "100")],
            "outputs": [
                {"lot": green, "product": "coffee", "form": "green", "quantity": "80", "unit": "kg"}
            ],
        },
    )
    at, _, _ = smuggle(world, ship, receipt, mill)
    expected = Expected(ship.id, "rules", "a party does not ship to itself", at)
    report = verify_names(bundle_for(world.store, green), expected)
    assert any("InvalidEvent, field to" in f.message for f in report.findings if f.event == ship.id)
    audit_names(world.store, expected)


# --- 2. an impossible process -------------------------------------------------------------------


def test_an_impossible_process_is_named(world: World) -> None:
    """The roaster "packs" green coffee into roasted coffee: within the roast yield, but
    no packing makes roasted coffee."""
    c = chains.base(world)
    lot, roasted = f"{COOP}:h-1", f"{ROASTER}:r-1"
    h = c.harvest(COOP, lot, "100", M1, P1)
    rec = chains.to_roaster(c, COOP, lot, h, "100")
    forged = world.sign(
        ROASTER,
        {
            "type": "transform",
            "process": "pack",
            "inputs": [line(lot, rec, "100")],
            "outputs": [
                {
                    "lot": roasted,
                    "product": "coffee",
                    "form": "roasted",
                    "quantity": "80",
                    "unit": "kg",
                }
            ],
        },
    )
    (at,) = smuggle(world, forged)
    expected = Expected(
        forged.id, "rules", "process 'pack' does not make coffee roasted from green", at
    )
    verify_names(bundle_for(world.store, roasted), expected)
    audit_names(world.store, expected)


# --- 3. a key added to another party ------------------------------------------------------------


def _key_added_by_a_trader(world: World) -> tuple[Envelope, Envelope, list[int]]:
    """The exporter adds a key of its own to the coop, then signs "the coop's" harvest."""
    chains.base(world)
    own = seeded_key("andes-trading-shadow")
    key_add = world.sign(
        EXPORTER, {"type": "key.add", "subject": COOP, "public_key": public_b64(own)}
    )
    as_coop = forged_by(world, COOP, "andes-trading-shadow")
    harvest = as_coop.sign(
        harvest_body(f"{COOP}:h-x", "500", member=M1, plot=P1) | {"time": world.tick()}
    )
    return key_add, harvest, smuggle(world, key_add, harvest)


def test_a_key_added_to_another_party_is_named(world: World) -> None:
    key_add, harvest, (at_key, at_harvest) = _key_added_by_a_trader(world)
    added = Expected(
        key_add.id,
        "rules",
        f"key.add for {COOP!r} must be signed by {COOP!r} or the operator",
        at_key,
    )
    # the harvest does not count: its key was never registered to the coop
    signed = Expected(
        harvest.id, "signatures", "is not registered", at_harvest, audit_check="signature"
    )
    verify_names(bundle_for(world.store, f"{COOP}:h-x"), added, signed)
    audit_names(world.store, added, signed)


# --- 4. a key revoked by another party ----------------------------------------------------------


def test_a_key_revoked_by_another_party_is_named(world: World) -> None:
    """The exporter revokes the coop's key; the coop's later harvest still stands."""
    chains.base(world)
    revoke = world.sign(
        EXPORTER,
        {
            "type": "key.revoke",
            "subject": COOP,
            "keyid": world.chains[COOP].keyid,
            "reason": "compromised",
        },
    )
    harvest = world.sign(COOP, harvest_body(f"{COOP}:h-1", member=M1, plot=P1))
    at, _ = smuggle(world, revoke, harvest)
    expected = Expected(
        revoke.id,
        "rules",
        f"key.revoke for {COOP!r} must be signed by {COOP!r} or the operator"
        f" 'operator', not {EXPORTER!r}",
        at,
    )
    report = verify_names(bundle_for(world.store, f"{COOP}:h-1"), expected)
    no_finding(report, harvest.id)  # the revocation took no effect
    assert report.verdict is not None and report.verdict.certified_percent == 100
    no_finding(audit_names(world.store, expected), harvest.id)


# --- 5. a member made to leave by another SPO ---------------------------------------------------


def _member_left_by_another_spo(world: World) -> tuple[Envelope, Envelope, list[int]]:
    """The other SPO records that the coop's member left; the coop's member delivers."""
    chains.base(world)
    leave = world.sign(COOP2, {"type": "member.leave", "member": M1, "until": "2026-01-31"})
    harvest = world.sign(COOP, harvest_body(f"{COOP}:h-1", member=M1, plot=P1))
    return leave, harvest, smuggle(world, leave, harvest)


def test_a_member_leave_by_another_spo_is_named(world: World) -> None:
    leave, harvest, (at, _) = _member_left_by_another_spo(world)
    expected = Expected(
        leave.id, "rules", f"member {M1!r} was enrolled by {COOP!r}, not {COOP2!r}", at
    )
    report = verify_names(bundle_for(world.store, f"{COOP}:h-1"), expected)
    no_finding(report, harvest.id)  # to the rules the member never left
    no_finding(audit_names(world.store, expected), harvest.id)


# --- 6. a party registered by someone else than the operator ------------------------------------


def test_a_party_registered_by_another_party_is_named(world: World) -> None:
    """The exporter registers a producer whose key it holds, and harvests as it."""
    chains.base(world)
    shadow = "finca-sombra"
    register = world.sign(
        EXPORTER,
        {
            "type": "party.register",
            "subject": shadow,
            "name": "Finca Sombra",
            "roles": ["producer"],
            "country": "PE",
            "public_key": public_b64(seeded_key(shadow)),
        },
    )
    harvest = forged_by(world, shadow, shadow).sign(
        harvest_body(f"{shadow}:h-1", "500") | {"time": world.tick()}
    )
    at, at_harvest = smuggle(world, register, harvest)
    registered = Expected(
        register.id,
        "rules",
        f"only the operator 'operator' registers parties, not {EXPORTER!r}",
        at,
    )
    signed = Expected(
        harvest.id, "signatures", "is not registered", at_harvest, audit_check="signature"
    )
    verify_names(bundle_for(world.store, f"{shadow}:h-1"), registered, signed)
    audit_names(world.store, registered, signed)


# --- 7. a certificate outside its validity -----------------------------------------------------


def _claim_certified(verdict: dict[str, Any]) -> dict[str, Any]:
    """The verdict as the operator claims it: every share certified."""
    claim = copy.deepcopy(verdict)
    kg = f"{Decimal(claim['kg']):.3f}"
    claim.update(
        certified=True, certified_fraction="1/1", certified_percent="100.00", certified_kg=kg
    )
    claim["summary"].update(certified_percent="100.00", certified_kg=kg, reasons=[])
    for share in claim["shares"]:
        share.update(certified=True, reasons=[])
    return claim


@pytest.mark.parametrize(
    ("valid_from", "valid_until", "why"),
    [
        ("2025-01-01", "2026-02-28", "expired on 2026-02-28"),
        ("2026-06-01", "2027-12-31", "was not yet valid (2026-06-01)"),
    ],
    ids=["expired", "not-yet-valid"],
)
def test_a_harvest_outside_its_certificate_cannot_be_claimed_certified(
    world: World, valid_from: str, valid_until: str, why: str
) -> None:
    """A lawful harvest (dated 2026-03-01) the certificate does not cover: the forgery is
    the bundle's claim that it is certified, which the verifier recomputes and refuses.
    There are no forged bytes for the audit to find; it finds the ledger clean."""
    c = chains.Coffee(world)
    c.party(COOP, ["spo"])
    c.party(CERTIFIER, ["certifier"], "DE")
    c.certify(COOP, "SPP-PE-1", valid_from=valid_from, valid_until=valid_until)
    c.enroll(COOP, M1, P1, "2.4")
    lot = f"{COOP}:h-1"
    h = c.harvest(COOP, lot, "100", M1, P1)
    honest = build_bundle(world.store, lot)
    assert honest["verdict"]["certified_percent"] == "0.00"
    assert verify_bundle(honest, TRUSTED).ok
    forged = dict(honest, verdict=_claim_certified(honest["verdict"]))
    report = verify_bundle(json.loads(json.dumps(forged)), TRUSTED)
    assert [f.check for f in report.findings] == ["verdict"]
    assert report.findings[0].message.startswith(
        "the claimed verdict differs from the one the events give:"
    )
    assert (
        'verdict.certified_percent: claimed "100.00", recomputed "0.00"'
        in report.findings[0].message
    )
    assert report.verdict is not None and report.verdict.certified_percent == 0
    ((share,),) = [report.verdict.shares]
    assert [(r.code, r.event) for r in share.reasons] == [("certificate", h)]
    assert why in share.reasons[0].message
    assert audit(world.store, log_key=TRUSTED).ok


def test_a_certificate_valid_until_before_valid_from_is_named(world: World) -> None:
    """The certifier issues the coop a certificate that ends before it starts."""
    c = chains.base(world)
    c.harvest(COOP, f"{COOP}:h-1", "100", M1, P1)
    inverted = world.sign(
        CERTIFIER,
        {
            "type": "cert.issue",
            "certificate": "SPP-PE-9",
            "subject": COOP,
            "scheme": "SPP",
            "products": ["coffee"],
            "valid_from": "2027-01-01",
            "valid_until": "2025-01-01",
        },
    )
    (at,) = smuggle(world, inverted)
    expected = Expected(
        inverted.id, "rules", "valid_until 2025-01-01 is before valid_from 2027-01-01", at
    )
    report = verify_names(bundle_for(world.store, f"{COOP}:h-1"), expected)
    assert any("InvalidEvent, field valid_until" in f.message for f in report.findings)
    audit_names(world.store, expected)


# --- the recomputed verdict and the events the rules refused ----------------------------------


@pytest.mark.parametrize(
    ("scenario", "lot", "certified"),
    [
        (_key_added_by_a_trader, f"{COOP}:h-x", 0),
        (_member_left_by_another_spo, f"{COOP}:h-1", 100),
    ],
    ids=["refused-harvest-counted", "refused-leave-counted"],
)
def test_the_recomputed_verdict_ignores_refused_events(
    sqlite_world: World, scenario: Any, lot: str, certified: int
) -> None:
    """Scenario 3's harvest must not count; scenario 5's leave must not uncount one.

    ``report.verdict`` is what `trazo verify` prints: it is recomputed from the events
    the rules admit, never from one they refused (each of which is also a finding)."""
    forged, _, _ = scenario(sqlite_world)
    report = verify_bundle(bundle_for(sqlite_world.store, lot), TRUSTED)
    assert any(f.event == forged.id for f in report.findings)
    assert report.verdict is None or report.verdict.certified_percent == certified


# --- conservation: an overspend through the whole verifier ---------------------------------------


def test_an_overspend_is_a_conservation_finding(world: World) -> None:
    """The exporter, holding 46 kg, ships 100; the roaster receives and roasts them."""
    c = chains.base(world)
    lot, roasted = f"{COOP}:h-1", f"{ROASTER}:r-1"
    h = c.harvest(COOP, lot, "46", M1, P1)
    at_exporter = c.move(COOP, EXPORTER, lot, h, "46")
    ship = world.sign(
        EXPORTER,
        {"type": "ship", "to": ROASTER, "claims": ["SPP"], "lots": [line(lot, at_exporter, "100")]},
    )
    receipt = world.sign(
        ROASTER,
        {
            "type": "receive",
            "shipment": ship.id,
            "lots": [{"lot": lot, "quantity": "100", "unit": "kg"}],
        },
    )
    roast = world.sign(
        ROASTER,
        {
            "type": "transform",
            "process": "roast",
            "inputs": [line(lot, receipt.id, "100")],
            "outputs": [
                {
                    "lot": roasted,
                    "product": "coffee",
                    "form": "roasted",
                    "quantity": "80",
                    "unit": "kg",
                }
            ],
        },
    )
    at, _, _ = smuggle(world, ship, receipt, roast)
    says = f"{EXPORTER!r} holds 46 kg of lot {lot!r} through event {at_exporter}"
    report = verify_names(bundle_for(world.store, roasted), Expected(ship.id, "conservation", says))
    assert any(
        "InsufficientQuantity" in f.message and "asks for 100 kg" in f.message
        for f in report.findings
        if f.event == ship.id
    )
    audit_names(world.store, Expected(ship.id, "rules", says, at))
