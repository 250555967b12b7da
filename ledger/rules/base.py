"""What every rule module provides, and the checks they share."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from ledger import fields
from ledger.errors import NotAuthorized, UnknownReference
from ledger.payload import COMMON_FIELDS, LEDGER_FIELD, Event
from ledger.schema import KeyRow
from ledger.state import LedgerState, Party, RowKey

COMMON = frozenset((*COMMON_FIELDS, LEDGER_FIELD))


class Rule:
    """One event type. Subclasses set ``type`` and ``fields`` and override the hooks."""

    type: ClassVar[str]
    fields: ClassVar[frozenset[str]] = frozenset()

    def check_fields(self, event: Event) -> None:
        """Stateless checks of the type's own fields (shape, ids, quantities)."""
        fields.reject_unknown(event.body, COMMON | self.fields)

    def bootstrap_key(self, event: Event, state: LedgerState) -> bytes | None:
        """A raw public key for an event whose signing key is not registered yet.

        Only the genesis ``party.register`` (the operator registering itself) uses this.
        """
        return None

    def prefetch(self, event: Event) -> Iterable[RowKey]:
        """Rows ``apply`` will read by primary key, so a batch loads them in a few queries.

        Only an optimization: a row not named here is read when it is needed. Called
        before the event is checked, so the payload may be malformed: the pipeline
        ignores any error raised here (the checks report it properly later).
        """
        return ()

    def apply(self, event: Event, state: LedgerState) -> None:
        """Enforce the type's rules against the ledger and record its effect."""
        raise NotImplementedError


def signer(event: Event, state: LedgerState) -> Party:
    """The party that signed; the pipeline has already checked the key belongs to it."""
    party = state.party(event.party)
    if party is None:  # pragma: no cover - the key check runs first
        raise UnknownReference(f"party {event.party!r} is not registered", field="party")
    return party


def require_role(event: Event, state: LedgerState, *roles: str) -> Party:
    party = signer(event, state)
    if not party.roles & set(roles):
        raise NotAuthorized(
            f"party {party.id!r} has roles {sorted(party.roles)}; a {event.type} must be"
            f" signed by a party with role {' or '.join(roles)}",
            field="party",
        )
    return party


def require_operator_or(event: Event, state: LedgerState, subject: str) -> None:
    """For key events: the subject party itself, or the ledger operator."""
    if event.party not in (subject, state.operator()):
        raise NotAuthorized(
            f"{event.type} for {subject!r} must be signed by {subject!r} or the operator"
            f" {state.operator()!r}, not {event.party!r}",
            field="party",
        )


def existing_key(state: LedgerState, keyid: str, *, field: str) -> KeyRow:
    key = state.key(keyid)
    if key is None:
        raise UnknownReference(f"no key {keyid[:16]}… is registered", field=field)
    return key
