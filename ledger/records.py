"""The ledger's projections as plain records: what the custody rules read and change.

One record class per projection table, with the table's columns as fields (JSON columns
as their text, times as stored UTC text, quantities as ``Decimal``). Records are plain
Python: the rules (``ledger.rules``) work on them through a ``ledger.view.LedgerView``,
which a SQL backend (``ledger.sqlview``) and a memory backend (``ledger.view``) provide.
Nothing here imports SQLAlchemy; ``ledger.schema`` declares the same tables for the
database, and ``tests/ledger/test_records.py`` keeps the two in step.

A record is changed only through ``LedgerView.update``, so a view knows what to write
(and the memory view what to undo when an event is refused).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from decimal import Decimal
from operator import attrgetter
from typing import Any, ClassVar, TypeVar

R = TypeVar("R", bound="Record")


_Getter = Callable[[Any], tuple[Any, ...]]
_COLUMNS: dict[type[Any], tuple[str, ...]] = {}
_KEYS: dict[type[Any], _Getter] = {}
_ROWS: dict[type[Any], _Getter] = {}


def _columns(kind: type[Any]) -> tuple[str, ...]:
    found = _COLUMNS.get(kind)
    if found is None:
        found = _COLUMNS[kind] = tuple(f.name for f in fields(kind))
    return found


def _key_getter(kind: type[Any]) -> _Getter:
    found = _KEYS.get(kind)
    if found is None:
        get = attrgetter(*kind.KEY)
        found = _KEYS[kind] = (lambda r: (get(r),)) if len(kind.KEY) == 1 else get
    return found


def _row_getter(kind: type[Any]) -> _Getter:
    found = _ROWS.get(kind)
    if found is None:
        found = _ROWS[kind] = attrgetter(*_columns(kind))
    return found


@dataclass(slots=True, eq=True)
class Record:
    """A projection row. ``TABLE`` names its table, ``KEY`` its primary-key fields and
    ``INDEXED`` the fields ``LedgerView.find`` may select on (never changed after insert)."""

    TABLE: ClassVar[str]
    KEY: ClassVar[tuple[str, ...]]
    INDEXED: ClassVar[frozenset[str]] = frozenset()

    def key(self) -> tuple[Any, ...]:
        return _key_getter(type(self))(self)

    def values(self) -> dict[str, Any]:
        return dict(zip(self.columns(), _row_getter(type(self))(self), strict=True))

    @classmethod
    def columns(cls) -> tuple[str, ...]:
        return _columns(cls)


@dataclass(slots=True)
class Meta(Record):
    """Ledger-wide facts set once: the operator's party id."""

    TABLE = "meta"
    KEY = ("name",)
    name: str
    value: str


@dataclass(slots=True)
class Party(Record):
    TABLE = "parties"
    KEY = ("id",)
    id: str
    name: str
    roles: str  # JSON array, sorted
    country: str
    identifiers: str  # JSON object, keys sorted
    event: str
    time: str

    @property
    def role_set(self) -> frozenset[str]:
        return frozenset(json.loads(self.roles))


@dataclass(slots=True)
class Key(Record):
    """A party's signing key, its validity and the head of its hash chain."""

    TABLE = "keys"
    KEY = ("keyid",)
    keyid: str
    party: str
    public_key: bytes
    added_event: str
    added_time: str
    revoked_event: str | None = None
    revoked_time: str | None = None
    revoke_reason: str | None = None
    head_seq: int = 0
    head_event: str | None = None


@dataclass(slots=True)
class Member(Record):
    TABLE = "members"
    KEY = ("id",)
    id: str
    spo: str
    products: str  # JSON array
    since: str
    until: str | None
    event: str
    left_event: str | None

    @property
    def product_list(self) -> list[str]:
        products: list[str] = json.loads(self.products)
        return products


@dataclass(slots=True)
class Plot(Record):
    TABLE = "plots"
    KEY = ("id",)
    INDEXED = frozenset({"member"})
    id: str
    member: str
    spo: str
    area_ha: Decimal
    event: str
    geometry: str | None
    method: str | None
    map_event: str | None


@dataclass(slots=True)
class Certificate(Record):
    TABLE = "certificates"
    KEY = ("id",)
    id: str
    certifier: str
    subject: str
    scheme: str
    products: str  # JSON array
    valid_from: str
    valid_until: str
    event: str
    time: str
    revoked_event: str | None
    revoked_time: str | None
    revoke_reason: str | None
    voided_by: str | None


@dataclass(slots=True)
class Lot(Record):
    """A lot, created once: by a ``harvest`` or as a ``transform`` output."""

    TABLE = "lots"
    KEY = ("id",)
    INDEXED = frozenset({"event", "member"})
    id: str
    product: str
    form: str
    party: str
    event: str
    kind: str
    kg: Decimal
    quantity: str
    unit: str
    member: str | None
    plot: str | None
    time: str
    voided_by: str | None
    potential: Decimal | None


@dataclass(slots=True)
class Holding(Record):
    """What ``party`` holds of ``lot`` through the event ``via`` that gave it custody."""

    TABLE = "holdings"
    KEY = ("party", "lot", "via")
    INDEXED = frozenset({"lot"})
    party: str
    lot: str
    via: str
    kg: Decimal
    received_kg: Decimal
    time: str


