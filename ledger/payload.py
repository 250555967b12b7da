"""Strict payload parsing: from signed bytes to an ``Event``.

A payload is a UTF-8 JSON object of at most 64 KiB with no duplicate keys, no
floating-point numbers and no NaN/Infinity. The common fields (``type``, ``schema``,
``party``, ``key``, ``seq``, ``prev``, ``time``) are checked here; each event type's own
fields are checked by its rule module (``ledger.rules``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from ledger import fields
from ledger.envelope import Envelope, event_id
from ledger.errors import InvalidEvent, WrongLedger

MAX_PAYLOAD_BYTES = 64 * 1024
SCHEMA_VERSION = 1
COMMON_FIELDS = ("type", "schema", "party", "key", "seq", "prev", "time")
LEDGER_FIELD = "ledger"
"""The id of the ledger's genesis event: required on every event but the genesis itself,
so that an event signed for one ledger cannot be replayed into another."""


class _Duplicated(dict[str, Any]):
    """An object that held a key twice; found after parsing, to name its path."""

    duplicate: str


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) == len(pairs):
        return out
    seen: set[str] = set()
    for key, _value in pairs:
        if key in seen:
            marked = _Duplicated(out)
            marked.duplicate = key
            return marked
        seen.add(key)
    return out  # pragma: no cover - a shorter dict means a key was held twice


def _duplicate_path(value: Any, path: str = "") -> str | None:
    """The path of the first key held twice, e.g. ``identifiers.gln`` or ``lots[0].lot``."""
    if isinstance(value, _Duplicated):
        return path + value.duplicate
    if isinstance(value, dict):
        for key, child in value.items():
            found = _duplicate_path(child, f"{path}{key}.")
            if found:
                return found
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found = _duplicate_path(child, f"{path[:-1]}[{i}].")
            if found:
                return found
    return None


def _no_float(text: str) -> Any:
    raise InvalidEvent(
        f'floating-point number {text} in payload; quantities are decimal strings such as "{text}"'
    )


MAX_INTEGER = 2**53 - 1
"""The largest integer a payload may hold (I-JSON, RFC 7493 §2.2): JSON readers that hold
numbers as doubles, a browser's among them, read a larger one inexactly, so the in-browser
verifier would see another number than the one signed. The console signs none larger."""


def _exact_int(text: str) -> int:
    value = int(text) if len(text) <= 20 else None
    if value is None or abs(value) > MAX_INTEGER:
        shown = text if len(text) <= 40 else f"{text[:20]}…({len(text)} digits)"
        raise InvalidEvent(
            f"integer {shown} is beyond ±(2^53−1), the exact range of JSON numbers (RFC 7493)"
        )
    return value


def _no_constant(text: str) -> Any:
    raise InvalidEvent(f"{text} is not allowed in a payload")


BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
"""Unicode's bidirectional embeddings, overrides and isolates (LRE … RLO, LRI … PDI): a
party name or reason holding one reorders the text shown after it on a page or in the
console ("Trojan Source", CVE-2021-42574), so no payload carries one."""
_MAYBE_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]|\\u20(?:2[a-eA-E]|6[6-9])")


def _bidi_path(value: Any, path: str = "") -> str | None:
    """The path of the first string (key or value) holding a bidi control, if any."""
    if isinstance(value, str):
        return (path.rstrip(".") or "(the value)") if BIDI_CONTROLS.search(value) else None
    if isinstance(value, dict):
        for key, child in value.items():
            found = _bidi_path(key, f"{path}{key}.") or _bidi_path(child, f"{path}{key}.")
            if found:
                return found
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found = _bidi_path(child, f"{path[:-1]}[{i}].")
            if found:
                return found
    return None


def loads_strict(data: bytes, *, what: str = "payload") -> Any:
    """Decode JSON the way the ledger reads every signed payload (shared with ``trazo sign``)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidEvent(f"{what} is not UTF-8: {e}") from e
    duplicated: list[bool] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out = _no_duplicates(pairs)
        if isinstance(out, _Duplicated):
            duplicated.append(True)
        return out

    try:
        value = json.loads(
            text,
            object_pairs_hook=pairs_hook,
            parse_float=_no_float,
            parse_int=_exact_int,
            parse_constant=_no_constant,
        )
    except json.JSONDecodeError as e:
        raise InvalidEvent(f"{what} is not valid JSON: {e}") from e
    except RecursionError as e:
        raise InvalidEvent(f"{what} is nested too deeply") from e
    except ValueError as e:  # e.g. an integer of more than 4,300 digits
        raise InvalidEvent(f"{what} is not acceptable JSON: {e}") from e
    if _MAYBE_BIDI.search(text):
        where = _bidi_path(value)
        if where is not None:
            raise InvalidEvent(
                f"a bidirectional control character (U+202A–202E, U+2066–2069) in {what}:"
                " it would reorder the text shown after it",
                field=where,
            )
    if not duplicated:
        return value
    try:
        duplicate = _duplicate_path(value)
    except RecursionError as e:
        raise InvalidEvent(f"{what} is nested too deeply") from e
    if duplicate is not None:
        raise InvalidEvent(
            f"duplicate key {duplicate.rsplit('.', 1)[-1]!r} in {what}", field=duplicate
        )
    return value


