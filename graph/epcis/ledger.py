"""EPCIS out of a trazo ledger: stored events as EPCIS events, a lot's ancestry as one
document, and the SimpleEventQuery over what a reader may see.

The read policy is the caller's: ``visible`` is the SQL condition ``api.http.access``
builds (None reads everything, as the command line over a local database does).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from graph._mass_balance_flows import CertificateBook
from graph.ancestry import load_events, upstream_ids, upstream_of
from graph.epcis.document import epcis_document
from graph.epcis.hashing import vocabulary
from graph.epcis.identifiers import canonical_id
from graph.epcis.mapping import CUSTODY_TYPES, Naming, to_epcis
from ledger.errors import ClientError, IntegrityError, InvalidEvent
from ledger.fields import parse_time, utc_text
from ledger.schema import EventLotRow, EventRow, LotRow, PartyRow, VoidRow
from ledger.store import Store

MAX_PER_PAGE = 1000
_SCAN = 500


def naming_for(store: Store, base_url: str) -> Naming:
    """Identifiers for ``store``'s parties: their GLN where they registered one."""
    glns: dict[str, str | None] = {}

    def gln_of(party: str) -> str | None:
        if party not in glns:
            with store.reading() as session:
                row = session.get(PartyRow, party)
            identifiers = json.loads(row.identifiers) if row is not None else {}
            glns[party] = identifiers.get("gln")
        return glns[party]

    return Naming(base_url, gln_of)


@dataclass
class Exporter:
    """Stored events as EPCIS events: a void needs the event it voids, a receipt its
    shipment (for the shipper)."""

    store: Store
    naming: Naming
    visible: Any = None
    _rows: dict[str, EventRow | None] = field(default_factory=dict)

    def _row(self, event_id: str) -> EventRow | None:
        if event_id not in self._rows:
            query = select(EventRow).where(EventRow.id == event_id)
            if self.visible is not None:
                query = query.where(self.visible)
            with self.store.reading() as session:
                self._rows[event_id] = session.scalar(query)
        return self._rows[event_id]

    def event(self, row: EventRow) -> dict[str, Any] | None:
        """The EPCIS event of a stored custody event (None: not an EPCIS event, or a void
        of an event the reader may not see)."""
        if row.type not in CUSTODY_TYPES:
            return None
        payload = signed_payload(row)
        if row.type == "void":
            voided = self._row(payload["event"])
            if voided is None or voided.type not in CUSTODY_TYPES or voided.type == "void":
                return None
            original = signed_payload(voided)
            out = to_epcis(payload, row.id, self.naming, voided=(original, voided.id),
                           shipper=self._shipper(original))  # fmt: skip
        else:
            out = to_epcis(payload, row.id, self.naming, shipper=self._shipper(payload))
            certificates = self._certificates(payload)
            if certificates:  # not hashed: the eventID stays the same
                out["certificationInfo"] = certificates
        out["recordTime"] = row.recorded_at
        return out

    def _certificates(self, payload: Mapping[str, Any]) -> list[str]:
        """The shipper's certificates behind a shipment's ``claims``, as the URIs of their
        signed ``cert.issue`` events: each claimed scheme, for each product shipped, judged
        at the shipment's time (``ledger.certificates.judge``, as every report does)."""
        if payload.get("type") != "ship" or not payload.get("claims"):
            return []
        when = parse_time(payload["time"], field="time")
        found: list[str] = []
        with self.store.reading() as session:
            book = CertificateBook(session)
            lots = [line["lot"] for line in payload["lots"]]
            products = sorted(
                set(session.scalars(select(LotRow.product).where(LotRow.id.in_(lots))))
            )
            for scheme in payload["claims"]:
                for product in products:
                    held = book.judge(
                        payload["party"], scheme, product, when, utc_text(when), "the shipment"
                    )
                    if held.certificate is not None:
                        uri = self.naming.event(held.certificate.event)
                        if uri not in found:
                            found.append(uri)
        return found

    def _shipper(self, payload: Mapping[str, Any]) -> str | None:
        if payload.get("type") != "receive":
            return None
        with self.store.reading() as session:
            ship = session.scalar(select(EventRow).where(EventRow.id == payload["shipment"]))
        return None if ship is None else str(signed_payload(ship)["party"])

    def events(self, rows: Iterable[EventRow]) -> list[dict[str, Any]]:
        return [e for e in (self.event(r) for r in rows) if e is not None]