@dataclass(slots=True)
class Shipment(Record):
    TABLE = "shipments"
    KEY = ("id",)
    id: str
    shipper: str
    receiver: str
    time: str
    status: str  # in-transit | received | voided
    receive_event: str | None


@dataclass(slots=True)
class ShipmentLot(Record):
    TABLE = "shipment_lots"
    KEY = ("shipment", "lot")
    INDEXED = frozenset({"shipment"})
    shipment: str
    lot: str
    kg: Decimal
    received_kg: Decimal | None


@dataclass(slots=True)
class CustodyEdge(Record):
    """``child`` builds on ``parent`` for ``kg`` of ``lot``."""

    TABLE = "custody_edges"
    KEY = ("child", "parent", "lot")
    INDEXED = frozenset({"child", "parent"})
    child: str
    parent: str
    lot: str
    kg: Decimal
    kind: str


@dataclass(slots=True)
class EventLot(Record):
    TABLE = "event_lots"
    KEY = ("event", "lot")
    INDEXED = frozenset({"event"})
    event: str
    lot: str
    idx: int


@dataclass(slots=True)
class Void(Record):
    TABLE = "voids"
    KEY = ("event",)
    event: str
    void_event: str
    party: str
    reason: str
    time: str


@dataclass(slots=True)
class EventParty(Record):
    """``event`` names ``party`` besides its signer (a shipment's receiver, a receipt's
    shipper, a certificate's subject, a grant's grantee): who an event concerns, for the
    read policy (``api.http.access``)."""

    TABLE = "event_parties"
    KEY = ("event", "party")
    INDEXED = frozenset({"event"})
    event: str
    party: str


@dataclass(slots=True)
class Publication(Record):
    """A lot its holder made public with ``lot.publish``: it has a page and a bundle."""

    TABLE = "publications"
    KEY = ("lot",)
    lot: str
    party: str
    event: str
    time: str


@dataclass(slots=True)
class Grant(Record):
    """Read access the operator (or a party, to its own data) gave an auditor or a
    certifier: to ``subject``'s data (``*``: the whole ledger), between two dates."""

    TABLE = "grants"
    KEY = ("id",)
    INDEXED = frozenset({"grantee"})
    id: str
    grantor: str
    grantee: str
    subject: str
    valid_from: str
    valid_until: str
    event: str
    time: str
    revoked_event: str | None
    revoked_time: str | None


@dataclass(slots=True)
class PriceLine(Record):
    """One item of a ``price.list``: a scheme's minimum price, premium and organic
    differential for one product, form and class (``ledger.prices.PriceTerm``)."""

    TABLE = "price_lines"
    KEY = ("event", "idx")
    INDEXED = frozenset({"term"})
    event: str
    idx: int
    list: str  # the list's own id, as signed
    term: str  # ledger.prices.term_key: scheme|product|form|class
    scheme: str
    product: str
    form: str
    quality: str | None
    minimum: Decimal
    premium: Decimal
    organic: Decimal
    unit: str
    currency: str
    basis: str
    valid_from: str
    valid_until: str
    party: str
    time: str


@dataclass(slots=True)
class Payment(Record):
    """A ``payment`` (buyer to seller, answered by ``payment.confirm`` or
    ``payment.dispute``) or a ``member.payment`` (an SPO to a member: no answer)."""

    TABLE = "payments"
    KEY = ("id",)
    INDEXED = frozenset({"payer", "price_list"})
    id: str
    kind: str  # payment | member.payment
    payer: str
    payee: str  # a party id; a member id for a member.payment
    date: str
    currency: str
    amount: Decimal
    price_list: str | None  # the price.list event in force at the contract date
    status: str  # unconfirmed | confirmed | disputed (a member.payment: signed)
    answer_event: str | None
    disclosed: bool  # every signer of its figures asked to disclose them
    time: str


@dataclass(slots=True)
class PaymentLink(Record):
    """A payment pays for ``target``: a receipt (``payment``) or a harvest
    (``member.payment``)."""

    TABLE = "payment_links"
    KEY = ("payment", "target")
    INDEXED = frozenset({"target", "payment"})
    payment: str
    target: str


PROJECTIONS: tuple[type[Record], ...] = (
    Meta,
    Party,
    Key,
    Member,
    Plot,
    Certificate,
    Lot,
    Holding,
    Shipment,
    ShipmentLot,
    CustodyEdge,
    EventLot,
    Void,
    EventParty,
    Publication,
    Grant,
    PriceLine,
    Payment,
    PaymentLink,
)
"""Every projection the rules derive from the events (parents before children)."""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event already in the ledger (or earlier in the batch), as rules read it."""

    index: int
    id: str
    type: str
    party: str
    time: str  # UTC text
    payload: bytes
    body: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    """The payload already parsed, for an event of this batch (None: parse ``payload``)."""


def record_key(kind: type[Record], pk: Any) -> tuple[Any, ...]:
    """A primary key as a tuple (a single value or a tuple for a composite key)."""
    return pk if isinstance(pk, tuple) else (pk,)


__all__ = [
    "PROJECTIONS",
    "Certificate",
    "CustodyEdge",
    "EventLot",
    "EventParty",
    "Grant",
    "Holding",
    "Key",
    "Lot",
    "Member",
    "Meta",
    "Party",
    "Payment",
    "PaymentLink",
    "Plot",
    "PriceLine",
    "Publication",
    "Record",
    "Shipment",
    "ShipmentLot",
    "StoredEvent",
    "Void",
    "record_key",
]
