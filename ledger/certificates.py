"""Whether a party held a valid certificate at a moment: decided here, and only here.

The origin verdict (over a bundle's evidence), the mass-balance report (over the
database) and the brand page all read certificates into ``Certificate`` and ask
``judge``. A certificate counts for an event when it is not voided, covers the product
and scheme, the event's date — in the event's own offset, as its signer dated it — lies
within ``valid_from``…``valid_until``, and it was not revoked at or before the event.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class Certificate:
    id: str
    event: str
    certifier: str
    subject: str
    scheme: str
    products: frozenset[str]
    valid_from: date
    valid_until: date
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    voided_by: str | None = None


@dataclass(frozen=True, slots=True)
class Judgement:
    """The certificate that held, or why none did."""

    certificate: Certificate | None
    reason: str | None

    def __bool__(self) -> bool:
        return self.certificate is not None


def judge(
    certificates: Iterable[Certificate],
    *,
    subject: str,
    scheme: str,
    product: str,
    when: datetime,
    what: str,
) -> Judgement:
    """Did ``subject`` hold a ``scheme`` certificate covering ``product`` at ``when``?

    ``what`` names the event for the reason ("the harvest"); its date is added.
    """
    relevant = [
        c
        for c in certificates
        if c.subject == subject and c.scheme == scheme and product in c.products
    ]
    standing = [c for c in relevant if c.voided_by is None]
    day = when.date()
    if not standing:
        if relevant:
            c = relevant[0]
            return Judgement(
                None, f"{subject}'s {scheme} certificate {c.id} was voided by {c.voided_by}"
            )
        return Judgement(
            None, f"{subject} holds no {scheme} certificate for {product} ({what} on {day})"
        )
    current = [c for c in standing if c.valid_from <= day <= c.valid_until]
    live = [c for c in current if c.revoked_at is None or c.revoked_at > when]
    if live:
        return Judgement(live[0], None)
    if current:
        c = current[0]
        revoked = c.revoked_at.date() if c.revoked_at else "?"
        return Judgement(
            None,
            f"{subject}'s {scheme} certificate {c.id} was revoked on"
            f" {revoked} by {c.revoked_by}, before {what} on {day}",
        )
    past = [c for c in standing if c.valid_until < day]
    if past:
        c = max(past, key=lambda c: c.valid_until)
        return Judgement(
            None,
            f"{subject}'s {scheme} certificate {c.id} expired on"
            f" {c.valid_until}, before {what} on {day}",
        )
    c = min(standing, key=lambda c: c.valid_from)
    return Judgement(
        None,
        f"{subject}'s {scheme} certificate {c.id} was not yet valid"
        f" ({c.valid_from}) for {what} on {day}",
    )
