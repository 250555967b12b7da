"""Evidence: a set of signed events and the facts they state, read from their payloads.

The origin verdict is computed from evidence alone, so the server (reading the events
out of its database) and an offline verifier (reading them out of a proof bundle) run
the same code on the same bytes. Nothing here touches a database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property
from typing import Any, Protocol

from ledger.certificates import Certificate
from ledger.conservation import Amount
from ledger.envelope import Envelope
from ledger.errors import InvalidEvent
from ledger.payload import Event, parse_payload
from ledger.rules import EVENT_TYPES, typed_body

VOCABULARY = EVENT_TYPES
"""Schema 1's event types: the ledger's own rule modules (which import no store)."""

CUSTODY_TYPES = frozenset({"harvest", "transform", "ship", "receive", "dispose"})


@dataclass(frozen=True)
class Record:
    """One event as evidence: its ledger index and the parsed, signed payload."""

    index: int
    event: Event

    @property
    def id(self) -> str:
        return self.event.id

    @property
    def type(self) -> str:
        return self.event.type

    @property
    def party(self) -> str:
        return self.event.party

    @property
    def body(self) -> dict[str, Any]:
        return self.event.body

    @property
    def day(self) -> date:
        """The calendar date of the event in its own offset (how the signer dated it)."""
        return self.event.time.date()

    @property
    def time(self) -> datetime:
        return self.event.time

    @cached_property
    def typed(self) -> Any:
        """The payload's own fields as the event type's typed body (``ledger.rules``):
        what every reader of evidence reads, instead of the raw dict. ``InvalidEvent``
        for a body the rules refuse (only in a forged bundle)."""
        return typed_body(self.type, self.body, self.party)


@dataclass(frozen=True)
class Reference:
    """A custody reference: ``child`` consumes ``kg`` of ``lot`` through ``parent``."""

    child: str
    parent: str
    lot: str
    kg: Decimal


@dataclass(frozen=True)
class PartyFacts:
    id: str
    name: str
    roles: frozenset[str]
    country: str
    event: str


@dataclass(frozen=True)
class MemberFacts:
    id: str
    spo: str
    since: date
    until: date | None
    products: frozenset[str]
    plots: dict[str, Decimal]
    event: str


@dataclass
class Evidence:
    """Events by id, with the master data they state (parties, members, certificates)."""

    records: dict[str, Record] = field(default_factory=dict)
    _creators: dict[str, Record] | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_envelopes(cls, items: Iterable[tuple[int, Envelope]]) -> Evidence:
        evidence = cls()
        for index, envelope in items:
            evidence.add(Record(index, parse_payload(envelope, VOCABULARY)))
        return evidence

    def add(self, record: Record) -> None:
        self.records[record.id] = record
        self._creators = None

    def __contains__(self, event_id: object) -> bool:
        return event_id in self.records

    def __iter__(self) -> Iterator[Record]:
        return iter(sorted(self.records.values(), key=lambda r: r.index))

    def get(self, event_id: str) -> Record | None:
        return self.records.get(event_id)

    def only(self, keep: Callable[[Record], bool]) -> Evidence:
        """The evidence without the records ``keep`` rejects."""
        return Evidence({k: r for k, r in self.records.items() if keep(r)})

    def of_type(self, *types: str) -> Iterator[Record]:
        return (r for r in self if r.type in types)

    def typed(self, *types: str) -> Iterator[tuple[Record, Any]]:
        """(record, typed body) of the events of ``types`` whose bodies the rules read;
        a malformed one (only in a forged bundle, where the rules report it) states
        nothing."""
        for record in self.of_type(*types):
            try:
                yield record, record.typed
            except InvalidEvent:
                continue

    # --- custody ------------------------------------------------------------------------

    def references(self, record: Record) -> list[Reference]:
        """The custody references a custody event makes, with quantities in kg (none for
        a malformed body: the rules report it)."""
        if record.type not in ("transform", "ship", "dispose", "receive"):
            return []
        try:
            body = record.typed
        except InvalidEvent:
            return []
        if record.type == "receive":
            return [
                Reference(record.id, body.shipment, line.lot, line.amount.kg) for line in body.lots
            ]
        lines = (
            body.inputs
            if record.type == "transform"
            else body.lots
            if record.type == "ship"
            else (body.line,)
        )
        return [Reference(record.id, line.via, line.lot, line.amount.kg) for line in lines]

    def creator(self, lot: str) -> Record | None:
        """The harvest or transform that created ``lot``, if it is in the evidence."""
        if self._creators is None:  # indexed once: verifiers ask for every input lot
            self._creators = {}
            for record, _ in self.typed("harvest", "transform"):
                for created in created_lots(record):
                    self._creators.setdefault(created, record)
        return self._creators.get(lot)

    def ancestry(self, lot: str) -> set[str]:
        """The event that created ``lot`` and every event it builds on, transitively, as
        far as the evidence holds them (ids of missing parents are included)."""
        found: set[str] = set()
        creator = self.creator(lot)
        stack = [creator.id] if creator else []
        while stack:
            event_id = stack.pop()
            if event_id in found:
                continue
            found.add(event_id)
            record = self.get(event_id)
            if record is not None:
                stack.extend(ref.parent for ref in self.references(record))
        return found

    def voided(self) -> dict[str, Record]:
        """Voided event id → the void event that declared it erroneous."""
        return {body.event: r for r, body in self.typed("void")}

    # --- master data --------------------------------------------------------------------

    def parties(self) -> dict[str, PartyFacts]:
        out = {}
        for r, body in self.typed("party.register"):
            out[body.subject] = PartyFacts(
                body.subject, body.name, frozenset(body.roles), body.country, r.id
            )
        return out

    def members(self) -> dict[str, MemberFacts]:
        """Members as enrolled; a leave counts unless it was voided (as the ledger undid
        it), and a voided enrolment enrolled no one."""
        voided = self.voided()
        left = {
            body.member: body.until for r, body in self.typed("member.leave") if r.id not in voided
        }
        out = {}
        for r, body in self.typed("member.enroll"):
            if r.id in voided:
                continue
            out[body.member] = MemberFacts(
                id=body.member,
                spo=r.party,
                since=body.since,
                until=left.get(body.member),
                products=frozenset(body.products),
                plots={p.plot: p.area_ha for p in body.plots},
                event=r.id,
            )
        return out

    def certificates(self) -> list[Certificate]:
        voided = self.voided()
        revoked = {
            body.certificate: r for r, body in self.typed("cert.revoke") if r.id not in voided
        }
        out = []
        for r, body in self.typed("cert.issue"):
            if r.id in voided:
                continue
            rev = revoked.get(body.certificate)
            out.append(
                Certificate(
                    id=body.certificate,
                    certifier=r.party,
                    subject=body.subject,
                    scheme=body.scheme,
                    products=frozenset(body.products),
                    valid_from=body.valid_from,
                    valid_until=body.valid_until,
                    event=r.id,
                    revoked_at=rev.time if rev else None,
                    revoked_by=rev.id if rev else None,
                )
            )
        return out


class CreatedLot(Protocol):
    """A lot as its harvest or transform output created it."""

    @property
    def lot(self) -> str: ...
    @property
    def product(self) -> str: ...
    @property
    def form(self) -> str: ...
    @property
    def amount(self) -> Amount: ...


def created_lots(record: Record) -> dict[str, CreatedLot]:
    """Lots a harvest or transform creates: lot id → how it was created."""
    if record.type == "harvest":
        return {record.typed.lot: record.typed}
    if record.type == "transform":
        return {o.lot: o for o in record.typed.outputs}
    return {}
