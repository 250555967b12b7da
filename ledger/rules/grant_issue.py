"""``grant.issue``: read access to a party's data (or the whole ledger) for an auditor.

Signed by the ledger operator (any subject, ``*`` for the whole ledger) or by the subject
party itself (its own data: a trader opening its books to its certifier). The grantee is a
registered auditor or certifier. While the grant is valid — from ``valid_from`` to
``valid_until`` inclusive, UTC days, and not revoked — the grantee reads what the subject
reads (``api.http.access`` applies it), including the subject's ``plot.map`` geometry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from ledger import fields
from ledger.errors import DuplicateId, InvalidEvent, NotAuthorized
from ledger.payload import Event
from ledger.records import Grant, Party
from ledger.rules.base import Rule, concerns, registered_party, time_text
from ledger.view import LedgerView, Wanted, operator

WHOLE_LEDGER = "*"
"""The ``subject`` of a grant that covers every party (only the operator signs one)."""
GRANTEE_ROLES = frozenset({"auditor", "certifier"})


@dataclass(frozen=True)
class Granting:
    grant: str
    grantee: str
    subject: str
    valid_from: date
    valid_until: date
    purpose: str | None


class GrantIssue(Rule[Granting]):
    type = "grant.issue"
    fields = frozenset({"grant", "grantee", "subject", "valid_from", "valid_until", "purpose"})

    def from_body(self, body: dict[str, Any], party: str) -> Granting:
        grant = fields.ident(body, "grant", what="a grant id")
        grantee = fields.party_id(body, "grantee")
        subject = body.get("subject")
        if subject != WHOLE_LEDGER:
            subject = fields.party_id(body, "subject")
        if subject == grantee:
            raise InvalidEvent("a party reads its own data without a grant", field="subject")
        start, end = fields.date_range(body)
        purpose = fields.string(body, "purpose", max_len=500) if "purpose" in body else None
        return Granting(grant, grantee, subject, start, end, purpose)

    def prefetch(self, event: Event, body: Granting) -> Iterable[Wanted]:
        return [(Grant, body.grant), (Party, body.grantee), (Party, body.subject)]

    def apply(self, event: Event, body: Granting, view: LedgerView) -> None:
        ledger_operator = operator(view)
        if event.party != ledger_operator and event.party != body.subject:
            raise NotAuthorized(
                f"a grant of {_what(body.subject)} is signed by the operator"
                f" {ledger_operator!r}"
                + ("" if body.subject == WHOLE_LEDGER else f" or by {body.subject!r} itself")
                + f", not {event.party!r}",
                field="party",
            )
        existing = view.get(Grant, body.grant)
        if existing is not None:
            raise DuplicateId(
                f"grant {body.grant!r} was already issued ({existing.event})", field="grant"
            )
        grantee = registered_party(view, body.grantee, field="grantee")
        if not grantee.role_set & GRANTEE_ROLES:
            raise NotAuthorized(
                f"party {body.grantee!r} has roles {sorted(grantee.role_set)}; read access is"
                f" granted to a party with role {' or '.join(sorted(GRANTEE_ROLES))}",
                field="grantee",
            )
        if body.subject != WHOLE_LEDGER:
            registered_party(view, body.subject, field="subject")
        view.add(
            Grant(
                id=body.grant,
                grantor=event.party,
                grantee=body.grantee,
                subject=body.subject,
                valid_from=body.valid_from.isoformat(),
                valid_until=body.valid_until.isoformat(),
                event=event.id,
                time=time_text(event),
                revoked_event=None,
                revoked_time=None,
            )
        )
        for named in grant_parties(body.grantee, body.subject):
            concerns(view, event, named)


def grant_parties(grantee: str, subject: str) -> list[str]:
    """Who a grant's events concern: its grantee and its subject party."""
    return [grantee] if subject == WHOLE_LEDGER else [grantee, subject]


def _what(subject: str) -> str:
    return "the whole ledger" if subject == WHOLE_LEDGER else f"{subject!r}'s data"


RULE = GrantIssue()
