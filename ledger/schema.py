"""Tables. ``events`` is the ledger; every other table is a projection of it.

The events table is insert-only (database triggers refuse UPDATE and DELETE, created
by the Alembic migration). Projections can be dropped and derived again from the
events by ``trazo rebuild``. Times are stored as fixed-width UTC text
(``YYYY-MM-DDTHH:MM:SS.ffffffZ``), which sorts in time order on every database.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

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


PROJECTIONS: list[type[Base]] = [MetaRow, PartyRow, KeyRow]
"""Tables ``trazo rebuild`` empties and derives again (children before parents)."""
