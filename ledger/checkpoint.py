"""Checkpoints: the ledger's signed tree heads, as C2SP signed notes.

A checkpoint (c2sp.org/tlog-checkpoint) is a signed note (c2sp.org/signed-note) whose text
is three lines: the log's origin, the tree size in decimal, and the base64 root hash::

    trazo.example/log
    1234
    n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=

    — trazo.example/log AAAAAf0mT...

Signatures are Ed25519 (signature type 0x01) over the note text exactly, final newline
included, blank separator line excluded. The signed bytes are what is verified: a checkpoint
is parsed from the bytes whose signature was checked, never from a re-serialization.

Pure: no I/O. Keys come in as ``cryptography`` objects or verifier key strings.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.errors import ProofError

__all__ = [
    "ALG_ED25519",
    "MAX_SIGNATURES",
    "Checkpoint",
    "NoteSigner",
    "NoteVerifier",
    "format_verifier_key",
    "key_id",
    "open_note",
    "parse_signature_line",
    "parse_verifier_key",
    "sign_checkpoint",
    "sign_note",
    "split_note",
    "verifier_key_parts",
    "verify_checkpoint",
]

ALG_ED25519 = 0x01
"""The signed-note signature type byte for Ed25519."""

MAX_SIGNATURES = 100
"""Signature lines accepted in one note (the spec asks verifiers to accept at least 16)."""

_HASH_SIZE = 32
_KEY_ID_SIZE = 4
_ED25519_SIG_SIZE = 64
_SIG_PREFIX = "\N{EM DASH} "
_SIZE_RE = re.compile(r"0|[1-9][0-9]*")
_KEY_ID_RE = re.compile(r"[0-9a-f]{8}")


# --- checkpoints ---------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: the log's ``origin``, its ``size`` in leaves and its ``root`` hash."""

    origin: str
    size: int
    root: bytes

    def __post_init__(self) -> None:
        if not self.origin:
            raise ProofError("checkpoint origin must not be empty")
        if any(c < " " for c in self.origin):
            raise ProofError(f"checkpoint origin {self.origin!r} contains a control character")
        if self.size < 0:
            raise ProofError(f"checkpoint tree size must not be negative, got {self.size}")
        if len(self.root) != _HASH_SIZE:
            raise ProofError(f"checkpoint root hash is {len(self.root)} bytes, not {_HASH_SIZE}")

    def body(self) -> bytes:
        """The note text that is signed: ``<origin>\\n<size>\\n<base64 root>\\n``."""
        root_b64 = base64.b64encode(self.root).decode("ascii")
        return f"{self.origin}\n{self.size}\n{root_b64}\n".encode()

    @classmethod
    def parse_body(cls, body: bytes) -> Checkpoint:
        """Parse checkpoint note text; strict, so that ``parse_body(b).body() == b``.

        trazo's checkpoints carry no extension lines, so a fourth line is refused.
        """
        text = _decode_utf8(body, "checkpoint")
        if not text.endswith("\n"):
            raise ProofError("checkpoint text must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise ProofError(f"checkpoint has {len(lines)} lines, needs origin, size and root")
        if len(lines) > 3:
            raise ProofError("checkpoint has extension lines, which trazo does not accept")
        origin, size_text, root_text = lines
        if not _SIZE_RE.fullmatch(size_text):
            raise ProofError(f"checkpoint tree size {size_text!r} is not a decimal number")
        root = _b64decode(root_text, "checkpoint root hash")
        checkpoint = cls(origin=origin, size=int(size_text), root=root)
        if checkpoint.body() != body:  # e.g. non-canonical base64
            raise ProofError("checkpoint text is not in canonical form")
        return checkpoint


# --- keys ----------------------------------------------------------------------------


def _check_key_name(name: str) -> None:
    if not name:
        raise ProofError("key name must not be empty")
    bad = [c for c in name if c == "+" or c.isspace() or c < " " or c == "\x7f"]
    if bad:
        raise ProofError(f"key name {name!r} contains {bad[0]!r}; spaces and '+' are not allowed")


def key_id(name: str, public_key: bytes, alg: int = ALG_ED25519) -> bytes:
    """The 4-byte key ID: SHA-256(name || 0x0A || alg || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_key).digest()[:_KEY_ID_SIZE]


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class NoteVerifier:
    """A trusted note key: name, key ID and Ed25519 public key."""

    name: str
    public_key: bytes
    key_id: bytes = field(init=False)
    _key: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_key_name(self.name)
        if len(self.public_key) != 32:
            raise ProofError(f"Ed25519 public key is {len(self.public_key)} bytes, not 32")
        try:
            key = Ed25519PublicKey.from_public_bytes(self.public_key)
        except ValueError as e:
            raise ProofError(f"not an Ed25519 public key: {e}") from e
        object.__setattr__(self, "key_id", key_id(self.name, self.public_key))
        object.__setattr__(self, "_key", key)

    @classmethod
    def from_public_key(cls, name: str, public_key: Ed25519PublicKey) -> NoteVerifier:
        return cls(name, _raw_public(public_key))

    def verifier_key(self) -> str:
        """``<name>+<hex key ID>+base64(0x01 || public key)``."""
        return format_verifier_key(self.name, self.public_key)

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` (without the key ID prefix) signs ``message``."""
        if len(signature) != _ED25519_SIG_SIZE:
            return False
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


def verifier_key_parts(vkey: str, alg: int = ALG_ED25519) -> tuple[str, bytes]:
    """The name and 32-byte Ed25519 key of ``<name>+<hex key ID>+<base64(alg || key)>``,
    checked (the name, the key ID against the key, the type byte): a note key (0x01) or
    a witness's cosignature key (0x04, ``ledger.cosignature``)."""
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise ProofError("verifier key must have the form <name>+<hex key ID>+<base64 key>")
    name, hex_id, encoded = parts
    _check_key_name(name)
    if not _KEY_ID_RE.fullmatch(hex_id):
        raise ProofError(f"verifier key ID {hex_id!r} is not 8 lowercase hex digits")
    raw = _b64decode(encoded, "verifier key")
    if not raw:
        raise ProofError("verifier key is empty")
    if raw[0] != alg:
        raise ProofError(
            f"verifier key algorithm is 0x{raw[0]:02x}; only 0x{alg:02x}"
            f" ({'an Ed25519 note key' if alg == ALG_ED25519 else 'an Ed25519 cosigner'})"
            " is supported here"
        )
    if len(raw) != 33:
        raise ProofError(f"Ed25519 verifier key is {len(raw) - 1} bytes, not 32")
    computed = key_id(name, raw[1:], alg)
    if computed.hex() != hex_id:
        raise ProofError(
            f"verifier key ID {hex_id} does not match the key (its hash gives {computed.hex()})"
        )
    return name, raw[1:]


def format_verifier_key(name: str, public_key: bytes, alg: int = ALG_ED25519) -> str:
    """``<name>+<hex key ID>+base64(alg || public key)``."""
    encoded = base64.b64encode(bytes([alg]) + public_key).decode("ascii")
    return f"{name}+{key_id(name, public_key, alg).hex()}+{encoded}"


def parse_verifier_key(vkey: str) -> NoteVerifier:
    """Parse ``<name>+<hex key ID>+<base64(0x01 || 32-byte public key)>``."""
    return NoteVerifier(*verifier_key_parts(vkey))


class NoteSigner:
    """Signs notes as ``name`` with an Ed25519 private key."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        _check_key_name(name)
        self.name = name
        self._private_key = private_key
        self._verifier = NoteVerifier.from_public_key(name, private_key.public_key())

    def __repr__(self) -> str:
        return f"NoteSigner({self.name!r}, key_id={self.key_id.hex()})"

    @property
    def key_id(self) -> bytes:
        return self._verifier.key_id

    @property
    def verifier(self) -> NoteVerifier:
        return self._verifier

    def verifier_key(self) -> str:
        return self._verifier.verifier_key()

    def sign(self, message: bytes) -> bytes:
        """The raw 64-byte Ed25519 signature of ``message``."""
        return self._private_key.sign(message)


# --- notes ---------------------------------------------------------------------------


def _decode_utf8(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8", errors="strict")
    except UnicodeDecodeError as e:
        raise ProofError(f"{what} is not valid UTF-8: {e}") from e


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as e:
        raise ProofError(f"{what} is not valid base64") from e


def _check_text(text: str, what: str) -> None:
    for c in text:
        if c < " " and c != "\n":
            raise ProofError(f"{what} contains control character {c!r}")
    if not text.endswith("\n"):
        raise ProofError(f"{what} must end with a newline")


def sign_note(body: bytes, *signers: NoteSigner) -> str:
    """The signed note: ``body``, a blank line, then one signature line per signer."""
    if not signers:
        raise ValueError("sign_note needs at least one signer")
    _check_text(_decode_utf8(body, "note text"), "note text")
    lines = []
    for signer in signers:
        signature = base64.b64encode(signer.key_id + signer.sign(body)).decode("ascii")
        lines.append(f"{_SIG_PREFIX}{signer.name} {signature}\n")
    return body.decode() + "\n" + "".join(lines)


@dataclass(frozen=True)
class SignatureLine:
    name: str
    key_id: bytes
    signature: bytes


def parse_signature_line(line: str, number: int) -> SignatureLine:
    if not line.startswith(_SIG_PREFIX):
        raise ProofError(f"signature line {number} does not start with an em dash and a space")
    fields = line[len(_SIG_PREFIX) :].split(" ")
    if len(fields) != 2:
        raise ProofError(f"signature line {number} must be '— <name> <base64 signature>'")
    name, encoded = fields
    _check_key_name(name)
    raw = _b64decode(encoded, f"signature line {number}")
    if len(raw) <= _KEY_ID_SIZE:
        raise ProofError(f"signature line {number} is too short to hold a key ID and signature")
    return SignatureLine(name, raw[:_KEY_ID_SIZE], raw[_KEY_ID_SIZE:])


def split_note(text: str | bytes) -> tuple[bytes, list[str]]:
    """A signed note's text (the signed bytes, final newline included) and its signature
    lines (without their newlines); ``ProofError`` if it is not shaped as a signed note."""
    note = _decode_utf8(text, "signed note") if isinstance(text, bytes) else text
    _check_text(note, "signed note")
    split = note.rfind("\n\n")
    if split < 0:
        raise ProofError("signed note has no blank line before its signatures")
    body, signature_block = note[: split + 1], note[split + 2 :]
    if not signature_block:
        raise ProofError("signed note has no signature lines")
    lines = signature_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise ProofError(f"signed note has {len(lines)} signatures, more than {MAX_SIGNATURES}")
    return body.encode(), lines


def open_note(text: str | bytes, verifiers: Iterable[NoteVerifier]) -> tuple[bytes, list[str]]:
    """Verify a signed note; return its text (the signed bytes) and who verified it.

    Follows c2sp.org/signed-note: signatures from unknown keys (name and key ID not both
    known) are ignored; a signature from a known key that fails to verify rejects the whole
    note; a note with no verified signature is rejected. Raises :class:`ProofError`.
    """
    known: dict[tuple[str, bytes], NoteVerifier] = {}
    for verifier in verifiers:
        ident = (verifier.name, verifier.key_id)
        if ident in known and known[ident] != verifier:
            raise ValueError(f"two different keys named {verifier.name!r} share a key ID")
        known[ident] = verifier
    if not known:
        raise ValueError("open_note needs at least one verifier: nothing could ever verify")

    message, lines = split_note(text)

    verified: list[str] = []
    seen_unknown: list[str] = []
    for number, line in enumerate(lines, start=1):
        sig = parse_signature_line(line, number)
        trusted = known.get((sig.name, sig.key_id))
        if trusted is None:
            seen_unknown.append(f"{sig.name}+{sig.key_id.hex()}")
            continue
        if not trusted.verify(message, sig.signature):
            raise ProofError(
                f"signature by {sig.name} (key {sig.key_id.hex()}) does not verify",
                field=f"signature[{number - 1}]",
            )
        if sig.name not in verified:
            verified.append(sig.name)
    if not verified:
        signers = ", ".join(seen_unknown)
        raise ProofError(f"signed note has no signature from a known key (signed by: {signers})")
    return message, verified


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> str:
    """The checkpoint as a signed note."""
    return sign_note(checkpoint.body(), signer)


def verify_checkpoint(
    text: str | bytes, verifier: NoteVerifier, *, origin: str | None = None
) -> Checkpoint:
    """Verify a signed checkpoint with the log's key and parse the bytes that were signed.

    With ``origin``, the checkpoint must also name that log.
    """
    body, _ = open_note(text, [verifier])
    checkpoint = Checkpoint.parse_body(body)
    if origin is not None and checkpoint.origin != origin:
        raise ProofError(f"checkpoint is for log {checkpoint.origin!r}, expected {origin!r}")
    return checkpoint


# --- trusting a log key -------------------------------------------------------------------


@dataclass(frozen=True)
class LogKey:
    """The log public key a verifier trusts: a PEM file or a note verifier key string.

    A PEM key names no log, so it verifies a checkpoint under the origin the checkpoint
    states (the log signs with its origin as the key name); a verifier key string also
    fixes the name.
    """

    public_key: bytes
    name: str | None = None

    @classmethod
    def load(cls, spec: str) -> LogKey:
        path = Path(spec)
        if path.is_file():
            from ledger.envelope import raw_public_key
            from ledger.keys import load_public_key

            return cls(raw_public_key(load_public_key(path)))
        if "+" in spec:
            verifier = parse_verifier_key(spec.strip())
            return cls(verifier.public_key, verifier.name)
        raise ProofError(f"{spec!r} is neither a key file nor a verifier key string")

    def verifier(self, name: str) -> NoteVerifier:
        return NoteVerifier(self.name or name, self.public_key)

    def open(self, note: str | bytes) -> Checkpoint:
        """Verify a checkpoint note signed by this key; return what it states."""
        text = note.decode("utf-8", "replace") if isinstance(note, bytes) else note
        origin = text.split("\n", 1)[0]
        return verify_checkpoint(note, self.verifier(origin))
