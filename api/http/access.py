"""Who reads what: the one place the API decides it.

Every view that serves ledger data asks this module first; nothing else in the API
filters by caller. The policy (also in the README, "Who reads what"):

- **anyone**: the log, the parties directory (public master data), health, the API
  document, events of the public types (``PUBLIC_TYPES``: registrations, keys,
  certificates, publications, price lists), payments every signer disclosed, and a lot
  its holder has *published* (``lot.publish``): its page, JSON-LD, QR codes, bundle,
  upstream trace and origin verdict;
- **a party** (signed in with one of its keys, ``api.http.sessions``): the events it
  signed and the events that name it (``ledger.records.EventParty``: a shipment to it, a
  receipt of its shipment, a certificate or grant about it, a void of any of these), the
  lots it created, holds, held or has in transit, its mass balance and EUDR reports, its
  keys' chain heads, and the geometry of plots it mapped; never another party's;
- **a granted auditor or certifier** (``grant.issue``): besides its own, what the grant's
  subject reads, while the grant is valid (from ``valid_from`` to ``valid_until``, UTC
  days, unless revoked); a grant of the whole ledger (subject ``*``) reads everything;
- **the operator** (the configured operator token, or a session of the operator party):
  everything, including what only the whole ledger shows (downstream traces, trace
  exports).

A refused read is indistinguishable from a missing thing: the same ``NotFound`` (404).
Only a malformed, unknown or expired credential is a 401.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app, g, request
from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true

from api.http.context import store
from api.http.errors import InvalidToken, SignInRequired
from graph.page import is_published
from ledger import query
from ledger.errors import EventNotFound, KeyNotFound, LotNotFound, PartyNotFound
from ledger.query import get_operator
from ledger.rules.grant_issue import WHOLE_LEDGER
from ledger.schema import (
    EventPartyRow,
    EventRow,
    GrantRow,
    HoldingRow,
    KeyRow,
    LotRow,
    PartyRow,
    PaymentRow,
    ShipmentLotRow,
    ShipmentRow,
)

PUBLIC_TYPES = frozenset(
    {
        "party.register",
        "key.add",
        "key.revoke",
        "cert.issue",
        "cert.revoke",
        "lot.publish",
        "price.list",
    }
)
"""Events anyone reads: the master data every verifier needs, and what is published."""


def _disclosed_payments() -> ColumnElement[bool]:
    """A payment and its confirmation that every signer disclosed (``"disclose": true``),
    or a member payment its SPO disclosed: public like a publication. An undisclosed one
    follows its parties' read access like any other event."""
    disclosed = select(PaymentRow.id).where(PaymentRow.disclosed.is_(True))
    answers = select(PaymentRow.answer_event).where(
        PaymentRow.disclosed.is_(True), PaymentRow.answer_event.is_not(None)
    )
    return or_(EventRow.id.in_(disclosed), EventRow.id.in_(answers))


@dataclass(frozen=True)
class Caller:
    """Who is asking, and what they may read: anonymous (no party, nothing beyond the
    public), a party's session, or the operator's token (everything, no party)."""

    party: str | None = None
    session: str | None = None
    everything: bool = False
    """Reads the whole ledger: the operator, or a grant of the whole ledger."""
    parties: frozenset[str] = frozenset()
    """Whose data it reads: its own party and the subjects of its valid grants."""

    def reads_party(self, party_id: str) -> bool:
        return self.everything or party_id in self.parties


ANONYMOUS = Caller()


def caller() -> Caller:
    """The request's caller, from its ``Authorization`` header (once per request)."""
    found: Caller | None = g.get("trazo_caller")
    if found is None:
        found = g.trazo_caller = _identify(request.headers.get("Authorization"))
    return found


def identify() -> None:
    """``before_request`` (after the request budget): check the credential on every path,
    so a bad token is a 401 wherever it is sent, public paths included."""
    if carries_credential():
        caller()


def carries_credential() -> bool:
    """Whether this request's credential is to be checked: it sends one, on a path that
    looks at it, of a ledger that has sessions to look up (a genesis)."""
    return bool(
        request.headers.get("Authorization") is not None
        and request.path not in UNCHECKED
        and current_app.extensions.get("trazo.has_genesis")
    )


UNCHECKED = frozenset({"/api/v1/health"})
"""Paths that never look at a credential (a load balancer's probe)."""


def _identify(header: str | None) -> Caller:
    if header is None:
        return ANONYMOUS
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise InvalidToken("the Authorization header must be `Bearer <token>`")
    configured = current_app.config.get("TRAZO_READ_TOKEN")
    if configured and hmac.compare_digest(token.encode(), str(configured).encode()):
        return Caller(everything=True)
    from api.http.sessions import session_party

    party, session_id = session_party(token)
    return party_caller(party, session_id)


def party_caller(party: str, session_id: str | None = None) -> Caller:
    """A signed-in party: its own data, plus what its valid grants name, today."""
    today = datetime.now(UTC).date().isoformat()
    ledger = store()
    if party == get_operator(ledger):
        return Caller(party, session_id, everything=True, parties=frozenset({party}))
    with ledger.reading() as session:
        subjects = set(
            session.scalars(
                select(GrantRow.subject).where(
                    GrantRow.grantee == party,
                    GrantRow.valid_from <= today,
                    GrantRow.valid_until >= today,
                    GrantRow.revoked_time.is_(None),  # over once grant.revoke is in the ledger
                )
            )
        )
    everything = WHOLE_LEDGER in subjects
    subjects.discard(WHOLE_LEDGER)
    return Caller(party, session_id, everything, frozenset({party, *subjects}))


