"""Building ledgers in tests from real signed envelopes.

``World`` holds a store with its operator and a deterministic key per party (seeded
from the party id, so envelopes are byte-for-byte reproducible).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.append import AppendResult, append_batch, check_batch
from ledger.envelope import Envelope, b64encode, raw_public_key
from ledger.signer import KeyChain
from ledger.store import Store

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=timezone(timedelta(hours=-5)))


def seeded_key(name: str) -> Ed25519PrivateKey:
    """A fixed Ed25519 key derived from a name (tests only; never for real keys)."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(name.encode()).digest())


def public_b64(key: Ed25519PrivateKey) -> str:
    return b64encode(raw_public_key(key.public_key()))


@dataclass
class World:
    store: Store
    operator: KeyChain
    chains: dict[str, KeyChain] = field(default_factory=dict)
    clock: datetime = T0
    ledger: str | None = None
    """The genesis id: what every event after the genesis names in ``ledger``."""
    dry_run_first: bool = False
    """Ask ``check_batch`` before every append, and require that it answers exactly what
    the append then does and leaves the database as it was (the dry run's guarantee)."""

    @classmethod
    def create(cls, store: Store, operator: str = "operator") -> World:
        key = seeded_key(operator)
        chain = KeyChain(key, operator)
        world = cls(store, chain, {operator: chain})
        genesis = chain.sign(
            {
                "type": "party.register",
                "time": world.tick(),
                "subject": operator,
                "name": "Test operator",
                "roles": ["operator"],
                "country": "ZZ",
                "public_key": public_b64(key),
            }
        )
        world.append_genesis(genesis)
        chain.ledger = world.ledger = genesis.id
        return world

    def tick(self, minutes: int = 10) -> str:
        """An event time that moves forward, as RFC 3339 text."""
        self.clock += timedelta(minutes=minutes)
        return self.clock.isoformat()

    def register_envelope(
        self, party: str, roles: list[str], country: str = "PE", **extra: Any
    ) -> Envelope:
        key = seeded_key(party)
        self.chains[party] = KeyChain(key, party, ledger=self.ledger)
        return self.operator.sign(
            {
                "type": "party.register",
                "time": self.tick(),
                "subject": party,
                "name": party.replace("-", " ").title(),
                "roles": roles,
                "country": country,
                "public_key": public_b64(key),
                **extra,
            }
        )

    def register(self, party: str, roles: list[str], country: str = "PE") -> KeyChain:
        self.append(self.register_envelope(party, roles, country))
        return self.chains[party]

    def sign(self, party: str, body: dict[str, Any]) -> Envelope:
        body = dict(body)
        body.setdefault("time", self.tick())
        return self.chains[party].sign(body)

    def append(self, *envelopes: Envelope) -> AppendResult:
        if self.dry_run_first:
            return append_after_a_dry_run(self.store, list(envelopes))
        return append_batch(self.store, list(envelopes))

    def append_genesis(self, envelope: Envelope) -> AppendResult:
        """The operator's self-signed registration, as `trazo init` appends it."""
        return append_batch(self.store, [envelope], genesis=True)

    def record(self, party: str, body: dict[str, Any]) -> str:
        """Sign and append one event; return its id."""
        return self.append(self.sign(party, body)).events[0].id


def database_state(store: Store) -> tuple[Any, ...]:
    """Every row of every table, and for SQLite the database file's bytes: what a dry run
    must leave exactly as it found."""
    from sqlalchemy import select

    from ledger.schema import Base

    with store.engine.connect() as conn:
        rows = tuple(
            (name, tuple(tuple(r) for r in conn.execute(select(table).order_by(*table.columns))))
            for name, table in sorted(Base.metadata.tables.items())
        )
    path = store.sqlite_file
    if path is None:
        return rows
    wal = path.with_name(path.name + "-wal")
    return rows, path.read_bytes(), wal.stat().st_size if wal.exists() else 0


def append_after_a_dry_run(store: Store, envelopes: list[Envelope]) -> AppendResult:
    """``check_batch``, then ``append_batch``: the same answer, and nothing left behind by
    the dry run."""
    from ledger.errors import ClientError

    before = database_state(store)
    try:
        expected: AppendResult | ClientError = check_batch(store, envelopes)
    except ClientError as e:
        expected = e
    assert database_state(store) == before, "the dry run changed the database"
    try:
        result = append_batch(store, envelopes)
    except ClientError as e:
        assert isinstance(expected, ClientError), f"the dry run accepted what append refused: {e}"
        assert (type(e), e.index, e.field, e.message, e.details) == (
            type(expected),
            expected.index,
            expected.field,
            expected.message,
            expected.details,
        )
        raise
    assert isinstance(expected, AppendResult), f"the dry run refused what append took: {expected}"
    assert (expected.events, expected.size, expected.checkpoint) == (
        result.events,
        result.size,
        None,
    )
    return result
