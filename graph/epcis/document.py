"""EPCIS 2.0 documents: building them, writing them as JSON, reading and validating them.

Validation is the normative EPCIS 2.0.1 JSON Schema (package data) with its formats
checked: ``uri`` (rfc3986-validator) and ``date-time`` (rfc3339-validator). Without a
format checker, jsonschema lets any string pass as a URI.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft7Validator, FormatChecker

from graph.epcis.mapping import CONTEXT
from ledger.errors import ClientError

SCHEMA_VERSION = "2.0"
EPCIS_VERSION = "2.0.1"
CBV_VERSION = "2.0.0"


class DocumentError(ClientError):
    """An EPCIS document that cannot be read or fails the schema: ``problems`` lists where
    and why (a JSON path and the schema's message)."""

    title = "Invalid EPCIS document"

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message, problems=problems or [])
        self.problems = problems or []


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epcis_document(events: list[dict[str, Any]], *, created: str | None = None) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": SCHEMA_VERSION,
        "creationDate": created or _now(),
        "epcisBody": {"eventList": events},
    }


def query_document(events: list[dict[str, Any]], *, created: str | None = None) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "type": "EPCISQueryDocument",
        "schemaVersion": SCHEMA_VERSION,
        "creationDate": created or _now(),
        "epcisBody": {
            "queryResults": {
                "queryName": "SimpleEventQuery",
                "resultsBody": {"eventList": events},
            }
        },
    }


def decimal_text(value: Decimal) -> str:
    """A decimal as a JSON number, digit for digit: no exponent, no trailing zeros."""
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    return format(value.normalize(), "f")


def to_json(document: Any, *, indent: int | None = None) -> str:
    """JSON text of a document whose quantities are ``Decimal``: written exactly (a double
    would round a quantity of more than 15 significant digits, and its event hash with it)."""
    return _write(document, indent, 0)


def _write(value: Any, indent: int | None, level: int) -> str:
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, dict | list) and value:
        inner = "" if indent is None else "\n" + " " * (indent * (level + 1))
        outer = "" if indent is None else "\n" + " " * (indent * level)
        separator = ", " if indent is None else ","
        if isinstance(value, dict):
            items = [
                json.dumps(str(k), ensure_ascii=False) + ": " + _write(v, indent, level + 1)
                for k, v in value.items()
            ]
            opening, closing = "{", "}"
        else:
            items = [_write(v, indent, level + 1) for v in value]
            opening, closing = "[", "]"
        return opening + inner + (separator + inner).join(items) + outer + closing
    return json.dumps(value, ensure_ascii=False)


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DocumentError(f"the key {key!r} is given twice in one object")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise DocumentError(f"{name} is not a JSON number (RFC 8259): no quantity is {name}")


MAX_DIGITS = 20
"""How far from the point a number's digits may reach, either side: an EPCIS quantity of
more (``1e999999``, or ``1e-999999``, a million digits once written out) is no
quantity of goods, and would not survive the exact arithmetic and writing it meets."""


def _number(text: str) -> Decimal:
    value = Decimal(text)
    digits = value.as_tuple()
    exponent = int(digits.exponent)
    too_large = bool(value) and value.adjusted() >= MAX_DIGITS
    if too_large or exponent < -MAX_DIGITS or len(digits.digits) > 2 * MAX_DIGITS:
        raise DocumentError(
            f"the number {text[:40]} is out of range: trazo reads numbers of at most"
            f" {MAX_DIGITS} digits either side of the point"
        )
    return value


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise DocumentError(
            f"the number {text[:40]}… is out of range: trazo reads numbers of at most"
            f" {MAX_DIGITS} digits either side of the point"
        )
    return int(text)


def load(text: str | bytes) -> dict[str, Any]:
    """Read a JSON(-LD) document: numbers as exact decimals (within ``MAX_DIGITS``), no
    duplicate keys, no ``NaN`` or ``Infinity``; what Python's reader cannot take (nesting
    deeper than its recursion limit) is a ``DocumentError`` too."""
    try:
        document = json.loads(
            text,
            parse_float=_number,
            parse_int=_integer,
            parse_constant=_no_constant,
            object_pairs_hook=_unique,
        )
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DocumentError(f"not JSON: {e}") from e
    except RecursionError as e:
        raise DocumentError("not readable: nested too deeply") from e
    except ValueError as e:  # e.g. an integer of more than 4,300 digits
        raise DocumentError(f"not readable JSON: {e}") from e
    if not isinstance(document, dict):
        raise DocumentError("an EPCIS document is a JSON object")
    _shallow(document)
    return document


MAX_DEPTH = 64
"""How deep a document may nest (an EPCIS event nests a handful of levels): deeper, the
schema check, the hash's canonicalisation and the mapping would run out of stack."""


def _shallow(document: dict[str, Any]) -> None:
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise DocumentError(f"not readable: nested more than {MAX_DEPTH} levels deep")
        children = value.values() if isinstance(value, dict) else value
        stack.extend((v, depth + 1) for v in children if isinstance(v, dict | list))


@cache
def _validator() -> Draft7Validator:
    text = resources.files("graph.epcis").joinpath("data/epcis-json-schema.json").read_text()
    return Draft7Validator(json.loads(text), format_checker=FormatChecker())


def schema_problems(document: dict[str, Any]) -> list[str]:
    """Every place where ``document`` fails the EPCIS 2.0.1 JSON Schema (empty: valid)."""
    found = []
    # a Decimal is a number to jsonschema (numbers.Number): validated as it will be written
    for error in sorted(_validator().iter_errors(document), key=lambda e: list(e.path)):
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.path)
        found.append(f"${where}: {error.message}")
    return found


def validate(document: dict[str, Any]) -> None:
    problems = schema_problems(document)
    if problems:
        raise DocumentError(
            f"the document fails the EPCIS {EPCIS_VERSION} JSON schema: {problems[0]}", problems
        )


def events_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    body = document.get("epcisBody") or {}
    if document.get("type") == "EPCISQueryDocument":
        body = (body.get("queryResults") or {}).get("resultsBody") or {}
    events = body.get("eventList")
    if not isinstance(events, list):
        raise DocumentError("the document has no epcisBody.eventList")
    return events
