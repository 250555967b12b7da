"""Shared fixtures: a fresh ledger on SQLite (always) and PostgreSQL (when configured).

``store`` is parametrized over both databases; the PostgreSQL case is skipped, with a
visible reason, unless ``TRAZO_TEST_POSTGRES_URL`` points at a database the tests may
wipe (CI creates a fresh one per run).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ledger.store import Store, normalize_url
from tests.support import World

PG_URL = os.environ.get("TRAZO_TEST_POSTGRES_URL")


def _fresh_postgres(url: str) -> None:
    engine = create_engine(normalize_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def make_store(kind: str, tmp_path: Path) -> Store:
    if kind == "postgres":
        if not PG_URL:
            pytest.skip("PostgreSQL tests need TRAZO_TEST_POSTGRES_URL (CI sets it)")
        _fresh_postgres(PG_URL)
        store = Store(PG_URL)
    else:
        store = Store(f"sqlite:///{tmp_path / 'ledger.db'}")
    store.migrate()
    return store


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty, migrated ledger on each database."""
    s = make_store(request.param, tmp_path)
    yield s
    s.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    s = make_store("sqlite", tmp_path)
    yield s
    s.dispose()


@pytest.fixture
def world(store: Store) -> World:
    """A ledger with its operator registered (event 0), on each database."""
    return World.create(store)


@pytest.fixture
def sqlite_world(sqlite_store: Store) -> World:
    return World.create(sqlite_store)
