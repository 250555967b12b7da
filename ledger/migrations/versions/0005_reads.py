"""private reads: event parties, publications and grants (projections); sessions, challenges

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

``event_parties``, ``publications`` and ``grants`` are projections of the events (``trazo
rebuild`` derives them; a ledger upgraded to this revision must be rebuilt once so that
events recorded before it are found by their parties). ``sessions`` and ``challenges`` are the
server's sign-in state: not derived from events, never rebuilt.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shipments_shipper"), ["shipper"], unique=False)
    op.create_table(
        "event_parties",
        sa.Column("event", sa.String(length=71), nullable=False),
        sa.Column("party", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("event", "party"),
    )
    with op.batch_alter_table("event_parties", schema=None) as batch_op:
        batch_op.create_index("ix_event_parties_party", ["party"], unique=False)
    op.create_table(
        "publications",
        sa.Column("lot", sa.String(length=128), nullable=False),
        sa.Column("party", sa.String(length=128), nullable=False),
        sa.Column("event", sa.String(length=71), nullable=False),
        sa.Column("time", sa.String(length=27), nullable=False),
        sa.PrimaryKeyConstraint("lot"),
    )
    op.create_table(
        "grants",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("grantor", sa.String(length=128), nullable=False),
        sa.Column("grantee", sa.String(length=128), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("valid_from", sa.String(length=10), nullable=False),
        sa.Column("valid_until", sa.String(length=10), nullable=False),
        sa.Column("event", sa.String(length=71), nullable=False),
        sa.Column("time", sa.String(length=27), nullable=False),
        sa.Column("revoked_event", sa.String(length=71), nullable=True),
        sa.Column("revoked_time", sa.String(length=27), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grants_grantee"), ["grantee"], unique=False)
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("party", sa.String(length=128), nullable=False),
        sa.Column("keyid", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.String(length=27), nullable=False),
        sa.Column("expires_at", sa.String(length=27), nullable=False),
        sa.Column("ended_at", sa.String(length=27), nullable=True),
        sa.Column("client", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sessions_party"), ["party"], unique=False)
    op.create_table(
        "challenges",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.String(length=27), nullable=False),
        sa.Column("used_at", sa.String(length=27), nullable=True),
        sa.PrimaryKeyConstraint("nonce"),
    )
    with op.batch_alter_table("challenges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_challenges_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    for table in ("challenges", "sessions", "grants", "publications", "event_parties"):
        op.drop_table(table)
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shipments_shipper"))
