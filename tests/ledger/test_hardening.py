"""Holes found by a black-box attack run (issue 22), each as a test that failed before."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text

from ledger.errors import IntegrityError
from ledger.rebuild import rebuild
from ledger.store import Store
from tests.support import World


def _sqlite_path(store: Store) -> str:
    return store.url.split("///", 1)[1]


def test_replace_into_cannot_rewrite_a_stored_event(sqlite_world: World) -> None:
    """Hole 5: on SQLite, REPLACE deletes the old row without firing the DELETE trigger."""
    world = sqlite_world
    world.register("coop-a", ["spo"])
    db = sqlite3.connect(_sqlite_path(world.store))
    row = db.execute("SELECT idx, id, payload, envelope, type, party, keyid, seq, prev, time,"
                     " recorded_at FROM events WHERE idx = 1").fetchone()
    forged = (*row[:10], "2000-01-01T00:00:00.000000Z")
    for verb in ("REPLACE INTO", "INSERT OR REPLACE INTO"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute(f"{verb} events (idx, id, payload, envelope, type, party, keyid, seq,"
                       " prev, time, recorded_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)", forged)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE events SET recorded_at = ? WHERE idx = 1", (forged[-1],))
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM events WHERE idx = 1")
    db.close()
    with world.store.reading() as session:
        assert session.execute(text("SELECT recorded_at FROM events WHERE idx = 1")).scalar() \
            == row[10]


def _malformed_recorded_at(store: Store) -> None:
    """Alter a stored row the way an intruder who disables the triggers would."""
    if store.dialect == "sqlite":
        db = sqlite3.connect(_sqlite_path(store))
        db.execute("DROP TRIGGER events_no_update")
        db.execute("UPDATE events SET recorded_at = 'yesterday' WHERE idx = 1")
        db.commit()
        db.close()
        return
    with store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE events DISABLE TRIGGER events_no_update_delete"))
        conn.execute(text("UPDATE events SET recorded_at = 'yesterday' WHERE idx = 1"))
        conn.execute(text("ALTER TABLE events ENABLE TRIGGER events_no_update_delete"))


def test_rebuild_reports_a_malformed_recorded_at(world: World) -> None:
    """Hole 6: `trazo rebuild` crashed with a ValueError traceback."""
    world.register("coop-a", ["spo"])
    _malformed_recorded_at(world.store)
    with pytest.raises(IntegrityError, match="recorded_at") as err:
        rebuild(world.store)
    assert err.value.index == 1
