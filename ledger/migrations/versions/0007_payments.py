"""fair prices: price lines, payments and what they pay for (projections)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

``price_lines`` (``price.list``), ``payments`` (``payment``, ``payment.confirm``,
``payment.dispute``, ``member.payment``) and ``payment_links`` are projections of the
events: ``trazo rebuild`` derives them, ``trazo audit`` compares them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_EVENT = sa.String(length=71)
_PARTY = sa.String(length=128)


def upgrade() -> None:
    op.create_table(
        "price_lines",
        sa.Column("event", _EVENT, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("list", sa.String(length=128), nullable=False),
        sa.Column("term", sa.String(length=300), nullable=False),
        sa.Column("scheme", sa.String(length=32), nullable=False),
        sa.Column("product", sa.String(length=64), nullable=False),
        sa.Column("form", sa.String(length=64), nullable=False),
        sa.Column("quality", sa.String(length=64), nullable=True),
        sa.Column("minimum", sa.String(length=64), nullable=False),
        sa.Column("premium", sa.String(length=64), nullable=False),
        sa.Column("organic", sa.String(length=64), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("basis", sa.String(length=16), nullable=False),
        sa.Column("valid_from", sa.String(length=10), nullable=False),
        sa.Column("valid_until", sa.String(length=10), nullable=False),
        sa.Column("party", _PARTY, nullable=False),
        sa.Column("time", sa.String(length=27), nullable=False),
        sa.PrimaryKeyConstraint("event", "idx"),
    )
    with op.batch_alter_table("price_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_price_lines_term"), ["term"], unique=False)
    op.create_table(
        "payments",
        sa.Column("id", _EVENT, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payer", _PARTY, nullable=False),
        sa.Column("payee", sa.String(length=128), nullable=False),
        sa.Column("date", sa.String(length=10), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.String(length=64), nullable=False),
        sa.Column("price_list", _EVENT, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("answer_event", _EVENT, nullable=True),
        sa.Column("disclosed", sa.Boolean(), nullable=False),
        sa.Column("time", sa.String(length=27), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payments_payer"), ["payer"], unique=False)
        batch_op.create_index(batch_op.f("ix_payments_payee"), ["payee"], unique=False)
        batch_op.create_index(batch_op.f("ix_payments_price_list"), ["price_list"], unique=False)
    op.create_table(
        "payment_links",
        sa.Column("payment", _EVENT, nullable=False),
        sa.Column("target", _EVENT, nullable=False),
        sa.PrimaryKeyConstraint("payment", "target"),
    )
    with op.batch_alter_table("payment_links", schema=None) as batch_op:
        batch_op.create_index("ix_payment_links_target", ["target"], unique=False)


def downgrade() -> None:
    for table in ("payment_links", "payments", "price_lines"):
        op.drop_table(table)
