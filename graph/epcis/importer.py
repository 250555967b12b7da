"""``trazo epcis import``: an EPCIS document becomes signed events in the signer's outbox.

A straight pipeline: read the document; validate it against the EPCIS 2.0.1 JSON Schema
(formats checked); convert each event (``mapping.from_epcis``), asking the ledger through
which event the signer holds a lot and which shipment a receipt acknowledges; skip the
ones already imported (same CBV 2.0 hash); sign the rest in the key's outbox as one batch,
and let the ledger's dry run (``POST /events/check``'s pipeline: every custody rule)
judge them all before anything is queued. A refused or unconvertible event is reported
with its index in the document, its ``eventID`` and why; then nothing is queued, unless
``partial`` says to queue the others.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import select

from graph.epcis.document import events_of, validate
from graph.epcis.hashing import NOT_HASHED, event_hash, pre_hash
from graph.epcis.ledger import epcis_event_id
from graph.epcis.mapping import (
    CONTEXT,
    Imported,
    Naming,
    Unexpressible,
    business_content,
    from_epcis,
    to_epcis,
)
from ledger import tables
from ledger.envelope import Envelope
from ledger.errors import ClientError, UnknownKey
from ledger.outbox import PENDING, BatchRefused, Ledger, Outbox
from ledger.schema import HoldingRow, KeyRow, PartyRow, ShipmentLotRow, ShipmentRow
from ledger.store import Store

REASONS = {
    "unsupported-event-type": "AggregationEvent, TransactionEvent, AssociationEvent: trazo"
    " records custody of lots, not packing hierarchies, document links or associations",
    "serialized-items": "epcList, parentID, childEPCs, input/outputEPCList: trazo follows"
    " lots by mass, not serialised items",
    "unsupported-field": "a field trazo has no place for (readPoint, sensorElementList,"
    " persistentDisposition, another party's certificationInfo, a foreign extension…):"
    " refused, never dropped",
    "unsupported-business-step": "an action and bizStep trazo does not map",
    "no-quantity": "a quantity list that is missing or states no quantity",
    "not-a-mass": "a unit of measure that is not a mass",
    "no-lot": "an EPC class that names no lot (a trade item without a batch, a pattern)",
    "unknown-party": "a GLN or URI naming no party of the ledger",
    "not-the-signer": "an event of another party (another shipper, receiver or location):"
    " each party imports only its own events",
    "no-holding": "no single event gives the signer enough of the lot",
    "no-shipment": "no shipment in transit to the signer carries the lots received",
    "missing-master-data": "product, form or process the event does not state",
    "unknown-voided-event": "an error declaration on an event never imported (nor exported"
    " by trazo with that hash)",
    "not-canonical": "trazo would write the event differently (the fields named differ), so"
    " its CBV 2.0 hash would not survive the round trip",
    "refused": "the ledger's custody rules refuse the event (the ledger's own error)",
}
"""Why an event is not imported: the documented list (docs/epcis.md)."""


@dataclass(frozen=True)
class Rejection:
    index: int
    event_id: str | None
    reason: str
    detail: str

    def line(self) -> str:
        named = f" ({self.event_id})" if self.event_id else ""
        return f"{self.index}{named}: {self.reason}: {self.detail}"


@dataclass
class ImportReport:
    queued: list[tuple[int, str, str]] = field(default_factory=list)
    """(index in the document, CBV 2.0 hash, trazo event id) of each event queued."""
    duplicates: list[tuple[int, str, str]] = field(default_factory=list)
    """(index, hash, the event it was imported as) of each event skipped as a duplicate."""
    rejected: list[Rejection] = field(default_factory=list)


@dataclass
class _Held:
    party: str
    lot: str
    via: str
    kg: Decimal


class LedgerReads(Protocol):
    """What an import asks the ledger: a database (:class:`StoreReads`) or a trazo server
    read as the importing party (``api.cli.epcis``)."""

    def glns(self) -> dict[str, str]:
        """Each party's GLN, where it registered one."""

    def holdings(self, party: str, lot: str) -> list[tuple[str, Decimal]]:
        """(event, kg left) through which ``party`` holds ``lot``, oldest first."""

    def in_transit_to(self, receiver: str) -> list[tuple[str, str, frozenset[str]]]:
        """(shipment, shipper, lots) of the shipments in transit to ``receiver``, oldest
        first."""

    def exports(self, event_id: str, epcis_hash: str, naming: Naming) -> bool:
        """Whether the ledger's event ``event_id`` is exported with this CBV 2.0 hash."""

    def shipper_of(self, shipment: str) -> str | None: ...

    def party_of_key(self, keyid: str) -> str | None: ...

    def genesis(self) -> str | None: ...


