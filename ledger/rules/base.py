"""What every rule module provides, and the checks they share.

A rule is pure: ``from_body`` reads an event's own fields into a typed, frozen body (or
raises ``InvalidEvent`` naming the field), and ``apply`` enforces the type's rules
against a ``LedgerView`` and records the event's effects on it. No rule imports
SQLAlchemy; the same code runs on append, rebuild, audit and offline verification.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Generic, TypeVar

from ledger import fields
from ledger.errors import NotAuthorized, UnknownReference
from ledger.payload import COMMON_FIELDS, LEDGER_FIELD, Event
from ledger.records import EventParty, Key, Party
from ledger.view import LedgerView, Wanted, operator

COMMON = frozenset((*COMMON_FIELDS, LEDGER_FIELD))

B = TypeVar("B")


class Rule(Generic[B]):
    """One event type. Subclasses set ``type`` and ``fields`` and override the hooks."""

    type: ClassVar[str]
    fields: ClassVar[frozenset[str]] = frozenset()
    # the objects inside a body whose unknown keys ``from_body`` refuses, by path
    # (``outputs[]`` each item of the array, ``outputs[].package`` an object in it)
    nested: ClassVar[Mapping[str, frozenset[str]]] = {}

    def check_fields(self, event: Event) -> B:
        """Stateless checks of the type's own fields; the typed body they give."""
        fields.reject_unknown(event.body, COMMON | self.fields)
        return self.from_body(event.body, event.party)

    def from_body(self, body: dict[str, Any], party: str) -> B:
        """The type's own fields of a signed ``body`` (signed by ``party``), typed; or
        ``InvalidEvent`` naming the field. Unknown fields are ``check_fields``' job."""
        raise NotImplementedError

    def bootstrap_key(self, event: Event, body: B, view: LedgerView) -> bytes | None:
        """A raw public key for an event whose signing key is not registered yet.

        Only the genesis ``party.register`` (the operator registering itself) uses this.
        """
        return None

    def prefetch(self, event: Event, body: B) -> Iterable[Wanted]:
        """Records ``apply`` will read by key, so that a SQL view loads a batch's together.

        Only an optimization: a record not named here is read when it is needed.
        """
        return ()

    def apply(self, event: Event, body: B, view: LedgerView) -> None:
        """Enforce the type's rules against the ledger and record its effect."""
        raise NotImplementedError


AnyRule = Rule[Any]


def signer(event: Event, view: LedgerView) -> Party:
    """The party that signed; the pipeline has already checked the key belongs to it.

    Parties and keys are never "not in evidence": a bundle carries every registration.
    """
    party = view.get(Party, event.party)
    if party is None:
        raise UnknownReference(f"party {event.party!r} is not registered", field="party")
    return party


def require_role(event: Event, view: LedgerView, *roles: str) -> Party:
    """Who may sign this type: the signer has one of ``roles``."""
    party = signer(event, view)
    if not party.role_set & set(roles):
        raise NotAuthorized(
            f"party {party.id!r} has roles {sorted(party.role_set)}; a {event.type} must be"
            f" signed by a party with role {' or '.join(roles)}",
            field="party",
        )
    return party


def require_operator_or(event: Event, view: LedgerView, subject: str) -> None:
    """Who may sign a key event: the subject party itself, or the ledger operator."""
    if event.party not in (subject, operator(view)):
        raise NotAuthorized(
            f"{event.type} for {subject!r} must be signed by {subject!r} or the operator"
            f" {operator(view)!r}, not {event.party!r}",
            field="party",
        )


def registered_party(view: LedgerView, party_id: str, *, field: str) -> Party:
    party = view.get(Party, party_id)
    if party is None:
        raise UnknownReference(f"party {party_id!r} is not registered", field=field)
    return party


def existing_key(view: LedgerView, keyid: str, *, field: str) -> Key:
    key = view.get(Key, keyid)
    if key is None:
        raise UnknownReference(f"no key {keyid[:16]}… is registered", field=field)
    return key


def time_text(event: Event) -> str:
    return event.time_text


def concerns(view: LedgerView, event: Event, party: str) -> None:
    """Record that ``event`` names ``party`` besides its signer: the party may read it."""
    if party != event.party:
        view.add(EventParty(event=event.id, party=party))
