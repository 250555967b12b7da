"""``payment.dispute``: the seller states that a ``payment`` is not what it was paid.

Signed only by the party the payment names in ``to``, with a reason. A disputed payment
is never disclosed; the auditor's report lists it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ledger import fields
from ledger.payload import Event
from ledger.rules.base import Rule, concerns
from ledger.rules.payment import payment_lookups
from ledger.rules.payment_answer import answered_payment
from ledger.view import LedgerView, Wanted


@dataclass(frozen=True)
class Dispute:
    payment: str
    reason: str


class PaymentDispute(Rule[Dispute]):
    type = "payment.dispute"
    fields = frozenset({"payment", "reason"})

    def from_body(self, body: dict[str, Any], party: str) -> Dispute:
        return Dispute(fields.event_ref(body, "payment"), fields.text(body, "reason", max_len=500))

    def prefetch(self, event: Event, body: Dispute) -> Iterable[Wanted]:
        return payment_lookups(body.payment)

    def apply(self, event: Event, body: Dispute, view: LedgerView) -> None:
        payment = answered_payment(view, event, body.payment)
        view.update(payment, status="disputed", answer_event=event.id, disclosed=False)
        concerns(view, event, payment.payer)


RULE = PaymentDispute()
