"""``cert.issue``: a certifier issues a certificate to a registered party."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from ledger import fields, tables
from ledger.errors import DuplicateId, InvalidEvent, UnknownReference
from ledger.payload import Event
from ledger.rules.base import Rule, require_role
from ledger.schema import CertificateRow, PartyRow
from ledger.state import LedgerState, RowKey

SCHEME = re.compile(r"[A-Z][A-Z0-9-]{0,31}")


class CertIssue(Rule):
    type = "cert.issue"
    fields = frozenset(
        {"certificate", "subject", "scheme", "products", "valid_from", "valid_until"}
    )

    def check_fields(self, event: Event) -> None:
        super().check_fields(event)
        body = event.body
        fields.ident(body, "certificate", what="a certificate id")
        fields.party_id(body, "subject")
        scheme = fields.require(body, "scheme")
        if not isinstance(scheme, str) or not SCHEME.fullmatch(scheme):
            raise InvalidEvent(
                "a scheme is an upper-case code such as SPP, FT or ORG", field="scheme"
            )
        for i, name in enumerate(fields.string_list(body, "products")):
            tables.product(name, field=f"products[{i}]")
        start = fields.parse_date(fields.require(body, "valid_from"), field="valid_from")
        end = fields.parse_date(fields.require(body, "valid_until"), field="valid_until")
        if end < start:
            raise InvalidEvent(
                f"valid_until {end} is before valid_from {start}", field="valid_until"
            )

    def prefetch(self, event: Event) -> Iterable[RowKey]:
        return [(CertificateRow, event.body.get("certificate")),
                (PartyRow, event.body.get("subject"))]

    def apply(self, event: Event, state: LedgerState) -> None:
        require_role(event, state, "certifier")
        body = event.body
        certificate: str = body["certificate"]
        existing = state.get(CertificateRow, certificate)
        if existing is not None:
            raise DuplicateId(
                f"certificate {certificate!r} was already issued by {existing.certifier!r}"
                f" ({existing.event}"
                + (f", voided by {existing.voided_by}; issue it under a new id)"
                   if existing.voided_by else ")"),
                field="certificate",
            )
        if state.party(body["subject"]) is None:
            raise UnknownReference(f"party {body['subject']!r} is not registered",
                                   field="subject")
        state.add(CertificateRow(
            id=certificate, certifier=event.party, subject=body["subject"],
            scheme=body["scheme"], products=json.dumps(body["products"]),
            valid_from=body["valid_from"], valid_until=body["valid_until"], event=event.id,
            time=fields.utc_text(event.time), revoked_event=None, revoked_time=None,
            revoke_reason=None, voided_by=None,
        ))


RULE = CertIssue()
