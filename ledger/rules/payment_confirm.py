"""``payment.confirm``: the seller confirms it was paid what a ``payment`` states.

Signed only by the party the payment names in ``to``. With ``"disclose": true`` the
seller agrees that the payment's figures be public on the pages and bundles of lots made
from these goods; they are disclosed only when the payer's ``payment`` says so too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ledger import fields
from ledger.payload import Event
from ledger.rules.base import Rule, concerns
from ledger.rules.payment import disclose_flag, payment_lookups
from ledger.rules.payment_answer import answered_payment
from ledger.view import LedgerView, Wanted, body_of


@dataclass(frozen=True)
class Confirmation:
    payment: str
    disclose: bool


class PaymentConfirm(Rule[Confirmation]):
    type = "payment.confirm"
    fields = frozenset({"payment", "disclose"})

    def from_body(self, body: dict[str, Any], party: str) -> Confirmation:
        return Confirmation(fields.event_ref(body, "payment"), disclose_flag(body))

    def prefetch(self, event: Event, body: Confirmation) -> Iterable[Wanted]:
        return payment_lookups(body.payment)

    def apply(self, event: Event, body: Confirmation, view: LedgerView) -> None:
        payment = answered_payment(view, event, body.payment)
        stored = view.event(payment.id)
        payer_discloses = stored is not None and body_of(stored).get("disclose") is True
        view.update(
            payment,
            status="confirmed",
            answer_event=event.id,
            disclosed=payer_discloses and body.disclose,
        )
        concerns(view, event, payment.payer)


RULE = PaymentConfirm()
