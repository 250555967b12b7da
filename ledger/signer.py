"""Offline signing: fill a payload's chain fields from a local state file and sign it.

The state file (JSON ``{"keyid", "party", "seq", "prev"}``) remembers the head of the
key's chain as this signer knows it, so a collection centre without a connection can
sign a day's harvests in order and upload them later.
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

from ledger.envelope import Envelope, keyid_of, sign
from ledger.errors import InvalidEvent
from ledger.keys import load_private_key
from ledger.payload import LEDGER_FIELD, SCHEMA_VERSION, dumps_payload, loads_strict


def state_path_for(key_file: Path) -> Path:
    stem = key_file.name[:-4] if key_file.name.endswith(".key") else key_file.name
    return key_file.with_name(f"{stem}.chain.json")


def read_state(path: Path, keyid: str) -> dict[str, Any]:
    if not path.exists():
        return {"keyid": keyid, "party": None, "seq": 0, "prev": None}
    state: dict[str, Any] = json.loads(path.read_text("utf-8"))
    if state.get("keyid") != keyid:
        raise InvalidEvent(f"{path} tracks key {state.get('keyid')}, not {keyid}")
    return state


def write_state(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n", "utf-8")
    os.replace(tmp, path)


def add_nonce(body: dict[str, Any]) -> None:
    """Give a ``plot.map`` its required random nonce (192 bits) unless it has one.

    The id of a plot.map is public (a leaf of the log); without random bytes in the
    payload, its coordinates could be brute-forced from a coarse location.
    """
    if body.get("type") == "plot.map":
        body.setdefault("nonce", secrets.token_urlsafe(24))


def sign_payload(
    raw: bytes,
    key_file: Path,
    state_file: Path | None = None,
    *,
    head: tuple[int, str | None] | None = None,
    ledger: str | None = None,
) -> Envelope:
    """Sign payload JSON with ``key_file``, continuing the key's chain; update the state.

    ``ledger`` (the genesis id of the ledger the event is for) is remembered in the state
    file, so it is needed once per key; a payload that names its ``ledger`` keeps it.
    """
    body = loads_strict(raw, what="payload file")
    if not isinstance(body, dict):
        raise InvalidEvent("the payload file must hold a JSON object")
    private_key = load_private_key(key_file)
    keyid = keyid_of(private_key.public_key())
    path = state_file or state_path_for(key_file)
    state = read_state(path, keyid)
    if head is not None:
        state["seq"], state["prev"] = head
    party = body.get("party") or state.get("party")
    if not party:
        raise InvalidEvent(
            "the payload names no party, and the key's state knows none", field="party"
        )
    bound = body.get(LEDGER_FIELD) or ledger or state.get(LEDGER_FIELD)
    if not bound:
        raise InvalidEvent(
            "which ledger is this event for? Pass --ledger with the ledger's genesis id"
            " (`trazo init` prints it; GET /api/v1/health shows it): it is kept in the"
            f" key's state file {path} from then on",
            field=LEDGER_FIELD,
        )
    add_nonce(body)
    body.setdefault("schema", SCHEMA_VERSION)
    body.setdefault("time", datetime.now().astimezone().replace(microsecond=0).isoformat())
    body.update(party=party, key=keyid, seq=state["seq"] + 1, prev=state["prev"], ledger=bound)
    envelope = sign(dumps_payload(body), private_key)
    write_state(
        path,
        {
            "keyid": keyid,
            "party": party,
            "seq": body["seq"],
            "prev": envelope.id,
            LEDGER_FIELD: bound,
        },
    )
    return envelope


class KeyChain:
    """An in-memory signer that keeps one key's chain: for programs that sign many events.

    ``sign(body)`` fills ``schema``, ``party``, ``key``, ``seq``, ``prev`` and ``ledger``
    and returns the envelope; ``time`` must be in ``body`` (a datetime or RFC 3339 string).
    """

    def __init__(
        self,
        private_key: Any,
        party: str,
        *,
        seq: int = 0,
        prev: str | None = None,
        ledger: str | None = None,
    ) -> None:
        self.private_key = private_key
        self.party = party
        self.keyid = keyid_of(private_key.public_key())
        self.seq = seq
        self.prev = prev
        self.ledger = ledger
        """The genesis id every event is bound to (None only to sign a genesis)."""

    def sign(self, body: dict[str, Any]) -> Envelope:
        payload = dict(body)
        add_nonce(payload)
        if self.ledger is not None:
            payload.setdefault(LEDGER_FIELD, self.ledger)
        if isinstance(payload.get("time"), datetime):
            payload["time"] = payload["time"].isoformat()
        payload.update(
            schema=SCHEMA_VERSION,
            party=self.party,
            key=self.keyid,
            seq=self.seq + 1,
            prev=self.prev,
        )
        envelope = sign(dumps_payload(payload), self.private_key)
        self.seq += 1
        self.prev = envelope.id
        return envelope