def dumps_payload(body: dict[str, Any]) -> bytes:
    """The serialization ``trazo sign`` and the fixtures use; any valid bytes are accepted."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode(
        "utf-8"
    )


@dataclass(frozen=True)
class Event:
    """A parsed, not yet verified event: the envelope, its exact payload bytes and fields."""

    envelope: Envelope
    id: str
    type: str
    party: str
    key: str
    seq: int
    prev: str | None
    time: datetime
    body: dict[str, Any] = field(repr=False)
    ledger: str | None = None
    """The genesis id the event names (None only for a genesis)."""

    @property
    def payload(self) -> bytes:
        return self.envelope.payload

    @cached_property
    def envelope_json(self) -> str:
        """The envelope as the events table stores it (made once, before the lock)."""
        return self.envelope.to_json()

    @cached_property
    def time_text(self) -> str:
        """``time`` as the ledger stores and compares it (fixed-width UTC text)."""
        return fields.utc_text(self.time)


def parse_payload(envelope: Envelope, known_types: frozenset[str]) -> Event:
    """Check the common fields of an envelope's payload; the type's own fields come later."""
    payload = envelope.payload
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise InvalidEvent(
            f"payload is {len(payload)} bytes; the limit is {MAX_PAYLOAD_BYTES}", field="payload"
        )
    body = loads_strict(payload)
    if not isinstance(body, dict):
        raise InvalidEvent("payload must be a JSON object", field="payload")
    for name in COMMON_FIELDS:
        if name not in body:
            raise InvalidEvent("missing common field", field=name)
    kind = body["type"]
    if not isinstance(kind, str) or kind not in known_types:
        raise InvalidEvent(
            f"unknown event type {kind!r}; known: {', '.join(sorted(known_types))}",
            field="type",
        )
    if body["schema"] != SCHEMA_VERSION or isinstance(body["schema"], bool):
        raise InvalidEvent(
            f"schema must be {SCHEMA_VERSION}, got {body['schema']!r}", field="schema"
        )
    party = fields.party_id(body, "party")
    key = fields.keyid(body, "key")
    if key != envelope.signature.keyid:
        raise InvalidEvent(
            f"payload key {key[:16]}… differs from the signature's keyid"
            f" {envelope.signature.keyid[:16]}…",
            field="key",
        )
    seq = body["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise InvalidEvent("seq must be an integer ≥ 1", field="seq")
    prev = body["prev"]
    if seq == 1 and prev is not None:
        raise InvalidEvent("prev must be null when seq is 1", field="prev")
    if seq > 1:
        prev = fields.event_ref(body, "prev")
    time = fields.parse_time(body["time"], field="time")
    ledger = fields.event_ref(body, LEDGER_FIELD) if LEDGER_FIELD in body else None
    return Event(
        envelope=envelope,
        id=event_id(payload),
        type=kind,
        party=party,
        key=key,
        seq=seq,
        prev=prev,
        time=time,
        body=body,
        ledger=ledger,
    )


def check_ledger(event: Event, genesis: str | None) -> None:
    """The event names this ledger's genesis (``genesis`` None: it is the genesis itself).

    The one check of ledger binding: the append path and rebuild run it here, the audit
    through its replay, and the bundle verifier calls it with the bundle's genesis.
    """
    if genesis is None:
        if event.ledger is not None:
            raise WrongLedger(
                "a genesis names no ledger: it is the event the others name", field="ledger"
            )
        return
    if event.ledger != genesis:
        found = "names no ledger" if event.ledger is None else f"names ledger {event.ledger}"
        raise WrongLedger(
            f"the event {found}; this ledger's genesis is {genesis}. Every event is signed"
            " for one ledger: `trazo sign --ledger` (or the key's state file) sets it",
            field="ledger",
            expected=genesis,
        )
