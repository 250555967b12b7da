"""``cert.revoke``: the certifier that issued a certificate revokes it."""

from __future__ import annotations

from ledger import fields
from ledger.errors import InvalidEvent, NotAuthorized, UnknownReference
from ledger.payload import Event
from ledger.rules.base import Rule, require_role
from ledger.rules.custody import not_before
from ledger.schema import CertificateRow
from ledger.state import LedgerState


class CertRevoke(Rule):
    type = "cert.revoke"
    fields = frozenset({"certificate", "reason"})

    def check_fields(self, event: Event) -> None:
        super().check_fields(event)
        fields.ident(event.body, "certificate", what="a certificate id")
        fields.text(event.body, "reason", max_len=500)

    def apply(self, event: Event, state: LedgerState) -> None:
        require_role(event, state, "certifier")
        certificate: str = event.body["certificate"]
        row = state.get(CertificateRow, certificate)
        if row is None or row.voided_by is not None:
            raise UnknownReference(f"no certificate {certificate!r} was issued",
                                   field="certificate")
        if row.certifier != event.party:
            raise NotAuthorized(
                f"certificate {certificate!r} was issued by {row.certifier!r}; only it may"
                f" revoke it, not {event.party!r}",
                field="certificate",
            )
        if row.revoked_event is not None:
            raise InvalidEvent(
                f"certificate {certificate!r} was already revoked by {row.revoked_event}",
                field="certificate",
            )
        not_before(event, row.time, what=f"the certificate's issue {row.event}", field="time")
        row.revoked_event = event.id
        row.revoked_time = fields.utc_text(event.time)
        row.revoke_reason = event.body["reason"]


RULE = CertRevoke()
