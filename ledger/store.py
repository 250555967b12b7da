"""The database behind a ledger: engine set-up, schema migration, serialized writes.

SQLite (WAL, busy timeout) is the embedded default; PostgreSQL through psycopg 3 is the
production store. Appends take the one write lock of the ledger — ``BEGIN IMMEDIATE``
on SQLite, a transaction-scoped advisory lock on PostgreSQL — so log order and key chain
heads never disagree, whichever process writes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, make_url, select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from ledger.errors import StoreError
from ledger.schema import EventRow

DEFAULT_URL = "sqlite:///trazo.db"
SQLITE_BUSY_TIMEOUT_MS = 60_000
_APPEND_LOCK_ID = 0x7472617A6F  # "trazo", for pg_advisory_xact_lock


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` as psycopg 3 URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Store:
    """An open ledger database. Create one per process; it is safe to share across threads."""

    def __init__(
        self, url: str = DEFAULT_URL, *, echo: bool = False, read_only: bool = False
    ) -> None:
        """``read_only``: the database refuses every write (SQLite opens the file with
        ``mode=ro`` and never creates it; PostgreSQL sessions are read-only
        transactions), for commands that only read."""
        if "://" not in url:
            raise StoreError(
                f"{url!r} is a path, not a database URL: for that SQLite file write sqlite:///{url}"
            )
        self.url = normalize_url(url)
        self.dialect = self.url.split(":", 1)[0].split("+", 1)[0]
        if self.dialect not in ("sqlite", "postgresql"):
            raise StoreError(
                f"unsupported database URL {url!r}: trazo keeps a ledger in"
                " SQLite (sqlite:///FILE) or PostgreSQL (postgresql://…)"
            )
        self.read_only = read_only
        self.engine = self._make_engine(echo)

    def _make_engine(self, echo: bool) -> Engine:
        if self.dialect == "postgresql":
            options = {"options": "-c default_transaction_read_only=on"} if self.read_only else {}
            return create_engine(self.url, echo=echo, pool_pre_ping=True, connect_args=options)
        url = make_url(self.url)
        if self.read_only and self.sqlite_file is not None:
            # a URI with mode=ro: SQLite neither writes nor creates the file
            url = url.set(database=f"file:{url.database}", query={"mode": "ro", "uri": "true"})
        engine = create_engine(
            url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        )
        read_only = self.read_only

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            # Take transaction control from pysqlite: we emit BEGIN ourselves below.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            if read_only:
                cursor.execute("PRAGMA query_only=ON")
            else:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # a read-only connection cannot take the write lock; its snapshot is the
            # deferred transaction's (WAL: one consistent view from the first read on)
            immediate = conn.get_execution_options().get("trazo_write", False) and not read_only
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    # --- schema ------------------------------------------------------------------------

    @property
    def sqlite_file(self) -> Path | None:
        """The SQLite database's file (None: PostgreSQL, or an in-memory database)."""
        if self.dialect != "sqlite":
            return None
        path = make_url(self.url).database or ""
        return Path(path) if path and path != ":memory:" else None

    def check_connection(self) -> None:
        """Connect once; ``StoreError`` saying why not (no such database, no server…).

        A SQLite file that does not exist is not created here: only ``migrate`` creates
        a ledger.
        """
        if self.sqlite_file is not None and not self.sqlite_file.exists():
            raise StoreError(f"no database file {self.sqlite_file}")
        try:
            with self.engine.connect():
                pass
        except DBAPIError as e:
            raise StoreError(self._connect_problem(e)) from e

    def _connect_problem(self, e: DBAPIError) -> str:
        where = make_url(self.url).render_as_string(hide_password=True)
        reason = str(e.orig).strip().splitlines()[0] if e.orig else str(e)
        if "does not exist" in reason and self.dialect == "postgresql":
            u = make_url(self.url)
            return (
                f"cannot open {where}: {reason}; create it first, e.g. `createdb -h"
                f" {u.host or 'localhost'} -p {u.port or 5432} -U {u.username or 'postgres'}"
                f" {u.database}`"
            )
        return f"cannot connect to {where}: {reason}"

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (creating it on an empty database)."""
        from alembic import command
        from alembic.config import Config

        if self.read_only:
            raise StoreError("this ledger was opened read-only: the command cannot write")
        if self.sqlite_file is not None:
            self.sqlite_file.parent.mkdir(parents=True, exist_ok=True)
        with as_file(files("ledger") / "migrations") as script_dir:
            cfg = Config()
            cfg.set_main_option("script_location", str(script_dir))
            with (
                self.engine.connect().execution_options(trazo_write=True) as conn,
                conn.begin(),
            ):
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")

    def schema_ready(self) -> bool:
        """True when the database holds a trazo schema; ``StoreError`` when it cannot be
        reached at all (that is not "no ledger yet")."""
        if self.sqlite_file is not None and not self.sqlite_file.exists():
            return False
        try:
            conn = self.engine.connect()
        except DBAPIError as e:
            raise StoreError(self._connect_problem(e)) from e
        with conn:
            try:
                conn.execute(text("SELECT 1 FROM alembic_version"))
            except DBAPIError:  # no such table (psycopg's UndefinedTable: ProgrammingError)
                return False
        return True

    # --- transactions ------------------------------------------------------------------

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only session; nothing it does is committed.

        Closing (not rolling back) keeps loaded rows readable after the block; the
        connection's transaction is rolled back when it returns to the pool.
        """
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """The ledger's single write transaction: serialized, committed only if the block ends."""
        if self.read_only:
            raise StoreError("this ledger was opened read-only: the command cannot write")
        with self.engine.connect().execution_options(trazo_write=True) as conn:
            self._begin_serialized(conn)
            with Session(bind=conn, expire_on_commit=False) as session:
                try:
                    yield session
                    session.flush()
                except BaseException:
                    session.rollback()
                    conn.rollback()
                    raise
                session.commit()
                conn.commit()

    @contextmanager
    def state(self) -> Iterator[Session]:
        """A short write transaction for the server's own state (sign-in sessions), outside
        the append lock: it never touches the events or their projections."""
        if self.read_only:
            raise StoreError("this ledger was opened read-only: the command cannot write")
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def trial(self) -> Iterator[Session]:
        """The write transaction (serialized like an append), always rolled back.

        For checks that must see the stored events and projections as of one moment —
        ``trazo audit`` reads both and compares — without changing anything. On a
        read-only store it is a plain read transaction (a snapshot on SQLite's WAL; on
        PostgreSQL the advisory lock still keeps appends out).
        """
        with self.engine.connect().execution_options(trazo_write=True) as conn:
            self._begin_serialized(conn)
            with Session(bind=conn, expire_on_commit=False) as session:
                try:
                    yield session
                finally:
                    session.rollback()
                    conn.rollback()

    def _begin_serialized(self, conn: Any) -> None:
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                conn.begin()
                break
            except OperationalError as e:  # SQLite "database is locked" past busy_timeout
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise StoreError(f"could not take the ledger's write lock: {e}") from e
                conn.rollback()
                time.sleep(0.05)
        if self.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _APPEND_LOCK_ID})

    # --- small reads -------------------------------------------------------------------

    def size(self) -> int:
        with self.reading() as session:
            last = session.scalar(select(func.max(EventRow.index)))
            return 0 if last is None else int(last) + 1

    def genesis_id(self) -> str | None:
        """The ledger id: the id of event 0, which every later event names."""
        with self.reading() as session:
            found: str | None = session.scalar(select(EventRow.id).where(EventRow.index == 0))
            return found

    def dispose(self) -> None:
        self.engine.dispose()
