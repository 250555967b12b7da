"""Field checks for payload bodies, each raising ``InvalidEvent`` that names the field.

Rule modules call these to read their fields; a check that fails says which field and
why, so a client can fix the payload without guessing.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ledger.errors import InvalidEvent

ID_PATTERN = re.compile(r"[A-Za-z0-9._\-:~]{1,128}")
PARTY_ID_PATTERN = re.compile(r"[A-Za-z0-9._\-~]{1,128}")
KEYID_PATTERN = re.compile(r"[0-9a-f]{64}")
EVENT_ID_PATTERN = re.compile(r"sha256:[0-9a-f]{64}")
COUNTRY_PATTERN = re.compile(r"[A-Z]{2}")
_RFC3339 = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt]([0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
GLN_PATTERN = re.compile(r"[0-9]{13}")
GTIN_PATTERN = re.compile(r"[0-9]{8}|[0-9]{12,14}")


def gs1_check_digit(body: str) -> str:
    """The GS1 mod-10 check digit of ``body`` (the digits before it): weights 3, 1, 3, …
    from the right."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def gs1_check_digit_ok(digits: str) -> bool:
    """Whether the last digit of ``digits`` is the GS1 check digit of the ones before it."""
    return (
        len(digits) > 1
        and digits.isascii()
        and digits.isdigit()
        and (gs1_check_digit(digits[:-1]) == digits[-1])
    )


def gtin(body: dict[str, Any], name: str = "gtin", *, prefix: str = "") -> str | None:
    """An optional GTIN (GTIN-8, -12, -13 or -14) with a valid GS1 check digit, kept as
    written; ``normalized_gtin`` pads it to the 14 digits GS1 Digital Link uses."""
    if name not in body:
        return None
    value = body[name]
    if not isinstance(value, str) or not GTIN_PATTERN.fullmatch(value):
        raise InvalidEvent(f"a GTIN is 8, 12, 13 or 14 digits (got {value!r})", field=prefix + name)
    if not gs1_check_digit_ok(value):
        raise InvalidEvent(
            f"GTIN {value} has a wrong check digit (expected {gs1_check_digit(value[:-1])})",
            field=prefix + name,
        )
    return value


def normalized_gtin(value: str) -> str:
    return value.rjust(14, "0")


def reject_unknown(body: dict[str, Any], allowed: frozenset[str], *, prefix: str = "") -> None:
    """Schema 1 rejects fields it does not define: a typo must not pass silently."""
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidEvent(
            f"unknown field; allowed here: {', '.join(sorted(allowed))}",
            field=prefix + unknown[0],
        )


def require(body: dict[str, Any], name: str, *, prefix: str = "") -> Any:
    if name not in body:
        raise InvalidEvent("missing field", field=prefix + name)
    return body[name]


def string(
    body: dict[str, Any],
    name: str,
    *,
    prefix: str = "",
    max_len: int = 1000,
    optional: bool = False,
) -> str | None:
    if optional and name not in body:
        return None
    value = require(body, name, prefix=prefix)
    if not isinstance(value, str) or not value.strip():
        raise InvalidEvent("must be a non-empty string", field=prefix + name)
    if len(value) > max_len:
        raise InvalidEvent(f"longer than {max_len} characters", field=prefix + name)
    return value


def text(body: dict[str, Any], name: str, *, prefix: str = "", max_len: int = 1000) -> str:
    value = string(body, name, prefix=prefix, max_len=max_len)
    assert value is not None
    return value


def ident(
    body: dict[str, Any],
    name: str,
    *,
    prefix: str = "",
    pattern: re.Pattern[str] = ID_PATTERN,
    what: str = "an id",
) -> str:
    value = require(body, name, prefix=prefix)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidEvent(
            f"must be {what}: 1-128 of letters, digits and . _ - : ~ (got {value!r})",
            field=prefix + name,
        )
    return value


def party_id(body: dict[str, Any], name: str, *, prefix: str = "") -> str:
    value = require(body, name, prefix=prefix)
    if not isinstance(value, str) or not PARTY_ID_PATTERN.fullmatch(value):
        raise InvalidEvent(
            f"must be a party id: 1-128 of letters, digits and . _ - ~ (no ':') (got {value!r})",
            field=prefix + name,
        )
    return value


def owned_id(body: dict[str, Any], name: str, owner: str, *, prefix: str = "") -> str:
    """A lot, member or plot id, which starts with its creator's party id and a colon."""
    value = ident(body, name, prefix=prefix)
    if not value.startswith(owner + ":") or len(value) == len(owner) + 1:
        raise InvalidEvent(
            f"must start with the creating party's id and a colon ({owner}:…), got {value!r}",
            field=prefix + name,
        )
    return value


