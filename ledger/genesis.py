"""Creating a ledger: schema, the operator's and the log's keys, and event 0."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ledger.append import append_one
from ledger.checkpoint import NoteSigner
from ledger.envelope import b64encode, raw_public_key, sign
from ledger.errors import LedgerError
from ledger.keys import load_private_key, write_keypair
from ledger.log import default_origin
from ledger.outbox import Outbox
from ledger.payload import SCHEMA_VERSION, dumps_payload
from ledger.store import Store

OPERATOR_KEY = "operator"
LOG_KEY = "log"


class AlreadyInitialized(LedgerError):
    title = "Already initialized"


@dataclass(frozen=True)
class Initialized:
    operator_key: Path
    operator_keyid: str
    log_key: Path
    log_keyid: str
    genesis_id: str


def initialize(
    store: Store,
    keys_dir: Path,
    *,
    operator: str = "operator",
    name: str = "trazo ledger operator",
    country: str = "ZZ",
    origin: str | None = None,
    now: datetime | None = None,
) -> Initialized:
    """Create the schema and keys and append the operator's self-signed registration.

    Refuses to overwrite an existing key file or to initialize a non-empty ledger; checks
    both before writing anything. The log's first checkpoint (size 1) is signed with the
    new log key under ``origin`` (default ``trazo/<operator>``).
    """
    for key_name in (OPERATOR_KEY, LOG_KEY):
        for suffix in (".key", ".pub"):
            if (keys_dir / f"{key_name}{suffix}").exists():
                raise AlreadyInitialized(
                    f"{keys_dir / (key_name + suffix)} already exists; refusing to overwrite"
                    " keys (use another --keys folder)"
                )
    store.migrate()
    if store.size() > 0:
        raise AlreadyInitialized(
            f"the ledger at {store.url} already holds {store.size()} events;"
            " refusing to initialize it again"
        )
    op_pair = write_keypair(keys_dir, OPERATOR_KEY)
    log_pair = write_keypair(keys_dir, LOG_KEY)
    op_key = load_private_key(op_pair.private_path)
    moment = (now or datetime.now(UTC)).replace(microsecond=0)
    payload = {
        "type": "party.register",
        "schema": SCHEMA_VERSION,
        "party": operator,
        "key": op_pair.keyid,
        "seq": 1,
        "prev": None,
        "time": moment.isoformat(),
        "subject": operator,
        "name": name,
        "roles": ["operator"],
        "country": country,
        "public_key": b64encode(raw_public_key(op_key.public_key())),
    }
    envelope = sign(dumps_payload(payload), op_key)
    log_key = load_private_key(log_pair.private_path)
    signer = NoteSigner(origin or default_origin(operator), log_key)
    appended = append_one(store, envelope, now=moment, log_signer=signer, genesis=True)
    with Outbox(op_pair.private_path) as outbox:  # the operator's chain continues there
        outbox.record_sent(envelope, appended.index)
    return Initialized(
        op_pair.private_path, op_pair.keyid, log_pair.private_path, log_pair.keyid, appended.id
    )
