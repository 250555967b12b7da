"""``grant.revoke``: the grantor (or the operator) ends a read grant before its term."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ledger import fields
from ledger.errors import InvalidEvent, NotAuthorized, UnknownReference
from ledger.payload import Event
from ledger.records import Grant
from ledger.rules.base import Rule, concerns, time_text
from ledger.rules.custody import not_before
from ledger.rules.grant_issue import grant_parties
from ledger.view import LedgerView, Wanted, absent, operator


@dataclass(frozen=True)
class Revocation:
    grant: str
    reason: str


class GrantRevoke(Rule[Revocation]):
    type = "grant.revoke"
    fields = frozenset({"grant", "reason"})

    def from_body(self, body: dict[str, Any], party: str) -> Revocation:
        return Revocation(
            fields.ident(body, "grant", what="a grant id"), fields.text(body, "reason", max_len=500)
        )

    def prefetch(self, event: Event, body: Revocation) -> Iterable[Wanted]:
        return [(Grant, body.grant)]

    def apply(self, event: Event, body: Revocation, view: LedgerView) -> None:
        grant = view.get(Grant, body.grant)
        if grant is None:
            raise absent(
                view, UnknownReference(f"no grant {body.grant!r} was issued", field="grant")
            )
        if event.party not in (grant.grantor, operator(view)):
            raise NotAuthorized(
                f"grant {body.grant!r} was issued by {grant.grantor!r}; only it or the operator"
                f" may revoke it, not {event.party!r}",
                field="grant",
            )
        if grant.revoked_event is not None:
            raise InvalidEvent(
                f"grant {body.grant!r} was already revoked by {grant.revoked_event}",
                field="grant",
            )
        not_before(event, grant.time, what=f"the grant's issue {grant.event}", field="time")
        view.update(grant, revoked_event=event.id, revoked_time=time_text(event))
        for named in grant_parties(grant.grantee, grant.subject):
            concerns(view, event, named)


RULE = GrantRevoke()
