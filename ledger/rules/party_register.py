"""``party.register``: the operator registers a party with its roles and first public key.

The first event of every ledger is the operator registering itself, self-signed with
the key it registers (``trazo init`` writes it); after that only the operator registers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ledger import fields
from ledger.envelope import b64decode_strict, keyid_of
from ledger.errors import DuplicateId, InvalidEvent, NotAuthorized
from ledger.payload import Event
from ledger.records import Key, Meta, Party
from ledger.rules.base import Rule, time_text
from ledger.view import LedgerView, Wanted, operator

ROLES = frozenset(
    {
        "spo",
        "producer",
        "trader",
        "processor",
        "roaster",
        "brand",
        "certifier",
        "auditor",
        "standard",
    }
)
OPERATOR_ROLE = "operator"
_GLN = fields.GLN_PATTERN
gs1_check_digit_ok = fields.gs1_check_digit_ok  # where the GS1 check digit lives: ledger.fields


def public_key_field(body: dict[str, Any], name: str = "public_key") -> bytes:
    raw = b64decode_strict(fields.require(body, name), field=name)
    if len(raw) != 32:
        raise InvalidEvent(f"an Ed25519 public key is 32 raw bytes, got {len(raw)}", field=name)
    return raw


@dataclass(frozen=True)
class PartyRegistration:
    subject: str
    name: str
    roles: tuple[str, ...]
    country: str
    identifiers: dict[str, str]
    public_key: bytes

    @property
    def keyid(self) -> str:
        return keyid_of(self.public_key)


def add_key(view: LedgerView, event: Event, *, party: str, public_key: bytes) -> None:
    """Register ``public_key`` to ``party``, valid from the event's time."""
    view.add(
        Key(
            keyid=keyid_of(public_key),
            party=party,
            public_key=public_key,
            added_event=event.id,
            added_time=time_text(event),
        )
    )


class PartyRegister(Rule[PartyRegistration]):
    type = "party.register"
    fields = frozenset({"subject", "name", "roles", "country", "identifiers", "public_key"})

    def from_body(self, body: dict[str, Any], party: str) -> PartyRegistration:
        subject = fields.party_id(body, "subject")
        name = fields.text(body, "name", max_len=300)
        roles = fields.string_list(body, "roles", allowed=ROLES | {OPERATOR_ROLE})
        country = fields.country(body, "country")
        identifiers = fields.obj(body, "identifiers", optional=True)
        for scheme, value in identifiers.items():
            where = f"identifiers.{scheme}"
            if not isinstance(value, str) or not value or len(value) > 200:
                raise InvalidEvent("must be a non-empty string", field=where)
            if scheme == "gln" and not (_GLN.fullmatch(value) and gs1_check_digit_ok(value)):
                raise InvalidEvent("a GLN is 13 digits with a valid GS1 check digit", field=where)
        return PartyRegistration(
            subject, name, tuple(roles), country, dict(identifiers), public_key_field(body)
        )

    def bootstrap_key(
        self, event: Event, body: PartyRegistration, view: LedgerView
    ) -> bytes | None:
        if operator(view) is None and body.subject == event.party:
            return body.public_key
        return None

    def prefetch(self, event: Event, body: PartyRegistration) -> Iterable[Wanted]:
        return [(Party, body.subject), (Key, body.keyid)]

    def apply(self, event: Event, body: PartyRegistration, view: LedgerView) -> None:
        subject = body.subject
        the_operator = operator(view)
        genesis = the_operator is None
        if genesis:
            if body.keyid != event.key:
                raise NotAuthorized(
                    "the ledger's first event must be the operator registering itself,"
                    " signed with the key it registers",
                    field="public_key",
                )
            view.add(Meta(name="operator", value=subject))
        elif event.party != the_operator:
            raise NotAuthorized(
                f"only the operator {the_operator!r} registers parties, not {event.party!r}",
                field="party",
            )
        elif OPERATOR_ROLE in body.roles:
            raise NotAuthorized("a ledger has one operator", field="roles")
        if not genesis and view.get(Party, subject) is not None:
            raise DuplicateId(f"party {subject!r} is already registered", field="subject")
        if not genesis and view.get(Key, body.keyid) is not None:
            raise DuplicateId(f"key {body.keyid[:16]}… is already registered", field="public_key")
        view.add(
            Party(
                id=subject,
                name=body.name,
                roles=json.dumps(sorted(body.roles)),
                country=body.country,
                identifiers=json.dumps(body.identifiers, sort_keys=True),
                event=event.id,
                time=time_text(event),
            )
        )
        add_key(view, event, party=subject, public_key=body.public_key)


RULE = PartyRegister()
