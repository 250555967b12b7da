"""witnesses: the cosignatures collected per checkpoint, and each witness's last size

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

Neither is a projection of the events: they are what witnesses answered the log
(``ledger.witnessing``), checked when collected and again by every verifier.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cosignatures",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("witness", sa.Text(), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("size", "witness"),
    )
    op.create_table(
        "witness_heads",
        sa.Column("witness", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.String(length=27), nullable=False),
        sa.PrimaryKeyConstraint("witness"),
    )


def downgrade() -> None:
    op.drop_table("witness_heads")
    op.drop_table("cosignatures")
