"""Payload parsing: every common-field rejection names its class, field and reason.

Parsing does not verify signatures, so the envelopes here sign arbitrary bytes with a
fixed key; what is under test is ``ledger.append.parse`` / ``parse_batch`` and the
party.register field check that runs before any rule touches the ledger.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.append import append_batch, parse, parse_batch
from ledger.envelope import Envelope, b64encode, keyid_of, raw_public_key, sign
from ledger.errors import InvalidEvent
from ledger.payload import COMMON_FIELDS, MAX_PAYLOAD_BYTES, dumps_payload
from ledger.rules import RULES
from tests.support import World, public_b64, seeded_key

KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"test_payload").digest())
KEYID = keyid_of(KEY.public_key())
PREV = "sha256:" + "ab" * 32


def _body(**changes: Any) -> dict[str, Any]:
    """A valid party.register payload (seq 1), with ``changes`` applied."""
    body: dict[str, Any] = {
        "type": "party.register",
        "schema": 1,
        "party": "operator",
        "key": KEYID,
        "seq": 1,
        "prev": None,
        "time": "2026-03-01T08:00:00-05:00",
        "subject": "coop-pangoa",
        "name": "Cooperativa Agraria Pangoa",
        "roles": ["spo"],
        "country": "PE",
        "public_key": b64encode(raw_public_key(KEY.public_key())),
    }
    body.update(changes)
    return body


def _signed(raw: bytes) -> Envelope:
    return sign(raw, KEY)


def _env(**changes: Any) -> Envelope:
    return _signed(dumps_payload(_body(**changes)))


def _without(name: str) -> Envelope:
    body = _body()
    del body[name]
    return _signed(dumps_payload(body))


def _replace_bytes(old: bytes, new: bytes) -> Envelope:
    raw = dumps_payload(_body())
    assert old in raw
    return _signed(raw.replace(old, new, 1))


def test_valid_payload_parses_with_every_common_field() -> None:
    event = parse(_env(seq=3, prev=PREV, time="2026-03-01T08:00:00.123456789Z"))
    assert (event.type, event.party, event.key, event.seq, event.prev) == (
        "party.register",
        "operator",
        KEYID,
        3,
        PREV,
    )
    assert event.time.utcoffset() is not None
    assert event.time.microsecond == 123456
    assert event.id == "sha256:" + hashlib.sha256(event.payload).hexdigest()


def test_parse_accepts_envelope_dicts_as_they_travel() -> None:
    env = _env()
    assert parse(env.to_dict()).id == parse(env).id == env.id


# (envelope factory, field, message fragment) — all InvalidEvent from ``parse``.
REJECTIONS: list[tuple[str, Callable[[], Envelope], str | None, str]] = [
    # bytes and JSON
    ("non-utf8", lambda: _signed(b'{"type": "\xff\xfe"}'), None, "not UTF-8"),
    ("latin1", lambda: _replace_bytes(b"Pangoa", "Pangoá".encode("latin-1")), None, "not UTF-8"),
    ("not-json", lambda: _signed(b"{type: party.register}"), None, "not valid JSON"),
    ("empty", lambda: _signed(b""), None, "not valid JSON"),
    ("array", lambda: _signed(b"[1, 2]"), "payload", "must be a JSON object"),
    ("string", lambda: _signed(b'"party.register"'), "payload", "must be a JSON object"),
    ("number", lambda: _signed(b"42"), "payload", "must be a JSON object"),
    ("null", lambda: _signed(b"null"), "payload", "must be a JSON object"),
    (
        "dup-top",
        lambda: _replace_bytes(b'"country":"PE"', b'"country":"PE","country":"BO"'),
        "country",
        "duplicate key 'country'",
    ),
    (
        "dup-type",
        lambda: _replace_bytes(b'"type":', b'"type":"key.add","type":'),
        "type",
        "duplicate key 'type'",
    ),
    ("float", lambda: _replace_bytes(b'"seq":1', b'"seq":1.5'), None, "floating-point number 1.5"),
    (
        "float-exp",
        lambda: _replace_bytes(b'"seq":1', b'"seq":1e3'),
        None,
        "floating-point number 1e3",
    ),
    ("float-nested", lambda: _env(identifiers={"gln": 1.0}), None, "floating-point number 1.0"),
    (  # a right-to-left override in a name would reorder what a page shows after it
        "bidi-override",
        lambda: _env(name="Coop \u202eabc"),
        "name",
        "bidirectional control character",
    ),
    (
        "bidi-isolate-escaped",
        lambda: _replace_bytes(b'"type":', b'"note":"\\u2067x","type":'),
        "note",
        "bidirectional control character",
    ),
    (  # a browser's JSON reads it as 2^53: the in-browser verifier could not hold it
        "integer-beyond-2^53",
        lambda: _replace_bytes(b'"seq":1', b'"seq":9007199254740993'),
        None,
        "integer 9007199254740993 is beyond",
    ),
    (
        "negative-integer-beyond-2^53",
        lambda: _replace_bytes(b'"seq":1', b'"seq":-9007199254740992'),
        None,
        "integer -9007199254740992 is beyond",
    ),
    ("nan", lambda: _replace_bytes(b'"seq":1', b'"seq":NaN'), None, "NaN is not allowed"),
    (
        "infinity",
        lambda: _replace_bytes(b'"seq":1', b'"seq":Infinity'),
        None,
        "Infinity is not allowed",
    ),
    (
        "-infinity",
        lambda: _replace_bytes(b'"seq":1', b'"seq":-Infinity'),
        None,
        "-Infinity is not allowed",
    ),
    (
        "too-big",
        lambda: _env(name="x" * MAX_PAYLOAD_BYTES),
        "payload",
        f"the limit is {MAX_PAYLOAD_BYTES}",
    ),
    # type
    ("type-unknown", lambda: _env(type="teleport"), "type", "unknown event type 'teleport'"),
    ("type-number", lambda: _env(type=7), "type", "unknown event type 7"),
    ("type-case", lambda: _env(type="Party.Register"), "type", "unknown event type"),
    # schema
    ("schema-2", lambda: _env(schema=2), "schema", "schema must be 1, got 2"),
    ("schema-str", lambda: _env(schema="1"), "schema", "schema must be 1, got '1'"),
    ("schema-true", lambda: _env(schema=True), "schema", "schema must be 1, got True"),
    ("schema-null", lambda: _env(schema=None), "schema", "schema must be 1"),
    # party
    ("party-colon", lambda: _env(party="coop:pangoa"), "party", "must be a party id"),
    ("party-slash", lambda: _env(party="coop/pangoa"), "party", "must be a party id"),
    ("party-space", lambda: _env(party="coop pangoa"), "party", "must be a party id"),
    ("party-empty", lambda: _env(party=""), "party", "must be a party id"),
    ("party-long", lambda: _env(party="p" * 129), "party", "must be a party id"),
    ("party-number", lambda: _env(party=5), "party", "must be a party id"),
    # key
    ("key-other", lambda: _env(key="0" * 64), "key", "differs from the signature's keyid"),
    ("key-upper", lambda: _env(key=KEYID.upper()), "key", "64 lowercase hex"),
    ("key-short", lambda: _env(key=KEYID[:-1]), "key", "64 lowercase hex"),
    # seq
    ("seq-0", lambda: _env(seq=0), "seq", "seq must be an integer ≥ 1"),
    ("seq-negative", lambda: _env(seq=-3, prev=PREV), "seq", "seq must be an integer ≥ 1"),
    ("seq-true", lambda: _env(seq=True), "seq", "seq must be an integer ≥ 1"),
    ("seq-string", lambda: _env(seq="1"), "seq", "seq must be an integer ≥ 1"),
    ("seq-null", lambda: _env(seq=None), "seq", "seq must be an integer ≥ 1"),
    # prev
    ("prev-at-seq-1", lambda: _env(prev=PREV), "prev", "prev must be null when seq is 1"),
    ("prev-empty-at-seq-1", lambda: _env(prev=""), "prev", "prev must be null when seq is 1"),
    ("prev-null-at-seq-2", lambda: _env(seq=2, prev=None), "prev", "must be an event id"),
    ("prev-no-prefix", lambda: _env(seq=2, prev="ab" * 32), "prev", "must be an event id"),
    ("prev-upper", lambda: _env(seq=2, prev=PREV.upper()), "prev", "must be an event id"),
    ("prev-short", lambda: _env(seq=2, prev=PREV[:-2]), "prev", "must be an event id"),
    ("prev-md5", lambda: _env(seq=2, prev="md5:" + "ab" * 16), "prev", "must be an event id"),
    # time
    ("time-naive", lambda: _env(time="2026-03-01T08:00:00"), "time", "with an offset"),
    ("time-date-only", lambda: _env(time="2026-03-01"), "time", "with an offset"),
    ("time-space", lambda: _env(time="2026-03-01 08:00:00Z"), "time", "with an offset"),
    ("time-words", lambda: _env(time="yesterday"), "time", "with an offset"),
    ("time-short-offset", lambda: _env(time="2026-03-01T08:00:00-05"), "time", "with an offset"),
    ("time-month-13", lambda: _env(time="2026-13-01T08:00:00Z"), "time", "not a valid date-time"),
    (
        "time-hour-25",
        lambda: _env(time="2026-03-01T25:00:00+00:00"),
        "time",
        "not a valid date-time",
    ),
    (
        "time-fullwidth-digits",
        lambda: _env(time="２０２６-03-01T08:00:00Z"),
        "time",
        "with an offset",
    ),
    ("time-epoch", lambda: _env(time=1772370000), "time", "RFC 3339 date-time string"),
]


@pytest.mark.parametrize(
    ("make", "field", "fragment"),
    [pytest.param(m, f, frag, id=name) for name, m, f, frag in REJECTIONS],
)
def test_parse_rejects(make: Callable[[], Envelope], field: str | None, fragment: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        parse(make())
    assert err.value.field == field
    assert fragment in err.value.message
    assert err.value.index is None  # a single parse has no batch position


@pytest.mark.parametrize("name", COMMON_FIELDS)
def test_each_missing_common_field_is_named(name: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        parse(_without(name))
    assert err.value.field == name
    assert "missing common field" in err.value.message


def test_nested_duplicate_key_names_its_path() -> None:
    raw = dumps_payload(_body())[:-1] + b',"identifiers":{"gln":"1","gln":"2"}}'
    with pytest.raises(InvalidEvent) as err:
        parse(_signed(raw))
    assert "duplicate key 'gln'" in err.value.message
    assert err.value.field == "identifiers.gln"


def test_duplicate_key_deep_in_a_list_names_its_path() -> None:
    raw = dumps_payload(_body())[:-1] + b',"extra":[{"a":1},{"a":{"b":1,"b":1}}]}'
    with pytest.raises(InvalidEvent) as err:
        parse(_signed(raw))
    assert "duplicate key 'b'" in err.value.message
    assert err.value.field == "extra[1].a.b"


def test_payload_of_exactly_64_kib_is_accepted_one_more_byte_is_not() -> None:
    base = len(dumps_payload(_body(name="")))
    exact = _env(name="x" * (MAX_PAYLOAD_BYTES - base))
    assert len(exact.payload) == MAX_PAYLOAD_BYTES
    assert parse(exact).id == exact.id
    over = _env(name="x" * (MAX_PAYLOAD_BYTES - base + 1))
    with pytest.raises(InvalidEvent) as err:
        parse(over)
    assert err.value.field == "payload"
    assert err.value.message.startswith(f"payload is {MAX_PAYLOAD_BYTES + 1} bytes")


def test_size_limit_counts_bytes_not_characters() -> None:
    # "é" is two bytes in UTF-8: half as many characters already exceed the limit.
    env = _env(name="é" * (MAX_PAYLOAD_BYTES // 2))
    assert len(env.payload) > MAX_PAYLOAD_BYTES
    with pytest.raises(InvalidEvent, match="the limit is"):
        parse(env)


@pytest.mark.parametrize(
    "value",
    [
        "2026-03-01T08:00:00Z",
        "2026-03-01t08:00:00z",
        "2026-03-01T08:00:00+14:00",
        "2026-03-01T08:00:00.5-05:00",
    ],
)
def test_rfc3339_times_with_offsets_are_accepted(value: str) -> None:
    assert parse(_env(time=value)).time.tzinfo is not None


# --- envelope-level rejections, through parse and parse_batch -----------------------


def _envelope_dict(**changes: Any) -> dict[str, Any]:
    data = _env().to_dict()
    data.update(changes)
    return data


ENVELOPE_REJECTIONS = [
    pytest.param(
        {"payloadType": "application/json"},
        "payloadType",
        "payloadType must be",
        id="payload-type-json",
    ),
    pytest.param(
        {"payloadType": "application/vnd.in-toto+json"},
        "payloadType",
        "payloadType must be",
        id="payload-type-in-toto",
    ),
    pytest.param({"payload": "e30"}, "payload", "malformed base64", id="base64-unpadded"),
    pytest.param({"payload": "e30=\n"}, "payload", "malformed base64", id="base64-newline"),
    pytest.param({"payload": "e3-_"}, "payload", "malformed base64", id="base64-urlsafe"),
    pytest.param({"payload": "ñ"}, "payload", "malformed base64", id="base64-non-ascii"),
    pytest.param({"payload": 123}, "payload", "must be a base64 string", id="base64-number"),
]


@pytest.mark.parametrize(("changes", "field", "fragment"), ENVELOPE_REJECTIONS)
def test_parse_rejects_envelope(changes: dict[str, Any], field: str, fragment: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        parse(_envelope_dict(**changes))
    assert err.value.field == field
    assert fragment in err.value.message


@pytest.mark.parametrize(("changes", "field", "fragment"), ENVELOPE_REJECTIONS)
def test_parse_batch_names_the_index_of_a_bad_envelope(
    changes: dict[str, Any], field: str, fragment: str
) -> None:
    good = [_env(seq=n, prev=None if n == 1 else PREV).to_dict() for n in (1, 2, 3)]
    with pytest.raises(InvalidEvent) as err:
        parse_batch([good[0], good[1], _envelope_dict(**changes), good[2]])
    assert err.value.index == 2
    assert err.value.field == field
    assert fragment in err.value.message
    assert str(err.value).startswith(f"event 2, field {field!r}: ")


def test_parse_batch_names_the_index_of_a_bad_payload() -> None:
    batch = [_env(), _env(seq=2, prev=PREV), _env(seq=0), _env(schema=2)]
    with pytest.raises(InvalidEvent) as err:
        parse_batch(batch)
    assert (err.value.index, err.value.field) == (2, "seq")
    assert err.value.to_dict()["index"] == 2


def test_parse_batch_first_event_bad_is_index_zero() -> None:
    with pytest.raises(InvalidEvent) as err:
        parse_batch([_signed(b"[]"), _env()])
    assert err.value.index == 0


def test_parse_batch_returns_events_in_order() -> None:
    batch = [_env(), _env(seq=2, prev=PREV)]
    events = parse_batch(batch)
    assert [e.id for e in events] == [batch[0].id, batch[1].id]
    assert [e.seq for e in events] == [1, 2]


# --- unknown fields in a type's body ------------------------------------------------------


def test_party_register_rejects_unknown_body_field() -> None:
    event = parse(_env(nickname="Pangoa"))  # common fields are fine...
    with pytest.raises(InvalidEvent) as err:  # ...the type's own check names the stray field
        RULES["party.register"].check_fields(event)
    assert err.value.field == "nickname"
    assert "unknown field" in err.value.message
    assert "subject" in err.value.message  # lists what is allowed


def test_party_register_typo_is_rejected_on_append(sqlite_world: World) -> None:
    world = sqlite_world
    size = world.store.size()
    env = world.operator.sign(
        {
            "type": "party.register",
            "time": world.tick(),
            "subject": "coop-pangoa",
            "name": "Pangoa",
            "roles": ["spo"],
            "country": "PE",
            "identifer": {"gln": "1"},
            "public_key": public_b64(seeded_key("coop-pangoa")),
        }
    )
    with pytest.raises(InvalidEvent) as err:
        append_batch(world.store, [env])
    assert (err.value.index, err.value.field) == (0, "identifer")
    assert world.store.size() == size


@pytest.mark.parametrize(
    ("kind", "own"),
    [
        ("key.add", {"subject": "coop-pangoa", "public_key": public_b64(seeded_key("x"))}),
        ("key.revoke", {"subject": "coop-pangoa", "keyid": "0" * 64, "reason": "lost"}),
    ],
)
def test_key_events_reject_unknown_body_fields(kind: str, own: dict[str, Any]) -> None:
    common = {k: v for k, v in _body().items() if k in COMMON_FIELDS}
    valid = parse(_signed(dumps_payload({**common, "type": kind, **own})))
    RULES[kind].check_fields(valid)  # the same body without the stray field passes
    event = parse(_signed(dumps_payload({**common, "type": kind, **own, "device": "tab-3"})))
    with pytest.raises(InvalidEvent) as err:
        RULES[kind].check_fields(event)
    assert err.value.field == "device"
    assert "unknown field" in err.value.message