def signed_payload(row: EventRow) -> dict[str, Any]:
    """A stored event's payload, read from the bytes its id names: a row whose bytes are
    not the ones signed (altered behind the ledger's back) is refused, never exported."""
    if "sha256:" + hashlib.sha256(row.payload).hexdigest() != row.id:
        raise IntegrityError(
            f"the stored payload of event {row.id} is not the one signed: the events table"
            " was altered; run `trazo audit`",
            event=row.id,
        )
    payload: dict[str, Any] = json.loads(row.payload)
    return payload


def lot_document(store: Store, lot: str, naming: Naming) -> dict[str, Any]:
    """A lot's journey as one ``EPCISDocument``, in ledger order: every custody event it
    came from, its own shipments and receipts and what they build on, and their voids."""
    with store.reading() as session:
        ids = upstream_ids(session, lot)
        moves = session.scalars(
            select(EventRow.id)
            .join(EventLotRow, EventLotRow.idx == EventRow.index)
            .where(EventLotRow.lot == lot, EventRow.type.in_(("ship", "receive")))
        )
        for move in list(moves):
            ids |= upstream_of(session, move)
        voids = session.scalars(select(VoidRow.void_event).where(VoidRow.event.in_(ids)))
        rows = load_events(session, ids | set(voids))
    return epcis_document(Exporter(store, naming).events(rows))


# --- SimpleEventQuery -----------------------------------------------------------------------

EVENT_TYPES = {
    "ObjectEvent": ("harvest", "ship", "receive", "dispose", "void"),
    "TransformationEvent": ("transform", "void"),
}
EVENT_TYPE_NAMES = (
    "ObjectEvent",
    "AggregationEvent",
    "TransactionEvent",
    "TransformationEvent",
    "AssociationEvent",
)
LIST_PARAMETERS = (
    "eventType",
    "EQ_bizStep",
    "EQ_disposition",
    "MATCH_epc",
    "MATCH_epcClass",
    "MATCH_anyEPCClass",
    "EQ_bizLocation",
    "EQ_source",
    "EQ_destination",
    "EQ_eventID",
)
TIME_PARAMETERS = ("GE_eventTime", "LT_eventTime", "GE_recordTime")


class QueryError(ClientError):
    """An EPCIS query parameter that cannot be read (EPCIS's QueryParameterException)."""

    title = "Invalid EPCIS query"
    http_status = 400

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}", field=parameter)


