"""The event vocabulary: one rule module per event type, plugged in by ``RULES``.

A rule module defines a ``Rule`` subclass with the type's name, its allowed fields, a
stateless ``from_body`` that reads them into a typed body, and a pure ``apply`` that
enforces the custody rules against a ``LedgerView`` and records the event's effect. Adding a type
means adding a module and naming it in ``_MODULES``; the append pipeline does not change.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ledger.rules.base import Rule

_MODULES = (
    "party_register",
    "key_add",
    "key_revoke",
    "member_enroll",
    "member_leave",
    "plot_map",
    "cert_issue",
    "cert_revoke",
    "harvest",
    "transform",
    "ship",
    "receive",
    "dispose",
    "void",
    "lot_publish",
    "grant_issue",
    "grant_revoke",
    "price_list",
    "payment",
    "payment_confirm",
    "payment_dispute",
    "member_payment",
)


def _load() -> dict[str, Rule[Any]]:
    rules: dict[str, Rule[Any]] = {}
    for name in _MODULES:
        module = import_module(f"ledger.rules.{name}")
        rule: Rule[Any] = module.RULE
        if rule.type in rules:
            raise RuntimeError(f"event type {rule.type!r} has two rule modules")
        rules[rule.type] = rule
    return rules


RULES: dict[str, Rule[Any]] = _load()
EVENT_TYPES: frozenset[str] = frozenset(RULES)


def typed_body(kind: str, body: dict[str, Any], party: str) -> Any:
    """A signed body of an event type, read into that type's typed body (the one reading
    of payload fields every consumer uses); ``InvalidEvent`` if it does not pass."""
    return RULES[kind].from_body(body, party)


def field_table() -> dict[str, dict[str, Any]]:
    """Every type's allowed fields, read from its rule module as JSON-able data: ``fields``
    the body's own (with the common ones), ``nested`` the objects inside whose unknown keys
    the rule refuses, by path (``outputs[]``: each item; ``outputs[].package``: an object in
    one). The browser verifier ships a copy of it (api/static/js/fields.js)."""
    from ledger.rules.base import COMMON

    return {
        kind: {
            "fields": sorted(COMMON | rule.fields),
            "nested": {path: sorted(keys) for path, keys in sorted(rule.nested.items())},
        }
        for kind, rule in sorted(RULES.items())
    }


__all__ = ["EVENT_TYPES", "RULES", "Rule", "field_table", "typed_body"]
