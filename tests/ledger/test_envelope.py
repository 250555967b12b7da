"""DSSE envelopes: golden vectors from fixed seeds, an independent PAE, every rejection."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.envelope import PAYLOAD_TYPE, Envelope, event_id, keyid_of, pae, sign
from ledger.errors import InvalidEvent, SignatureError
from ledger.payload import dumps_payload

GOLDEN = Path(__file__).parent / "golden" / "envelopes.json"

SEED_OPERATOR = bytes(range(32))
SEED_COOP = bytes([7] * 32)
GOLDEN_PAYLOADS = [
    (
        SEED_OPERATOR,
        {
            "type": "party.register",
            "schema": 1,
            "party": "operator",
            "key": "",
            "seq": 1,
            "prev": None,
            "time": "2026-01-05T09:00:00-05:00",
            "subject": "operator",
            "name": "Operador",
            "roles": ["operator"],
            "country": "PE",
            "public_key": "",
        },
    ),
    (
        SEED_COOP,
        {
            "type": "harvest",
            "schema": 1,
            "party": "coop-pangoa",
            "key": "",
            "seq": 3,
            "prev": "sha256:" + "ab" * 32,
            "time": "2026-05-04T10:30:00-05:00",
            "lot": "coop-pangoa:h-2026-00153",
            "product": "coffee",
            "form": "parchment",
            "quantity": "46",
            "unit": "kg",
            "member": "coop-pangoa:m-0042",
            "plot": "coop-pangoa:p-0042-1",
        },
    ),
]


def independent_pae(payload_type: str, payload: bytes) -> bytes:
    """PAE written again from the DSSE spec, sharing no code with ledger.envelope."""
    t = payload_type.encode()
    return b" ".join([b"DSSEv1", str(len(t)).encode(), t, str(len(payload)).encode(), payload])


def golden_envelopes() -> list[dict[str, object]]:
    out = []
    for seed, template in GOLDEN_PAYLOADS:
        key = Ed25519PrivateKey.from_private_bytes(seed)
        body = dict(template, key=keyid_of(key.public_key()))
        if body["type"] == "party.register":
            raw = key.public_key().public_bytes_raw()
            body["public_key"] = base64.b64encode(raw).decode()
        out.append(sign(dumps_payload(body), key).to_dict())
    return out


def test_golden_envelopes_match_byte_for_byte() -> None:
    expected = json.loads(GOLDEN.read_text())
    assert golden_envelopes() == expected


def test_golden_envelopes_verify_with_independent_pae() -> None:
    for (seed, _), env in zip(GOLDEN_PAYLOADS, json.loads(GOLDEN.read_text()), strict=True):
        key = Ed25519PrivateKey.from_private_bytes(seed)
        payload = base64.b64decode(env["payload"])
        sig = base64.b64decode(env["signatures"][0]["sig"])
        key.public_key().verify(sig, independent_pae(env["payloadType"], payload))
        raw = key.public_key().public_bytes_raw()
        assert env["signatures"][0]["keyid"] == hashlib.sha256(raw).hexdigest()
        assert Envelope.from_dict(env).id == "sha256:" + hashlib.sha256(payload).hexdigest()


def test_pae_matches_spec_example() -> None:
    # The DSSE spec's worked example.
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    assert pae(PAYLOAD_TYPE, b"") == independent_pae(PAYLOAD_TYPE, b"")


def test_event_id_is_sha256_of_payload() -> None:
    assert event_id(b"{}") == "sha256:" + hashlib.sha256(b"{}").hexdigest()


def _valid() -> dict[str, object]:
    return golden_envelopes()[0]


@pytest.mark.parametrize(
    ("mutate", "field", "message"),
    [
        (lambda e: e.update(payloadType="application/json"), "payloadType", "payloadType must be"),
        (lambda e: e.update(payload="not base64!"), "payload", "malformed base64"),
        (lambda e: e.update(payload="YWJj="), "payload", "malformed base64"),
        (lambda e: e.pop("signatures"), "signatures", "missing envelope field"),
        (lambda e: e.update(signatures=[]), "signatures", "exactly one signature"),
        (lambda e: e["signatures"].append(e["signatures"][0]), "signatures", "exactly one"),
        (lambda e: e["signatures"][0].update(sig="@@"), "signatures[0].sig", "malformed base64"),
        (lambda e: e["signatures"][0].update(sig="AAAA"), "signatures[0].sig", "64 bytes"),
        (lambda e: e["signatures"][0].update(keyid="XY"), "signatures[0].keyid", "64 lowercase"),
        (lambda e: e.update(extra=1), None, "unknown envelope field"),
    ],
)
def test_envelope_rejections(mutate, field, message) -> None:  # type: ignore[no-untyped-def]
    env = _valid()
    mutate(env)
    with pytest.raises(InvalidEvent) as err:
        Envelope.from_dict(env)
    assert err.value.field == field
    assert message in err.value.message


def test_signature_by_another_key_fails() -> None:
    env = Envelope.from_dict(_valid())
    other = Ed25519PrivateKey.from_private_bytes(SEED_COOP).public_key()
    with pytest.raises(SignatureError):
        env.verify(other)


def test_flipped_payload_bit_fails_verification() -> None:
    env = Envelope.from_dict(_valid())
    key = Ed25519PrivateKey.from_private_bytes(SEED_OPERATOR).public_key()
    env.verify(key)
    tampered = Envelope(bytes([env.payload[0] ^ 1]) + env.payload[1:], env.signature)
    with pytest.raises(SignatureError, match="does not verify"):
        tampered.verify(key)
