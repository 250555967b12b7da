"""``key.revoke``: the key signs nothing appended after the revocation, whatever its time."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ledger import fields
from ledger.errors import InvalidEvent, NotAuthorized, TimeError
from ledger.payload import Event
from ledger.records import Key
from ledger.rules.base import Rule, existing_key, require_operator_or, time_text
from ledger.view import LedgerView, Wanted


@dataclass(frozen=True)
class KeyRevocation:
    subject: str
    keyid: str
    reason: str


class KeyRevoke(Rule[KeyRevocation]):
    type = "key.revoke"
    fields = frozenset({"subject", "keyid", "reason"})

    def from_body(self, body: dict[str, Any], party: str) -> KeyRevocation:
        return KeyRevocation(
            fields.party_id(body, "subject"),
            fields.keyid(body, "keyid"),
            fields.text(body, "reason", max_len=500),
        )

    def prefetch(self, event: Event, body: KeyRevocation) -> Iterable[Wanted]:
        return [(Key, body.keyid)]

    def apply(self, event: Event, body: KeyRevocation, view: LedgerView) -> None:
        require_operator_or(event, view, body.subject)
        key = existing_key(view, body.keyid, field="keyid")
        if key.party != body.subject:
            raise NotAuthorized(
                f"key {key.keyid[:16]}… belongs to {key.party!r}, not {body.subject!r}",
                field="keyid",
            )
        if key.revoked_event is not None:
            raise InvalidEvent(
                f"key {key.keyid[:16]}… was already revoked by {key.revoked_event}",
                field="keyid",
            )
        if key.head_event is not None:
            last = view.event(key.head_event)
            if last is not None and last.time > time_text(event):
                raise TimeError(
                    f"key {key.keyid[:16]}… already signed {last.type} {last.id} dated"
                    f" {fields.from_utc_text(last.time).isoformat()}; a revocation cannot"
                    " reach back before what the key has signed",
                    field="time",
                )
        view.update(
            key, revoked_event=event.id, revoked_time=time_text(event), revoke_reason=body.reason
        )


RULE = KeyRevoke()
