"""Witness cosignatures of checkpoints: C2SP ``tlog-cosignature``, the Ed25519 ``cosignature/v1``.

A cosignature is a note signature line on a checkpoint::

    — witness.example/w1 base64(key ID || u64 timestamp || Ed25519 signature)

The key ID is ``SHA-256(name || 0x0A || 0x04 || public key)[:4]``, and the signature is
over ``"cosignature/v1\\n" || "time <timestamp>\\n" || the checkpoint's note text``. It states
that, at that time, this was the largest consistent tree the witness had seen for the log.
A verifier key is ``<name>+<hex key ID>+base64(0x04 || public key)``.

Pure: no I/O.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.checkpoint import (
    format_verifier_key,
    key_id,
    parse_signature_line,
    split_note,
    verifier_key_parts,
)
from ledger.errors import ProofError

ALG_COSIGNATURE_V1 = 0x04
"""The key ID algorithm byte of Ed25519 ``cosignature/v1``."""
MAX_TIMESTAMP = 2**63 - 1
_SIG_SIZE = 8 + 64


def signed_message(body: bytes, timestamp: int) -> bytes:
    """What a ``cosignature/v1`` signs: the header, the time line, the checkpoint text."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise ProofError(f"a cosignature timestamp is 0…2^63-1, not {timestamp}")
    return b"cosignature/v1\ntime " + str(timestamp).encode() + b"\n" + body


@dataclass(frozen=True)
class Cosigned:
    """A valid cosignature: by whom, and when (POSIX seconds)."""

    name: str
    timestamp: int


@dataclass(frozen=True)
class CosignerKey:
    """A witness's public key as verifiers trust it: its name and Ed25519 key."""

    name: str
    public_key: bytes
    key_id: bytes = field(init=False)
    _key: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.public_key) != 32:
            raise ProofError(f"an Ed25519 public key is 32 bytes, not {len(self.public_key)}")
        object.__setattr__(self, "key_id", key_id(self.name, self.public_key, ALG_COSIGNATURE_V1))
        object.__setattr__(self, "_key", Ed25519PublicKey.from_public_bytes(self.public_key))

    @classmethod
    def parse(cls, vkey: str) -> CosignerKey:
        """``<name>+<hex key ID>+base64(0x04 || 32-byte key)``."""
        return cls(*verifier_key_parts(vkey.strip(), ALG_COSIGNATURE_V1))

    def verifier_key(self) -> str:
        return format_verifier_key(self.name, self.public_key, ALG_COSIGNATURE_V1)

    def check(self, body: bytes, signature: bytes) -> int | None:
        """The timestamp of a valid cosignature of ``body`` (the signature line's bytes
        after the key ID), or None."""
        if len(signature) != _SIG_SIZE:
            return None
        timestamp = int.from_bytes(signature[:8], "big")
        if timestamp > MAX_TIMESTAMP:
            return None
        try:
            self._key.verify(signature[8:], signed_message(body, timestamp))
        except InvalidSignature:
            return None
        return timestamp


class Cosigner:
    """A witness's signing side: cosigns checkpoint note texts as ``name``."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key = CosignerKey(name, raw)
        self._private_key = private_key

    @property
    def name(self) -> str:
        return self.key.name

    def cosign(self, body: bytes, timestamp: int | None = None) -> str:
        """The cosignature line (newline-terminated) of a checkpoint's note text."""
        when = int(time.time()) if timestamp is None else timestamp
        signature = self._private_key.sign(signed_message(body, when))
        raw = self.key.key_id + when.to_bytes(8, "big") + signature
        return f"\N{EM DASH} {self.name} {base64.b64encode(raw).decode()}\n"


def cosignatures(note: str | bytes, keys: Iterable[CosignerKey]) -> list[Cosigned]:
    """The valid cosignatures on a signed note by ``keys``, one per witness key (a key
    published under two names is still one witness). Lines from
    other keys (the log's own signature among them) are ignored; a line that names a
    trusted witness and key ID but does not verify is no cosignature."""
    body, lines = split_note(note)
    trusted = {(k.name, k.key_id): k for k in keys}
    found: dict[bytes, Cosigned] = {}  # by public key: one key is one witness, whatever its names
    for number, line in enumerate(lines, start=1):
        sig = parse_signature_line(line, number)
        key = trusted.get((sig.name, sig.key_id))
        if key is None or key.public_key in found:
            continue
        timestamp = key.check(body, sig.signature)
        if timestamp is not None:
            found[key.public_key] = Cosigned(sig.name, timestamp)
    return list(found.values())


__all__ = [
    "ALG_COSIGNATURE_V1",
    "Cosigned",
    "Cosigner",
    "CosignerKey",
    "cosignatures",
    "signed_message",
]
