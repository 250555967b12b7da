"""Ed25519 key files: ``NAME.key`` (PEM PKCS#8, mode 0600) and ``NAME.pub`` (PEM SPKI).

Both are readable by ``openssl pkey``. Writing never overwrites an existing file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from ledger.envelope import keyid_of
from ledger.errors import LedgerError


class KeyFileError(LedgerError):
    title = "Key file error"
    exit_code = 2


@dataclass(frozen=True)
class KeyPair:
    private_path: Path
    public_path: Path
    keyid: str


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError as e:
        raise KeyFileError(f"{path} already exists; refusing to overwrite a key") from e
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)  # O_CREAT's mode is filtered by the umask


def write_keypair(
    directory: Path, name: str, private_key: Ed25519PrivateKey | None = None
) -> KeyPair:
    """Create ``NAME.key`` and ``NAME.pub`` in ``directory``; refuse to overwrite either."""
    if not name or "/" in name or name.startswith("."):
        raise KeyFileError(f"invalid key name {name!r}")
    directory.mkdir(parents=True, exist_ok=True)
    key = private_key or Ed25519PrivateKey.generate()
    private_path = directory / f"{name}.key"
    public_path = directory / f"{name}.pub"
    for path in (private_path, public_path):
        if path.exists():
            raise KeyFileError(f"{path} already exists; refusing to overwrite a key")
    _write_new(
        private_path,
        key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()),
        0o600,
    )
    _write_new(
        public_path,
        key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
        0o644,
    )
    return KeyPair(private_path, public_path, keyid_of(key.public_key()))


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError as e:
        raise KeyFileError(f"no such key file: {path}") from e
    except (ValueError, TypeError) as e:
        raise KeyFileError(f"{path} is not an unencrypted PEM PKCS#8 private key: {e}") from e
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} is not an Ed25519 key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise KeyFileError(f"no such key file: {path}") from e
    try:
        if b"PRIVATE KEY" in data:
            return load_private_key(path).public_key()
        key = load_pem_public_key(data)
    except ValueError as e:
        raise KeyFileError(f"{path} is not a PEM public key: {e}") from e
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path} is not an Ed25519 key")
    return key


def public_key_from_raw(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)
