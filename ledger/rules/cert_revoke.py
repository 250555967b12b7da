"""``cert.revoke``: the certifier that issued a certificate revokes it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ledger import fields
from ledger.errors import InvalidEvent, NotAuthorized, UnknownReference
from ledger.payload import Event
from ledger.records import Certificate
from ledger.rules.base import Rule, concerns, require_role, time_text
from ledger.rules.custody import not_before
from ledger.view import LedgerView, Wanted, absent


@dataclass(frozen=True)
class Revocation:
    certificate: str
    reason: str


class CertRevoke(Rule[Revocation]):
    type = "cert.revoke"
    fields = frozenset({"certificate", "reason"})

    def from_body(self, body: dict[str, Any], party: str) -> Revocation:
        return Revocation(
            fields.ident(body, "certificate", what="a certificate id"),
            fields.text(body, "reason", max_len=500),
        )

    def prefetch(self, event: Event, body: Revocation) -> Iterable[Wanted]:
        return [(Certificate, body.certificate)]

    def apply(self, event: Event, body: Revocation, view: LedgerView) -> None:
        require_role(event, view, "certifier")
        row = view.get(Certificate, body.certificate)
        if row is None or row.voided_by is not None:
            error = UnknownReference(
                f"no certificate {body.certificate!r} was issued", field="certificate"
            )
            raise absent(view, error) if row is None else error
        if row.certifier != event.party:
            raise NotAuthorized(
                f"certificate {body.certificate!r} was issued by {row.certifier!r}; only it"
                f" may revoke it, not {event.party!r}",
                field="certificate",
            )
        if row.revoked_event is not None:
            raise InvalidEvent(
                f"certificate {body.certificate!r} was already revoked by {row.revoked_event}",
                field="certificate",
            )
        not_before(event, row.time, what=f"the certificate's issue {row.event}", field="time")
        concerns(view, event, row.subject)
        view.update(
            row, revoked_event=event.id, revoked_time=time_text(event), revoke_reason=body.reason
        )


RULE = CertRevoke()