def require_party() -> Caller:
    """The caller, who must be signed in as a party (``SignInRequired`` otherwise)."""
    who = caller()
    if who.party is None:
        raise SignInRequired("sign in first: POST /api/v1/sessions with a signed challenge")
    return who


# --- events ---------------------------------------------------------------------------------


def visible_events(who: Caller | None = None) -> ColumnElement[bool]:
    """The SQL condition on ``events`` that keeps exactly what ``who`` may read."""
    who = who or caller()
    if who.everything:
        return true()
    public = or_(EventRow.type.in_(sorted(PUBLIC_TYPES)), _disclosed_payments())
    if not who.parties:
        return public
    parties = sorted(who.parties)
    named = select(EventPartyRow.event).where(EventPartyRow.party.in_(parties))
    return or_(public, EventRow.party.in_(parties), EventRow.id.in_(named))


def readable_event(event_id: str) -> EventRow:
    """The stored event, if the caller may read it; ``EventNotFound`` either way."""
    row = query.get_event(store(), event_id, visible=visible_events())
    if row is None:
        raise EventNotFound(f"no event {event_id} in the ledger")
    return row


# --- lots -----------------------------------------------------------------------------------


def _lot_is_theirs(lot: str, parties: list[str]) -> ColumnElement[bool]:
    held = exists().where(HoldingRow.lot == lot, HoldingRow.party.in_(parties))
    shipped = exists().where(
        ShipmentLotRow.lot == lot,
        ShipmentRow.id == ShipmentLotRow.shipment,
        or_(ShipmentRow.shipper.in_(parties), ShipmentRow.receiver.in_(parties)),
    )
    return or_(LotRow.party.in_(parties), held, shipped)


def readable_lot(lot: str, *, whole_ledger: bool = False, public: bool = True) -> Caller:
    """Check the caller may read ``lot``'s upstream (its provenance): it is published, or
    the caller created, holds, held or was shipped it, or reads everything. With
    ``whole_ledger`` (downstream traces, trace exports), only a whole-ledger reader may.
    ``LotNotFound`` for a lot the caller may not read, as for one that does not exist.
    ``public=False``: publishing does not open it (the EUDR report, which describes the
    plots' private maps, stays with the lot's parties)."""
    who = caller()
    if public and not whole_ledger and is_published(store(), lot):
        return who
    condition: ColumnElement[bool]
    if who.everything:
        condition = true()
    elif whole_ledger or not who.parties:
        condition = false()
    else:
        condition = _lot_is_theirs(lot, sorted(who.parties))
    with store().reading() as session:
        found = session.scalar(select(LotRow.id).where(and_(LotRow.id == lot, condition)))
    if found is None:
        raise LotNotFound(f"no lot {lot!r} in the ledger", lot=lot)
    return who


def lot_view(view: dict[str, Any], who: Caller) -> dict[str, Any]:
    """A lot's JSON with only the holdings and shipments of parties the caller reads."""
    if who.everything:
        return view
    parties = sorted(who.parties)
    losses = [x["shipment"] for x in view["transit_losses"]]
    with store().reading() as session:
        theirs = set(
            session.scalars(
                select(ShipmentRow.id).where(
                    ShipmentRow.id.in_(losses),
                    or_(ShipmentRow.shipper.in_(parties), ShipmentRow.receiver.in_(parties)),
                )
            )
        )
    return {
        **view,
        "holders": [h for h in view["holders"] if h["party"] in who.parties],
        "in_transit": [
            t for t in view["in_transit"] if t["from"] in who.parties or t["to"] in who.parties
        ],
        "transit_losses": [x for x in view["transit_losses"] if x["shipment"] in theirs],
        "disposed_kg": None,  # all holders' together: another party's books
        "consumed_kg": None,
    }


# --- a party's own data ---------------------------------------------------------------------


def readable_party_data(party_id: str) -> Caller:
    """Check the caller reads ``party_id``'s own data (mass balance, holdings, shipments,
    audit page); ``PartyNotFound`` otherwise, as for a party that is not registered."""
    who = caller()
    if who.reads_party(party_id):
        with store().reading() as session:
            if session.get(PartyRow, party_id) is not None:
                return who
    raise PartyNotFound(f"no party {party_id!r} is registered")


def readable_key(keyid: str) -> None:
    """Check the caller reads the key's chain head: it reads the key's party's data."""
    with store().reading() as session:
        party = session.scalar(select(KeyRow.party).where(KeyRow.keyid == keyid))
    if party is None or not caller().reads_party(party):
        raise KeyNotFound(f"no key {keyid} is registered")


def readable_geometry(lot: str, spos: set[str]) -> None:
    """Check the caller reads the exact geometry of plots mapped by ``spos``: only the
    SPO that mapped a plot and those who read its data (grants, the operator)."""
    who = caller()
    if not all(who.reads_party(spo) for spo in spos):
        raise LotNotFound(f"no lot {lot!r} in the ledger", lot=lot)
