"""DSSE envelopes: the wire and storage format of every event.

The bytes that were signed are the bytes that are stored. ``pae`` produces the
bytes that are signed, and the same function's output is what is verified.

    PAE(t, b) = "DSSEv1" SP len(t) SP t SP len(b) SP b   (lengths in ASCII decimal bytes)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.errors import InvalidEvent, SignatureError

PAYLOAD_TYPE = "application/vnd.trazo.event+json"
SESSION_PAYLOAD_TYPE = "application/vnd.trazo.session+json"
"""A sign-in statement's payload type: a signature over one can never pass as an event's."""
SESSION_FIELDS = frozenset({"challenge", "ledger", "server", "key"})
ENVELOPE_FIELDS = frozenset({"payloadType", "payload", "signatures"})
SIGNATURE_FIELDS = frozenset({"keyid", "sig"})


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: the exact bytes an Ed25519 signature covers."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def keyid_of(public_key: Ed25519PublicKey | bytes) -> str:
    """Lowercase hex SHA-256 of the raw 32-byte Ed25519 public key."""
    raw = public_key if isinstance(public_key, bytes) else raw_public_key(public_key)
    return hashlib.sha256(raw).hexdigest()


def event_id(payload: bytes) -> str:
    """``sha256:`` + hex SHA-256 of the payload bytes."""
    return "sha256:" + hashlib.sha256(payload).hexdigest()


def leaf_input(payload: bytes) -> bytes:
    """The event's Merkle leaf input: the 32-byte SHA-256 of its payload (DESIGN.md)."""
    return hashlib.sha256(payload).digest()


def b64decode_strict(text: Any, *, field: str) -> bytes:
    """Standard base64 with padding; anything else is an ``InvalidEvent`` naming ``field``."""
    if not isinstance(text, str):
        raise InvalidEvent("must be a base64 string", field=field)
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as e:
        raise InvalidEvent(f"malformed base64: {e}", field=field) from e
    if base64.b64encode(data).decode("ascii") != text:
        raise InvalidEvent("malformed base64: not in canonical padded form", field=field)
    return data


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class Signature:
    keyid: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    """A DSSE envelope holding one trazo event payload, with exactly one signature."""

    payload: bytes
    signature: Signature
    payload_type: str = PAYLOAD_TYPE

    @property
    def id(self) -> str:
        return event_id(self.payload)

    @classmethod
    def from_dict(cls, data: Any, *, payload_type: str = PAYLOAD_TYPE) -> Envelope:
        """Read an envelope as it travels; rejects anything DESIGN.md does not allow.

        ``payload_type`` is what it must carry: an event's, unless the caller reads
        another kind of signed statement (a sign-in, ``api.http.sessions``)."""
        if not isinstance(data, dict):
            raise InvalidEvent("an envelope must be a JSON object")
        unknown = set(data) - ENVELOPE_FIELDS
        if unknown:
            raise InvalidEvent(f"unknown envelope field(s): {', '.join(sorted(unknown))}")
        for name in sorted(ENVELOPE_FIELDS):
            if name not in data:
                raise InvalidEvent("missing envelope field", field=name)
        if data["payloadType"] != payload_type:
            raise InvalidEvent(
                f"payloadType must be {payload_type!r}, not {data['payloadType']!r}",
                field="payloadType",
            )
        payload = b64decode_strict(data["payload"], field="payload")
        sigs = data["signatures"]
        if not isinstance(sigs, list) or len(sigs) != 1:
            raise InvalidEvent(
                "an event envelope carries exactly one signature", field="signatures"
            )
        sig = sigs[0]
        if not isinstance(sig, dict) or set(sig) != SIGNATURE_FIELDS:
            raise InvalidEvent('a signature is an object {"keyid", "sig"}', field="signatures[0]")
        keyid = sig["keyid"]
        if not isinstance(keyid, str) or len(keyid) != 64 or keyid != keyid.lower():
            raise InvalidEvent(
                "keyid must be 64 lowercase hex characters", field="signatures[0].keyid"
            )
        try:
            bytes.fromhex(keyid)
        except ValueError as e:
            raise InvalidEvent(
                "keyid must be 64 lowercase hex characters", field="signatures[0].keyid"
            ) from e
        raw_sig = b64decode_strict(sig["sig"], field="signatures[0].sig")
        if len(raw_sig) != 64:
            raise InvalidEvent(
                f"an Ed25519 signature is 64 bytes, not {len(raw_sig)}",
                field="signatures[0].sig",
            )
        return cls(payload=payload, signature=Signature(keyid, raw_sig), payload_type=payload_type)

    @classmethod
    def from_json(cls, text: str | bytes) -> Envelope:
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as e:
            raise InvalidEvent(f"envelope is not valid JSON: {e}") from e
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return {
            "payloadType": self.payload_type,
            "payload": b64encode(self.payload),
            "signatures": [{"keyid": self.signature.keyid, "sig": b64encode(self.signature.sig)}],
        }

    def to_json(self) -> str:
        """Compact JSON; the signed payload bytes travel inside as base64, untouched."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    def signed_by(self, public_key: Ed25519PublicKey) -> bool:
        """Whether the signature is ``public_key``'s over PAE(payloadType, payload)."""
        try:
            self.verify(public_key)
        except SignatureError:
            return False
        return True

    def verify(self, public_key: Ed25519PublicKey) -> None:
        """Raise ``SignatureError`` unless the signature covers PAE(payloadType, payload)."""
        if keyid_of(public_key) != self.signature.keyid:
            raise SignatureError(
                "the signature's keyid does not match the key it is checked with",
                field="signatures[0].keyid",
            )
        try:
            public_key.verify(self.signature.sig, pae(self.payload_type, self.payload))
        except InvalidSignature as e:
            raise SignatureError(
                f"Ed25519 signature does not verify for key {self.signature.keyid[:16]}…",
                field="signatures[0].sig",
            ) from e


def session_statement(challenge: str, ledger: str, server: str, keyid: str) -> bytes:
    """The payload a party signs to sign in (``api.http.sessions``): the server's
    challenge, the ledger id and the server (``host[:port]``, as the signer reached it)
    it is for, and the signing key (the session is the key's party's). The ledger and the
    server bind it: a copy of the ledger relaying a real server's challenge gets a
    signature the real server refuses."""
    body = {"challenge": challenge, "ledger": ledger, "server": server.lower(), "key": keyid}
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode("utf-8")


def sign(
    payload: bytes, private_key: Ed25519PrivateKey, payload_type: str = PAYLOAD_TYPE
) -> Envelope:
    """Sign payload bytes as they are; the caller owns their serialization."""
    sig = private_key.sign(pae(payload_type, payload))
    return Envelope(
        payload=payload,
        signature=Signature(keyid_of(private_key.public_key()), sig),
        payload_type=payload_type,
    )
