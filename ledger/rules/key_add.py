"""``key.add``: a party adds a signing key (signed by the party itself or the operator)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ledger import fields
from ledger.envelope import keyid_of
from ledger.errors import DuplicateId
from ledger.payload import Event
from ledger.records import Key, Party
from ledger.rules.base import Rule, registered_party, require_operator_or
from ledger.rules.party_register import add_key, public_key_field
from ledger.view import LedgerView, Wanted


@dataclass(frozen=True)
class KeyAddition:
    subject: str
    public_key: bytes

    @property
    def keyid(self) -> str:
        return keyid_of(self.public_key)


class KeyAdd(Rule[KeyAddition]):
    type = "key.add"
    fields = frozenset({"subject", "public_key"})

    def from_body(self, body: dict[str, Any], party: str) -> KeyAddition:
        return KeyAddition(fields.party_id(body, "subject"), public_key_field(body))

    def prefetch(self, event: Event, body: KeyAddition) -> Iterable[Wanted]:
        return [(Party, body.subject), (Key, body.keyid)]

    def apply(self, event: Event, body: KeyAddition, view: LedgerView) -> None:
        require_operator_or(event, view, body.subject)
        registered_party(view, body.subject, field="subject")
        if view.get(Key, body.keyid) is not None:
            raise DuplicateId(f"key {body.keyid[:16]}… is already registered", field="public_key")
        add_key(view, event, party=body.subject, public_key=body.public_key)


RULE = KeyAdd()
