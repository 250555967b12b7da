"""``party.register``: the operator registers a party with its roles and first public key.

The first event of every ledger is the operator registering itself, self-signed with
the key it registers (``trazo init`` writes it); after that only the operator registers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ledger import fields
from ledger.envelope import b64decode_strict, keyid_of
from ledger.errors import DuplicateId, InvalidEvent, NotAuthorized
from ledger.payload import Event
from ledger.rules.base import Rule
from ledger.schema import KeyRow, PartyRow
from ledger.state import LedgerState, RowKey

ROLES = frozenset(
    {"spo", "producer", "trader", "processor", "roaster", "brand", "certifier", "auditor"}
)
OPERATOR_ROLE = "operator"
_GLN = re.compile(r"[0-9]{13}")


def gs1_check_digit_ok(digits: str) -> bool:
    """GS1 mod-10: weights 3,1,3,… from the right, excluding the check digit."""
    body, check = digits[:-1], int(digits[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def public_key_field(body: dict[str, Any], name: str = "public_key") -> bytes:
    raw = b64decode_strict(fields.require(body, name), field=name)
    if len(raw) != 32:
        raise InvalidEvent(f"an Ed25519 public key is 32 raw bytes, got {len(raw)}", field=name)
    return raw


class PartyRegister(Rule):
    type = "party.register"
    fields = frozenset({"subject", "name", "roles", "country", "identifiers", "public_key"})

    def check_fields(self, event: Event) -> None:
        super().check_fields(event)
        body = event.body
        fields.party_id(body, "subject")
        fields.text(body, "name", max_len=300)
        fields.string_list(body, "roles", allowed=ROLES | {OPERATOR_ROLE})
        fields.country(body, "country")
        identifiers = fields.obj(body, "identifiers", optional=True)
        for scheme, value in identifiers.items():
            where = f"identifiers.{scheme}"
            if not isinstance(value, str) or not value or len(value) > 200:
                raise InvalidEvent("must be a non-empty string", field=where)
            if scheme == "gln" and not (_GLN.fullmatch(value) and gs1_check_digit_ok(value)):
                raise InvalidEvent("a GLN is 13 digits with a valid GS1 check digit", field=where)
        public_key_field(body)

    def bootstrap_key(self, event: Event, state: LedgerState) -> bytes | None:
        if state.operator() is None and event.body.get("subject") == event.party:
            return public_key_field(event.body)
        return None

    def prefetch(self, event: Event) -> Iterable[RowKey]:
        raw = public_key_field(event.body)
        return [(PartyRow, event.body.get("subject")), (KeyRow, keyid_of(raw))]

    def apply(self, event: Event, state: LedgerState) -> None:
        body = event.body
        subject: str = body["subject"]
        roles: list[str] = body["roles"]
        raw = public_key_field(body)
        keyid = keyid_of(raw)
        genesis = state.operator() is None
        if genesis:
            if keyid != event.key:
                raise NotAuthorized(
                    "the ledger's first event must be the operator registering itself,"
                    " signed with the key it registers",
                    field="public_key",
                )
            state.set_operator(subject)
        elif event.party != state.operator():
            raise NotAuthorized(
                f"only the operator {state.operator()!r} registers parties, not {event.party!r}",
                field="party",
            )
        elif OPERATOR_ROLE in roles:
            raise NotAuthorized("a ledger has one operator", field="roles")
        if not genesis and state.party(subject) is not None:
            raise DuplicateId(f"party {subject!r} is already registered", field="subject")
        if not genesis and state.key(keyid) is not None:
            raise DuplicateId(f"key {keyid[:16]}… is already registered", field="public_key")
        state.add_party(
            event,
            subject=subject,
            name=body["name"],
            roles=roles,
            country=body["country"],
            identifiers=body.get("identifiers", {}),
        )
        state.add_key(event, party=subject, public_key=raw, keyid=keyid)


RULE = PartyRegister()
