"""``cert.issue``: a certifier issues a certificate to a registered party."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from ledger import fields, tables
from ledger.errors import DuplicateId, InvalidEvent
from ledger.payload import Event
from ledger.records import Certificate, Party
from ledger.rules.base import Rule, concerns, registered_party, require_role, time_text
from ledger.view import LedgerView, Wanted

SCHEME = re.compile(r"[A-Z][A-Z0-9-]{0,31}")


@dataclass(frozen=True)
class Issue:
    certificate: str
    subject: str
    scheme: str
    products: tuple[str, ...]
    valid_from: date
    valid_until: date


class CertIssue(Rule[Issue]):
    type = "cert.issue"
    fields = frozenset(
        {"certificate", "subject", "scheme", "products", "valid_from", "valid_until"}
    )

    def from_body(self, body: dict[str, Any], party: str) -> Issue:
        certificate = fields.ident(body, "certificate", what="a certificate id")
        subject = fields.party_id(body, "subject")
        scheme = fields.require(body, "scheme")
        if not isinstance(scheme, str) or not SCHEME.fullmatch(scheme):
            raise InvalidEvent(
                "a scheme is an upper-case code such as SPP, FT or ORG", field="scheme"
            )
        products = fields.string_list(body, "products")
        for i, name in enumerate(products):
            tables.product(name, field=f"products[{i}]")
        start, end = fields.date_range(body)
        return Issue(certificate, subject, scheme, tuple(products), start, end)

    def prefetch(self, event: Event, body: Issue) -> Iterable[Wanted]:
        return [(Certificate, body.certificate), (Party, body.subject)]

    def apply(self, event: Event, body: Issue, view: LedgerView) -> None:
        require_role(event, view, "certifier")
        existing = view.get(Certificate, body.certificate)
        if existing is not None:
            raise DuplicateId(
                f"certificate {body.certificate!r} was already issued by"
                f" {existing.certifier!r} ({existing.event}"
                + (
                    f", voided by {existing.voided_by}; issue it under a new id)"
                    if existing.voided_by
                    else ")"
                ),
                field="certificate",
            )
        registered_party(view, body.subject, field="subject")
        view.add(
            Certificate(
                id=body.certificate,
                certifier=event.party,
                subject=body.subject,
                scheme=body.scheme,
                products=json.dumps(list(body.products)),
                valid_from=body.valid_from.isoformat(),
                valid_until=body.valid_until.isoformat(),
                event=event.id,
                time=time_text(event),
                revoked_event=None,
                revoked_time=None,
                revoke_reason=None,
                voided_by=None,
            )
        )
        concerns(view, event, body.subject)


RULE = CertIssue()
