"""``key.add``: a party adds a signing key (signed by the party itself or the operator)."""

from __future__ import annotations

from collections.abc import Iterable

from ledger import fields
from ledger.envelope import keyid_of
from ledger.errors import DuplicateId, UnknownReference
from ledger.payload import Event
from ledger.rules.base import Rule, require_operator_or
from ledger.rules.party_register import public_key_field
from ledger.schema import KeyRow, PartyRow
from ledger.state import LedgerState, RowKey


class KeyAdd(Rule):
    type = "key.add"
    fields = frozenset({"subject", "public_key"})

    def check_fields(self, event: Event) -> None:
        super().check_fields(event)
        fields.party_id(event.body, "subject")
        public_key_field(event.body)

    def prefetch(self, event: Event) -> Iterable[RowKey]:
        raw = public_key_field(event.body)
        return [(PartyRow, event.body.get("subject")), (KeyRow, keyid_of(raw))]

    def apply(self, event: Event, state: LedgerState) -> None:
        subject: str = event.body["subject"]
        require_operator_or(event, state, subject)
        if state.party(subject) is None:
            raise UnknownReference(f"party {subject!r} is not registered", field="subject")
        raw = public_key_field(event.body)
        keyid = keyid_of(raw)
        if state.key(keyid) is not None:
            raise DuplicateId(f"key {keyid[:16]}… is already registered", field="public_key")
        state.add_key(event, party=subject, public_key=raw, keyid=keyid)


RULE = KeyAdd()
