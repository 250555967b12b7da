"""Tables. ``events`` is the ledger; every other table is a projection of it.

The events table is insert-only (database triggers refuse UPDATE and DELETE, created
by the Alembic migration). Projections can be dropped and derived again from the
events by ``trazo rebuild``. Times are stored as fixed-width UTC text
(``YYYY-MM-DDTHH:MM:SS.ffffffZ``), which sorts in time order on every database.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Dialect,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

TIME = String(27)
EVENT_ID = String(71)
PARTY = String(128)


class Base(DeclarativeBase):
    pass


class EventRow(Base):
    """One signed event exactly as it was appended: payload bytes, envelope, indexed columns."""

    __tablename__ = "events"

    index: Mapped[int] = mapped_column("idx", BigInteger, primary_key=True, autoincrement=False)
    id: Mapped[str] = mapped_column(EVENT_ID, unique=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    envelope: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(32))
    party: Mapped[str] = mapped_column(PARTY)
    keyid: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    prev: Mapped[str | None] = mapped_column(EVENT_ID)
    time: Mapped[str] = mapped_column(TIME)
    recorded_at: Mapped[str] = mapped_column(TIME)

    __table_args__ = (
        UniqueConstraint("keyid", "seq", name="uq_events_key_seq"),
        Index("ix_events_party_idx", "party", "idx"),
        Index("ix_events_type_idx", "type", "idx"),
        Index("ix_events_time", "time"),
    )


class MetaRow(Base):
    """Ledger-wide facts set once: the operator's party id."""

    __tablename__ = "meta"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class PartyRow(Base):
    __tablename__ = "parties"

    id: Mapped[str] = mapped_column(PARTY, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    roles: Mapped[str] = mapped_column(Text)  # JSON array
    country: Mapped[str] = mapped_column(String(2))
    identifiers: Mapped[str] = mapped_column(Text)  # JSON object
    event: Mapped[str] = mapped_column(EVENT_ID)
    time: Mapped[str] = mapped_column(TIME)


class KeyRow(Base):
    """A party's signing key, its validity and the head of its hash chain."""

    __tablename__ = "keys"

    keyid: Mapped[str] = mapped_column(String(64), primary_key=True)
    party: Mapped[str] = mapped_column(PARTY, index=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    added_event: Mapped[str] = mapped_column(EVENT_ID)
    added_time: Mapped[str] = mapped_column(TIME)
    revoked_event: Mapped[str | None] = mapped_column(EVENT_ID)
    revoked_time: Mapped[str | None] = mapped_column(TIME)
    revoke_reason: Mapped[str | None] = mapped_column(Text)
    head_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    head_event: Mapped[str | None] = mapped_column(EVENT_ID)


# --- custody projections (issue #3) -----------------------------------------------------


class DecimalText(TypeDecorator[Decimal]):
    """An exact decimal stored as canonical text ("36.5", "100"): no float on any database."""

    impl = String(64)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return decimal_text(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


def decimal_text(value: Decimal) -> str:
    """Canonical text of a decimal: no exponent, no trailing zeros ("100", "36.5", "0")."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


DATE = String(10)
KG = DecimalText()


class MemberRow(Base):
    """A producer member of an SPO (``member.enroll``, ended by ``member.leave``)."""

    __tablename__ = "members"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    spo: Mapped[str] = mapped_column(PARTY, index=True)
    products: Mapped[str] = mapped_column(Text)  # JSON array
    since: Mapped[str] = mapped_column(DATE)
    until: Mapped[str | None] = mapped_column(DATE)
    event: Mapped[str] = mapped_column(EVENT_ID)
    left_event: Mapped[str | None] = mapped_column(EVENT_ID)


class PlotRow(Base):
    """A member's plot with its area; its geometry from the latest ``plot.map``."""

    __tablename__ = "plots"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    member: Mapped[str] = mapped_column(String(128), index=True)
    spo: Mapped[str] = mapped_column(PARTY)
    area_ha: Mapped[Decimal] = mapped_column(KG)
    event: Mapped[str] = mapped_column(EVENT_ID)
    geometry: Mapped[str | None] = mapped_column(Text)  # GeoJSON, as signed
    method: Mapped[str | None] = mapped_column(Text)
    map_event: Mapped[str | None] = mapped_column(EVENT_ID)


class CertificateRow(Base):
    """A certificate as issued by a certifier, with its revocation if any."""

    __tablename__ = "certificates"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    certifier: Mapped[str] = mapped_column(PARTY)
    subject: Mapped[str] = mapped_column(PARTY, index=True)
    scheme: Mapped[str] = mapped_column(String(32))
    products: Mapped[str] = mapped_column(Text)  # JSON array
    valid_from: Mapped[str] = mapped_column(DATE)
    valid_until: Mapped[str] = mapped_column(DATE)
    event: Mapped[str] = mapped_column(EVENT_ID)
    time: Mapped[str] = mapped_column(TIME)
    revoked_event: Mapped[str | None] = mapped_column(EVENT_ID)
    revoked_time: Mapped[str | None] = mapped_column(TIME)
    revoke_reason: Mapped[str | None] = mapped_column(Text)
    voided_by: Mapped[str | None] = mapped_column(EVENT_ID)  # the void of its cert.issue


class LotRow(Base):
    """A lot, created once: by a ``harvest`` or as a ``transform`` output."""

    __tablename__ = "lots"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    product: Mapped[str] = mapped_column(String(64))
    form: Mapped[str] = mapped_column(String(64))
    party: Mapped[str] = mapped_column(PARTY)
    event: Mapped[str] = mapped_column(EVENT_ID, index=True)
    kind: Mapped[str] = mapped_column(String(32))  # the creating event's type
    kg: Mapped[Decimal] = mapped_column(KG)
    quantity: Mapped[str] = mapped_column(String(32))  # as signed, with its unit
    unit: Mapped[str] = mapped_column(String(32))
    member: Mapped[str | None] = mapped_column(String(128), index=True)
    plot: Mapped[str | None] = mapped_column(String(128))
    time: Mapped[str] = mapped_column(TIME)
    voided_by: Mapped[str | None] = mapped_column(EVENT_ID)
    potential: Mapped[Decimal | None] = mapped_column(KG)
    """The share of ``kg`` the exact maximum yields account for from harvest (None: 1)."""


class HoldingRow(Base):
    """What ``party`` holds of ``lot`` through the event ``via`` that gave it custody."""

    __tablename__ = "holdings"

    party: Mapped[str] = mapped_column(PARTY, primary_key=True)
    lot: Mapped[str] = mapped_column(String(128), primary_key=True)
    via: Mapped[str] = mapped_column(EVENT_ID, primary_key=True)
    kg: Mapped[Decimal] = mapped_column(KG)
    received_kg: Mapped[Decimal] = mapped_column(KG)  # what ``via`` gave, before spending
    time: Mapped[str] = mapped_column(TIME)  # the time of ``via``

    __table_args__ = (Index("ix_holdings_lot", "lot"),)


class ShipmentRow(Base):
    """A ``ship`` event: in transit until received (or voided)."""

    __tablename__ = "shipments"

    id: Mapped[str] = mapped_column(EVENT_ID, primary_key=True)
    shipper: Mapped[str] = mapped_column(PARTY, index=True)
    receiver: Mapped[str] = mapped_column(PARTY, index=True)
    time: Mapped[str] = mapped_column(TIME)
    status: Mapped[str] = mapped_column(String(16))  # in-transit | received | voided
    receive_event: Mapped[str | None] = mapped_column(EVENT_ID)


class ShipmentLotRow(Base):
    """One lot of a shipment: kg shipped and, once received, kg accepted (the rest is lost)."""

    __tablename__ = "shipment_lots"

    shipment: Mapped[str] = mapped_column(EVENT_ID, primary_key=True)
    lot: Mapped[str] = mapped_column(String(128), primary_key=True)
    kg: Mapped[Decimal] = mapped_column(KG)
    received_kg: Mapped[Decimal | None] = mapped_column(KG)

    __table_args__ = (Index("ix_shipment_lots_lot", "lot"),)


class CustodyEdgeRow(Base):
    """``child`` builds on ``parent`` for ``kg`` of ``lot`` (the custody graph's edges)."""

    __tablename__ = "custody_edges"

    child: Mapped[str] = mapped_column(EVENT_ID, primary_key=True)
    parent: Mapped[str] = mapped_column(EVENT_ID, primary_key=True)
    lot: Mapped[str] = mapped_column(String(128), primary_key=True)
    kg: Mapped[Decimal] = mapped_column(KG)
    kind: Mapped[str] = mapped_column(String(32))  # the child's type

    __table_args__ = (
        Index("ix_custody_edges_parent", "parent"),
        Index("ix_custody_edges_lot", "lot"),
    )


class EventLotRow(Base):
    """Which lots an event names, for listing a lot's events in ledger order."""

    __tablename__ = "event_lots"

    event: Mapped[str] = mapped_column(EVENT_ID, primary_key=True)
    lot: Mapped[str] = mapped_column(String(128), primary_key=True)
    idx: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_event_lots_lot_idx", "lot", "idx"),)


class VoidRow(Base):
    """An event declared erroneous by its signer: it stops counting everywhere."""

    __tablename__ = "voids"

    event: Mapped[str] = mapped_column(EVENT_ID, primary_key=True)
    void_event: Mapped[str] = mapped_column(EVENT_ID, unique=True)
    party: Mapped[str] = mapped_column(PARTY)
    reason: Mapped[str] = mapped_column(Text)
    time: Mapped[str] = mapped_column(TIME)


class EventPartyRow(Base):
    """A party an event names besides its signer (``ledger.records.EventParty``)."""

    __tablename__ = "event_parties"

    event: Mapped[str] = mapped_column(EVENT_ID, primary_key=True)
    party: Mapped[str] = mapped_column(PARTY, primary_key=True)

    __table_args__ = (Index("ix_event_parties_party", "party"),)


class PublicationRow(Base):
    """A lot made public by ``lot.publish``."""

    __tablename__ = "publications"

    lot: Mapped[str] = mapped_column(String(128), primary_key=True)
    party: Mapped[str] = mapped_column(PARTY)
    event: Mapped[str] = mapped_column(EVENT_ID)
    time: Mapped[str] = mapped_column(TIME)


class GrantRow(Base):
    """Read access granted to an auditor or certifier (``grant.issue``, ``grant.revoke``)."""

    __tablename__ = "grants"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    grantor: Mapped[str] = mapped_column(PARTY)
    grantee: Mapped[str] = mapped_column(PARTY, index=True)
    subject: Mapped[str] = mapped_column(PARTY)
    valid_from: Mapped[str] = mapped_column(DATE)
    valid_until: Mapped[str] = mapped_column(DATE)
    event: Mapped[str] = mapped_column(EVENT_ID)
    time: Mapped[str] = mapped_column(TIME)
    revoked_event: Mapped[str | None] = mapped_column(EVENT_ID)
    revoked_time: Mapped[str | None] = mapped_column(TIME)


class PriceLineRow(Base):
    """One item of a signed ``price.list`` (``ledger.records.PriceLine``)."""

    __tablename__ = "price_lines"

    event: Mapped[str] = mapped_column(EVENT_ID, primary_key=True)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    list: Mapped[str] = mapped_column(String(128))
    term: Mapped[str] = mapped_column(String(300), index=True)
    scheme: Mapped[str] = mapped_column(String(32))
    product: Mapped[str] = mapped_column(String(64))
    form: Mapped[str] = mapped_column(String(64))
    quality: Mapped[str | None] = mapped_column(String(64))
    minimum: Mapped[Decimal] = mapped_column(KG)
    premium: Mapped[Decimal] = mapped_column(KG)
    organic: Mapped[Decimal] = mapped_column(KG)
    unit: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    basis: Mapped[str] = mapped_column(String(16))
    valid_from: Mapped[str] = mapped_column(DATE)
    valid_until: Mapped[str] = mapped_column(DATE)
    party: Mapped[str] = mapped_column(PARTY)
    time: Mapped[str] = mapped_column(TIME)


class PaymentRow(Base):
    """A payment or member payment and its answer (``ledger.records.Payment``)."""

    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(EVENT_ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    payer: Mapped[str] = mapped_column(PARTY, index=True)
    payee: Mapped[str] = mapped_column(String(128), index=True)
    date: Mapped[str] = mapped_column(DATE)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal] = mapped_column(KG)
    price_list: Mapped[str | None] = mapped_column(EVENT_ID, index=True)
    status: Mapped[str] = mapped_column(String(16))
    answer_event: Mapped[str | None] = mapped_column(EVENT_ID)
    disclosed: Mapped[bool] = mapped_column(Boolean)
    time: Mapped[str] = mapped_column(TIME)


class PaymentLinkRow(Base):
    """What a payment pays for: a receipt, or a member's harvest."""

    __tablename__ = "payment_links"

    payment: Mapped[str] = mapped_column(EVENT_ID, primary_key=True)
    target: Mapped[str] = mapped_column(EVENT_ID, primary_key=True)

    __table_args__ = (Index("ix_payment_links_target", "target"),)


class SessionRow(Base):
    """A party's sign-in (``POST /api/v1/sessions``): server state, not a projection.

    The bearer token is ``<id>.<secret>``; only the SHA-256 of the secret is kept.
    """

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    party: Mapped[str] = mapped_column(PARTY, index=True)
    keyid: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(TIME)
    expires_at: Mapped[str] = mapped_column(TIME)
    ended_at: Mapped[str | None] = mapped_column(TIME)
    client: Mapped[str | None] = mapped_column(String(200))


class ChallengeRow(Base):
    """A sign-in challenge the server handed out: usable once, until it expires."""

    __tablename__ = "challenges"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[str] = mapped_column(TIME, index=True)
    used_at: Mapped[str | None] = mapped_column(TIME)


CUSTODY_PROJECTIONS: list[type[Base]] = [
    PaymentLinkRow,
    PaymentRow,
    PriceLineRow,
    GrantRow,
    PublicationRow,
    EventPartyRow,
    VoidRow,
    EventLotRow,
    CustodyEdgeRow,
    ShipmentLotRow,
    ShipmentRow,
    HoldingRow,
    LotRow,
    CertificateRow,
    PlotRow,
    MemberRow,
]

PROJECTIONS: list[type[Base]] = [*CUSTODY_PROJECTIONS, MetaRow, PartyRow, KeyRow]
"""Tables ``trazo rebuild`` empties and derives again (children before parents)."""