@dataclass
class StoreReads:
    """:class:`LedgerReads` over a ledger database (a replica will do)."""

    store: Store

    def glns(self) -> dict[str, str]:
        with self.store.reading() as session:
            rows = session.execute(select(PartyRow.id, PartyRow.identifiers)).all()
        found = {party: json.loads(identifiers).get("gln") for party, identifiers in rows}
        return {party: gln for party, gln in found.items() if gln}

    def holdings(self, party: str, lot: str) -> list[tuple[str, Decimal]]:
        with self.store.reading() as session:
            rows = session.execute(
                select(HoldingRow.via, HoldingRow.kg)
                .where(HoldingRow.party == party, HoldingRow.lot == lot)
                .order_by(HoldingRow.time)
            ).all()
        return [(str(via), kg) for via, kg in rows]

    def in_transit_to(self, receiver: str) -> list[tuple[str, str, frozenset[str]]]:
        query = select(ShipmentRow.id, ShipmentRow.shipper).where(
            ShipmentRow.receiver == receiver, ShipmentRow.status == "in-transit"
        )
        with self.store.reading() as session:
            out = []
            for shipment, shipper in session.execute(query.order_by(ShipmentRow.time)).all():
                lots = session.scalars(
                    select(ShipmentLotRow.lot).where(ShipmentLotRow.shipment == shipment)
                )
                out.append((str(shipment), str(shipper), frozenset(lots)))
        return out

    def exports(self, event_id: str, epcis_hash: str, naming: Naming) -> bool:
        return epcis_event_id(self.store, event_id, naming) == epcis_hash

    def shipper_of(self, shipment: str) -> str | None:
        with self.store.reading() as session:
            return session.scalar(select(ShipmentRow.shipper).where(ShipmentRow.id == shipment))

    def party_of_key(self, keyid: str) -> str | None:
        with self.store.reading() as session:
            return session.scalar(select(KeyRow.party).where(KeyRow.keyid == keyid))

    def genesis(self) -> str | None:
        return self.store.genesis_id()