@dataclass(frozen=True)
class EventQuery:
    """SimpleEventQuery parameters: each list is OR within, parameters AND together."""

    lists: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    times: Mapping[str, datetime] = field(default_factory=dict)

    @classmethod
    def parse(cls, params: Mapping[str, Sequence[str]]) -> EventQuery:
        lists: dict[str, tuple[str, ...]] = {}
        times: dict[str, datetime] = {}
        for name, values in params.items():
            if name in LIST_PARAMETERS:
                lists[name] = tuple(v for value in values for v in value.split("|") if v)
            elif name in TIME_PARAMETERS:
                try:
                    times[name] = parse_time(values[-1], field=name)
                except InvalidEvent as e:
                    raise QueryError(name, e.message) from e
        for kind in lists.get("eventType", ()):
            if kind not in EVENT_TYPE_NAMES:
                raise QueryError("eventType", f"unknown EPCIS event type {kind!r}")
        return cls(lists, times)

    def trazo_types(self) -> list[str]:
        kinds = self.lists.get("eventType")
        if not kinds:
            return list(CUSTODY_TYPES)
        return sorted({t for k in kinds for t in EVENT_TYPES.get(k, ())})

    def matches(self, event: Mapping[str, Any]) -> bool:
        return all(self._match(name, values, event) for name, values in self.lists.items()) and (
            self._times(event)
        )

    def _times(self, event: Mapping[str, Any]) -> bool:
        moment = parse_time(event["eventTime"], field="eventTime")
        if "GE_eventTime" in self.times and moment < self.times["GE_eventTime"]:
            return False
        if "LT_eventTime" in self.times and moment >= self.times["LT_eventTime"]:
            return False
        if "GE_recordTime" in self.times:
            recorded = parse_time(event["recordTime"], field="recordTime")
            return recorded >= self.times["GE_recordTime"]
        return True

    @staticmethod
    def _match(name: str, values: tuple[str, ...], event: Mapping[str, Any]) -> bool:
        if name == "eventType":
            return event["type"] in values
        if name == "EQ_eventID":
            return event.get("eventID") in values
        if name in ("EQ_bizStep", "EQ_disposition"):
            key, web = ("bizStep", "BizStep-") if name == "EQ_bizStep" else ("disposition", "Disp-")
            if key not in event:
                return False
            return vocabulary(str(event[key]), web) in {vocabulary(v, web) for v in values}
        wanted = {canonical_id(v) for v in values}
        return bool(wanted & {canonical_id(i) for i in _ids(name, event)})


def _ids(name: str, event: Mapping[str, Any]) -> list[str]:
    if name == "MATCH_epc":
        return [e for key in ("epcList", "childEPCs", "inputEPCList", "outputEPCList")
                for e in event.get(key, [])]  # fmt: skip
    if name in ("MATCH_epcClass", "MATCH_anyEPCClass"):
        keys = ["quantityList", "childQuantityList"]
        if name == "MATCH_anyEPCClass":
            keys += ["inputQuantityList", "outputQuantityList"]
        return [q["epcClass"] for key in keys for q in event.get(key, [])]
    if name == "EQ_bizLocation":
        return [event["bizLocation"]["id"]] if "bizLocation" in event else []
    key = "sourceList" if name == "EQ_source" else "destinationList"
    item = "source" if name == "EQ_source" else "destination"
    return [s[item] for s in event.get(key, [])]


@dataclass(frozen=True)
class Page:
    events: list[dict[str, Any]]
    next_token: str | None


def query_events(
    store: Store,
    query: EventQuery,
    naming: Naming,
    *,
    visible: Any = None,
    per_page: int = 100,
    token: str | None = None,
) -> Page:
    """One page of the events ``visible`` lets the reader see that match ``query``, in
    ledger order; ``next_token`` continues after it (None: no more)."""
    try:
        after = int(token) if token is not None else -1
    except ValueError as e:
        raise QueryError("nextPageToken", "not a token this server gave") from e
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise QueryError("perPage", f"must be 1 to {MAX_PER_PAGE}")
    exporter = Exporter(store, naming, visible)
    found: list[dict[str, Any]] = []
    base = select(EventRow).where(EventRow.type.in_(query.trazo_types()))
    if visible is not None:
        base = base.where(visible)
    if "GE_recordTime" in query.times:
        base = base.where(EventRow.recorded_at >= utc_text(query.times["GE_recordTime"]))
    while True:
        with store.reading() as session:
            rows = list(
                session.scalars(
                    base.where(EventRow.index > after).order_by(EventRow.index).limit(_SCAN)
                )
            )
        for row in rows:
            after = row.index
            event = exporter.event(row)
            if event is not None and query.matches(event):
                found.append(event)
                if len(found) == per_page:
                    return Page(found, str(after))
        if len(rows) < _SCAN:
            return Page(found, None)


def epcis_event_id(store: Store, event_id: str, naming: Naming) -> str | None:
    """The CBV 2.0 hash ID trazo gives a stored custody event when it exports it."""
    with store.reading() as session:
        row = session.scalar(select(EventRow).where(EventRow.id == event_id))
    event = Exporter(store, naming).event(row) if row is not None else None
    return None if event is None else str(event["eventID"])