def keyid(body: dict[str, Any], name: str, *, prefix: str = "") -> str:
    value = require(body, name, prefix=prefix)
    if not isinstance(value, str) or not KEYID_PATTERN.fullmatch(value):
        raise InvalidEvent("must be 64 lowercase hex characters", field=prefix + name)
    return value


def event_ref(body: dict[str, Any], name: str, *, prefix: str = "") -> str:
    value = require(body, name, prefix=prefix)
    if not isinstance(value, str) or not EVENT_ID_PATTERN.fullmatch(value):
        raise InvalidEvent("must be an event id 'sha256:<64 hex>'", field=prefix + name)
    return value


def obj(
    body: dict[str, Any], name: str, *, prefix: str = "", optional: bool = False
) -> dict[str, Any]:
    if optional and name not in body:
        return {}
    value = require(body, name, prefix=prefix)
    if not isinstance(value, dict):
        raise InvalidEvent("must be an object", field=prefix + name)
    return value


def array(
    body: dict[str, Any],
    name: str,
    *,
    prefix: str = "",
    min_items: int = 1,
    max_items: int = 1000,
    optional: bool = False,
) -> list[Any]:
    if optional and name not in body:
        return []
    value = require(body, name, prefix=prefix)
    if not isinstance(value, list):
        raise InvalidEvent("must be an array", field=prefix + name)
    if not min_items <= len(value) <= max_items:
        raise InvalidEvent(
            f"must hold {min_items} to {max_items} items, has {len(value)}", field=prefix + name
        )
    return value


def string_list(
    body: dict[str, Any],
    name: str,
    *,
    prefix: str = "",
    allowed: frozenset[str] | None = None,
    min_items: int = 1,
    optional: bool = False,
) -> list[str]:
    items = array(body, name, prefix=prefix, min_items=min_items, optional=optional)
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item:
            raise InvalidEvent("must be a non-empty string", field=f"{prefix}{name}[{i}]")
        if allowed is not None and item not in allowed:
            raise InvalidEvent(
                f"unknown value {item!r}; allowed: {', '.join(sorted(allowed))}",
                field=f"{prefix}{name}[{i}]",
            )
    if len(set(items)) != len(items):
        raise InvalidEvent("holds a value twice", field=prefix + name)
    return items


def country(body: dict[str, Any], name: str, *, prefix: str = "") -> str:
    value = require(body, name, prefix=prefix)
    if not isinstance(value, str) or not COUNTRY_PATTERN.fullmatch(value):
        raise InvalidEvent(
            "must be an ISO 3166-1 alpha-2 country code such as 'PE'", field=prefix + name
        )
    return value


def parse_time(value: Any, *, field: str) -> datetime:
    """RFC 3339 with an explicit offset; fractions beyond microseconds are truncated."""
    if not isinstance(value, str):
        raise InvalidEvent("must be an RFC 3339 date-time string", field=field)
    m = _RFC3339.fullmatch(value)
    if not m:
        raise InvalidEvent(
            f"must be RFC 3339 with an offset, e.g. 2026-05-04T10:30:00-05:00 (got {value!r})",
            field=field,
        )
    day, clock, frac, offset = m.groups()
    frac = (frac or "")[:7]
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        parsed = datetime.fromisoformat(f"{day}T{clock}{frac}{offset}")
        parsed.astimezone(UTC)  # a time whose UTC falls outside years 1-9999
    except (ValueError, OverflowError) as e:
        raise InvalidEvent(f"not a valid date-time: {e}", field=field) from e
    assert parsed.tzinfo is not None
    return parsed


def parse_date(value: Any, *, field: str) -> date:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise InvalidEvent(f"must be a date YYYY-MM-DD (got {value!r})", field=field)
    try:
        return date.fromisoformat(value)
    except ValueError as e:
        raise InvalidEvent(f"not a valid date: {e}", field=field) from e


def date_range(body: dict[str, Any]) -> tuple[date, date]:
    """``valid_from`` and ``valid_until`` (inclusive dates; the end not before the start),
    as certificates and grants state their term."""
    start = parse_date(require(body, "valid_from"), field="valid_from")
    end = parse_date(require(body, "valid_until"), field="valid_until")
    if end < start:
        raise InvalidEvent(f"valid_until {end} is before valid_from {start}", field="valid_until")
    return start, end


def utc_text(moment: datetime) -> str:
    """A fixed-width UTC rendering that sorts in time order, for indexed columns."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: trazo only handles timezone-aware times")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_utc_text(value: str) -> datetime:
    """The inverse of ``utc_text`` (``fromisoformat``: strptime is slow on the append path)."""
    if len(value) != 27 or value[-1] != "Z":
        raise ValueError(f"not a UTC time as trazo stores it: {value!r}")
    return datetime.fromisoformat(value[:-1]).replace(tzinfo=UTC)


MAX_FUTURE = timedelta(minutes=5)