@dataclass
class LedgerResolver:
    """What the ledger knows, plus what the key's outbox and this document's earlier
    events give and take."""

    reads: LedgerReads
    outbox: Outbox
    naming: Naming
    created: list[_Held] = field(default_factory=list)
    spent: dict[tuple[str, str, str], Decimal] = field(default_factory=dict)
    received: set[str] = field(default_factory=set)
    _parties: dict[str, str] | None = None

    def party_by_gln(self, gln: str) -> str | None:
        if self._parties is None:
            self._parties = {g: party for party, g in self.reads.glns().items()}
        return self._parties.get(gln)

    def holding(self, party: str, lot: str, kg: Decimal) -> str | None:
        candidates = dict(self.reads.holdings(party, lot))  # the ledger's, where it has it
        for h in self.created:
            if h.party == party and h.lot == lot:
                candidates.setdefault(h.via, h.kg)
        for via, held in candidates.items():
            if held - self.spent.get((party, lot, via), Decimal(0)) >= kg:
                return str(via)
        return None

    def shipment(self, receiver: str, shipper: str | None, lots: list[str]) -> str | None:
        for shipment, sender, carried in self.reads.in_transit_to(receiver):
            if shipper is not None and sender != shipper:
                continue
            if shipment not in self.received and set(lots) <= carried:
                return shipment
        return None

    def imported(self, epcis_hash: str) -> str | None:
        return self.outbox.imported(epcis_hash)

    def shipper_of(self, shipment: str) -> str | None:
        return self.reads.shipper_of(shipment)

    def exported(self, event_id: str, epcis_hash: str) -> bool:
        return self.reads.exports(event_id, epcis_hash, self.naming)

    def note(self, imported: Imported, envelope: Envelope) -> None:
        """Remember what an event of this document gives and takes, for the next ones."""
        self.note_payload(imported.payload, envelope.id)

    def note_outbox(self) -> None:
        """What the key's pending events (signed, not yet in the ledger) give and take."""
        for entry in self.outbox.entries(PENDING):
            self.note_payload(entry.payload, entry.id)

    def note_payload(self, p: dict[str, Any], event_id: str) -> None:
        party = str(p["party"])
        kg = tables.unit_table()
        if p["type"] == "harvest":
            amount = Decimal(p["quantity"]) * kg[p["unit"]]
            self.created.append(_Held(party, p["lot"], event_id, amount))
        elif p["type"] == "transform":
            for o in p["outputs"]:
                amount = Decimal(o["quantity"]) * kg[o["unit"]]
                self.created.append(_Held(party, o["lot"], event_id, amount))
        elif p["type"] == "receive":
            self.received.add(p["shipment"])
            for line in p["lots"]:
                amount = Decimal(line["quantity"]) * kg[line["unit"]]
                self.created.append(_Held(party, line["lot"], event_id, amount))
        lines = p.get("lots") or p.get("inputs") or ([p] if p["type"] == "dispose" else [])
        if p["type"] in ("ship", "transform", "dispose"):
            for line in lines:
                key = (party, line["lot"], line["event"])
                amount = Decimal(line["quantity"]) * kg[line["unit"]]
                self.spent[key] = self.spent.get(key, Decimal(0)) + amount


def import_document(
    document: dict[str, Any],
    outbox: Outbox,
    reads: LedgerReads,
    *,
    check: Ledger,
    base_url: str,
    ledger_id: str | None = None,
    partial: bool = False,
) -> ImportReport:
    """Import ``document`` into ``outbox`` as its key's party. Raises ``DocumentError``
    for a document that fails the schema (nothing imported)."""
    validate(document)
    events = events_of(document)
    context = document.get("@context")
    party = outbox.head()["party"] or reads.party_of_key(outbox.keyid)
    if not party:
        raise UnknownKey(
            f"key {outbox.keyid} is registered to no party of this ledger: the operator"
            " registers the party (or a key.add) first"
        )
    ledger_id = ledger_id or outbox.head()["ledger"] or reads.genesis()
    glns = reads.glns()
    naming = Naming(base_url, glns.get)
    if not outbox.entries() and check.head(outbox.keyid) is not None:
        outbox.resync(check)  # a new outbox of a key that signed before: its real head
    refused: dict[int, str] = {}
    while True:
        attempt = _Attempt(events, context, outbox, reads, check, naming, ledger_id, str(party))
        report = attempt.run(refused, partial)
        if report is None:  # the ledger refused one more event: again, without it
            continue
        if report.rejected and not partial:
            return ImportReport(queued=[], duplicates=report.duplicates, rejected=report.rejected)
        return report


