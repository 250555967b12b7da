"""hardening: REPLACE cannot rewrite an event on SQLite; lots carry their yield potential

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

On SQLite, ``REPLACE INTO events`` (or ``INSERT OR REPLACE``) deletes the conflicting
row without firing DELETE triggers (they fire on REPLACE only with
``recursive_triggers``, a per-connection pragma an intruder need not set). A BEFORE
INSERT trigger refuses any insert whose index, id or (key, seq) is already taken, before the
conflict is resolved. PostgreSQL has no REPLACE, and ``INSERT … ON CONFLICT DO UPDATE``
fires the UPDATE trigger that already refuses it.

``lots.potential`` is the share of a lot's mass that the exact maximum yields account
for along its whole path from harvest (1 for a harvest): the yield tolerance is applied
once per path, not once per step. NULL on lots recorded before this revision (read as 1;
``trazo rebuild`` derives it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

APPEND_ONLY = "trazo: the events table is append-only; a stored event cannot be replaced"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE TRIGGER events_no_replace BEFORE INSERT ON events"
            " WHEN EXISTS (SELECT 1 FROM events WHERE idx = NEW.idx OR id = NEW.id"
            " OR (keyid = NEW.keyid AND seq = NEW.seq))"
            f" BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
        )
    with op.batch_alter_table("lots") as batch:
        batch.add_column(sa.Column("potential", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("lots") as batch:
        batch.drop_column("potential")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS events_no_replace")
