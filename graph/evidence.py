"""Evidence: a set of signed events and the facts they state, read from their payloads.

The origin verdict is computed from evidence alone, so the server (reading the events
out of its database) and an offline verifier (reading them out of a proof bundle) run
the same code on the same bytes. Nothing here touches a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ledger import tables
from ledger.certificates import Certificate
from ledger.envelope import Envelope
from ledger.payload import Event, parse_payload
from ledger.rules import EVENT_TYPES

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
    _creators: dict[str, Record] | None = field(default=None, init=False, repr=False,
                                                compare=False)

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

    def of_type(self, *types: str) -> Iterator[Record]:
        return (r for r in self if r.type in types)

    # --- custody ------------------------------------------------------------------------

    def references(self, record: Record) -> list[Reference]:
        """The custody references a custody event makes, with quantities in kg."""
        body = record.body
        if record.type in ("transform",):
            lines = body.get("inputs", [])
        elif record.type == "ship":
            lines = body.get("lots", [])
        elif record.type == "dispose":
            lines = [body]
        elif record.type == "receive":
            return [
                Reference(record.id, body["shipment"], line["lot"], line_kg(line))
                for line in body.get("lots", [])
            ]
        else:
            return []
        return [Reference(record.id, line["event"], line["lot"], line_kg(line)) for line in lines]

    def creator(self, lot: str) -> Record | None:
        """The harvest or transform that created ``lot``, if it is in the evidence."""
        if self._creators is None:  # indexed once: verifiers ask for every input lot
            self._creators = {}
            for record in self.of_type("harvest", "transform"):
                for created in created_lots(record):
                    self._creators.setdefault(created, record)
        return self._creators.get(lot)

    def voided(self) -> dict[str, Record]:
        """Voided event id → the void event that declared it erroneous."""
        return {r.body["event"]: r for r in self.of_type("void")}

    # --- master data --------------------------------------------------------------------

    def parties(self) -> dict[str, PartyFacts]:
        return {
            r.body["subject"]: PartyFacts(r.body["subject"], r.body["name"],
                                          frozenset(r.body["roles"]), r.body["country"], r.id)
            for r in self.of_type("party.register")
        }

    def members(self) -> dict[str, MemberFacts]:
        left = {r.body["member"]: date.fromisoformat(r.body["until"])
                for r in self.of_type("member.leave")}
        out = {}
        for r in self.of_type("member.enroll"):
            body = r.body
            out[body["member"]] = MemberFacts(
                id=body["member"], spo=r.party, since=date.fromisoformat(body["since"]),
                until=left.get(body["member"]), products=frozenset(body["products"]),
                plots={p["plot"]: Decimal(p["area_ha"]) for p in body["plots"]}, event=r.id,
            )
        return out

    def certificates(self) -> list[Certificate]:
        voided = self.voided()
        revoked = {r.body["certificate"]: r for r in self.of_type("cert.revoke")
                   if r.id not in voided}
        out = []
        for r in self.of_type("cert.issue"):
            if r.id in voided:
                continue
            body = r.body
            rev = revoked.get(body["certificate"])
            out.append(Certificate(
                id=body["certificate"], certifier=r.party, subject=body["subject"],
                scheme=body["scheme"], products=frozenset(body["products"]),
                valid_from=date.fromisoformat(body["valid_from"]),
                valid_until=date.fromisoformat(body["valid_until"]), event=r.id,
                revoked_at=rev.time if rev else None, revoked_by=rev.id if rev else None,
            ))
        return out


def created_lots(record: Record) -> dict[str, dict[str, Any]]:
    """Lots a harvest or transform creates: lot id → its line (product, form, quantity)."""
    if record.type == "harvest":
        return {record.body["lot"]: record.body}
    if record.type == "transform":
        return {o["lot"]: o for o in record.body["outputs"]}
    return {}


def line_kg(line: dict[str, Any]) -> Decimal:
    """A signed quantity line (``quantity`` + ``unit``) in kilograms."""
    return tables.to_kg(Decimal(line["quantity"]), line["unit"])
