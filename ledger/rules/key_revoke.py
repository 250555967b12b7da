"""``key.revoke``: a key signs nothing dated after the revocation's ``time``."""

from __future__ import annotations

from ledger import fields
from ledger.errors import InvalidEvent, NotAuthorized, TimeError
from ledger.payload import Event
from ledger.rules.base import Rule, existing_key, require_operator_or
from ledger.state import LedgerState


class KeyRevoke(Rule):
    type = "key.revoke"
    fields = frozenset({"subject", "keyid", "reason"})

    def check_fields(self, event: Event) -> None:
        super().check_fields(event)
        fields.party_id(event.body, "subject")
        fields.keyid(event.body, "keyid")
        fields.text(event.body, "reason", max_len=500)

    def apply(self, event: Event, state: LedgerState) -> None:
        subject: str = event.body["subject"]
        require_operator_or(event, state, subject)
        key = existing_key(state, event.body["keyid"], field="keyid")
        if key.party != subject:
            raise NotAuthorized(
                f"key {key.keyid[:16]}… belongs to {key.party!r}, not {subject!r}",
                field="keyid",
            )
        if key.revoked_event is not None:
            raise InvalidEvent(
                f"key {key.keyid[:16]}… was already revoked by {key.revoked_event}",
                field="keyid",
            )
        if key.head_event is not None:
            last = state.event(key.head_event)
            if last is not None and last.time > fields.utc_text(event.time):
                raise TimeError(
                    f"key {key.keyid[:16]}… already signed {last.type} {last.id} dated"
                    f" {fields.from_utc_text(last.time).isoformat()}; a revocation cannot"
                    " reach back before what the key has signed",
                    field="time",
                )
        state.revoke_key(event, key, event.body["reason"])


RULE = KeyRevoke()
