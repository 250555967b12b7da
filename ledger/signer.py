"""Signing: ``sign_payload`` for one payload file (through the key's outbox, which keeps
the chain head; see ``ledger.outbox``) and ``KeyChain`` for programs that sign many."""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

from ledger.envelope import Envelope, keyid_of, sign
from ledger.errors import InvalidEvent
from ledger.payload import LEDGER_FIELD, SCHEMA_VERSION, dumps_payload, loads_strict


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
    outbox_file: Path | None = None,
    *,
    head: tuple[int, str | None] | None = None,
    ledger: str | None = None,
) -> Envelope:
    """Sign payload JSON with ``key_file``, continuing the key's chain, and queue it in
    the key's outbox (``ledger.outbox``; ``trazo sign`` does this).

    ``ledger`` (the genesis id of the ledger the event is for) is remembered in the
    outbox, so it is needed once per key; a payload that names its ``ledger`` keeps it.
    """
    from ledger.outbox import Outbox

    body = loads_strict(raw, what="payload file")
    if not isinstance(body, dict):
        raise InvalidEvent("the payload file must hold a JSON object")
    with Outbox(key_file, outbox_file) as box:
        return box.sign(body, ledger=ledger, head=head)


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
