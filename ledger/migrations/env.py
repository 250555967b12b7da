"""Alembic environment: runs on the connection ``Store.migrate`` hands over.

For developers, ``alembic -c ledger/migrations/alembic.ini`` works too with
``TRAZO_DATABASE_URL`` set.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

import ledger.log  # noqa: F401  (its tables join the metadata)
from ledger.schema import Base

target_metadata = Base.metadata


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        context.run_migrations()
        return
    from ledger.store import normalize_url

    url = normalize_url(os.environ.get("TRAZO_DATABASE_URL", "sqlite:///trazo.db"))
    with create_engine(url).begin() as conn:
        context.configure(
            connection=conn,
            target_metadata=target_metadata,
            render_as_batch=conn.dialect.name == "sqlite",
        )
        context.run_migrations()


run()