@dataclass
class _Attempt:
    events: list[dict[str, Any]]
    context: Any
    outbox: Outbox
    reads: LedgerReads
    check: Ledger
    naming: Naming
    ledger_id: str | None
    party: str

    def run(self, refused: dict[int, str], partial: bool) -> ImportReport | None:
        """One pass over the document in one outbox batch; None when the ledger's dry run
        refused an event (added to ``refused``), the batch rolled back."""
        report = ImportReport()
        resolver = LedgerResolver(self.reads, self.outbox, self.naming)
        resolver.note_outbox()
        order: list[int] = []
        try:
            with self.outbox.batch(check=self.check):
                for index, event in enumerate(self.events):
                    queued = self._one(index, event, refused, report, resolver)
                    if queued:
                        order.append(index)
                if report.rejected and not partial:
                    raise _Abandon
        except _Abandon:
            return report
        except BatchRefused as e:
            if e.position is None:  # an event queued before this import is refused
                raise
            refused[order[e.position]] = str(e.refused)
            return None
        return report

    def _one(
        self,
        index: int,
        event: Any,
        refused: dict[int, str],
        report: ImportReport,
        resolver: LedgerResolver,
    ) -> bool:
        event_id = event.get("eventID") if isinstance(event, dict) else None
        if index in refused:
            report.rejected.append(Rejection(index, event_id, "refused", refused[index]))
            return False
        if isinstance(event, dict):  # a duplicate is known by its hash, whatever else changed
            key = _dedup_key(event, self.context)
            earlier = resolver.imported(key) or _own_export(event, self.context, resolver)
            if earlier is not None:
                report.duplicates.append((index, event_hash(event, self.context), earlier))
                return False
        try:
            imported = from_epcis(event, self.context, self.party, resolver)
        except Unexpressible as e:
            report.rejected.append(Rejection(index, event_id, e.reason, e.detail))
            return False
        differ = self._differences(event, imported, resolver)
        if differ:
            detail = f"trazo writes {', '.join(differ)} differently: {differ[0]} would be" + (
                f" {self._as_exported(imported, resolver).get(differ[0], 'absent')!r}"
            )
            report.rejected.append(Rejection(index, event_id, "not-canonical", detail))
            return False
        try:
            envelope = self.outbox.sign(imported.payload, ledger=self.ledger_id)
        except ClientError as e:
            report.rejected.append(Rejection(index, event_id, "refused", str(e)))
            return False
        self.outbox.record_import(_dedup_key(event, self.context), envelope.id)
        resolver.note(imported, envelope)
        report.queued.append((index, imported.epcis_hash, envelope.id))
        return True

    def _as_exported(self, imported: Imported, resolver: LedgerResolver) -> dict[str, Any]:
        payload = imported.payload
        shipper = None
        if payload["type"] == "receive":
            shipper = resolver.shipper_of(payload["shipment"])
        return business_content(to_epcis(payload, "sha256:" + "0" * 64, self.naming,
                                         shipper=shipper))  # fmt: skip

    def _differences(self, event: Any, imported: Imported, resolver: LedgerResolver) -> list[str]:
        """The hashed fields in which trazo's export of the payload would differ from the
        event imported (empty: its CBV 2.0 hash survives the round trip)."""
        if imported.payload["type"] == "void":  # the voided event's own hash, by definition
            return []
        source = business_content(event)
        again = self._as_exported(imported, resolver)
        if event_hash(source, self.context) == event_hash(again, CONTEXT):
            return []
        names = sorted((set(source) | set(again)) - NOT_HASHED)
        return [
            name
            for name in names
            if name not in source
            or name not in again
            or pre_hash({name: source[name]}, self.context)
            != pre_hash({name: again[name]}, CONTEXT)
        ] or ["type"]


class _Abandon(Exception):
    pass


def _dedup_key(event: dict[str, Any], context: Any) -> str:
    """An event's CBV 2.0 hash; an error declaration has the hash of the event it declares
    erroneous, so it is told apart."""
    epcis_hash = event_hash(event, context)
    return f"{epcis_hash}#error" if "errorDeclaration" in event else epcis_hash


def _own_export(event: dict[str, Any], context: Any, resolver: LedgerResolver) -> str | None:
    """An event trazo exported names its trazo event: already in the ledger. The tag
    counts only when the event is that ledger event's export (the same CBV 2.0 hash):
    anyone can write ``trazo:event`` on a new event to have it skipped."""
    if "errorDeclaration" not in event:
        named = event.get("trazo:event")
        if isinstance(named, str) and resolver.exported(named, event_hash(event, context)):
            return named
    return None
