"""The event vocabulary: one rule module per event type, plugged in by ``RULES``.

A rule module defines a ``Rule`` subclass with the type's name, its allowed fields, a
stateless ``check_fields`` and a stateful ``apply`` that enforces the custody rules
against the ledger and records the event's effect on the projections. Adding a type
means adding a module and naming it in ``_MODULES``; the append pipeline does not change.
"""

from __future__ import annotations

from importlib import import_module

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
)


def _load() -> dict[str, Rule]:
    rules: dict[str, Rule] = {}
    for name in _MODULES:
        module = import_module(f"ledger.rules.{name}")
        rule: Rule = module.RULE
        if rule.type in rules:
            raise RuntimeError(f"event type {rule.type!r} has two rule modules")
        rules[rule.type] = rule
    return rules


RULES: dict[str, Rule] = _load()
EVENT_TYPES: frozenset[str] = frozenset(RULES)

__all__ = ["EVENT_TYPES", "RULES", "Rule"]
