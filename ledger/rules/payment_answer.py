"""What ``payment.confirm`` and ``payment.dispute`` share: only the party paid answers a
payment, once."""

from __future__ import annotations

from ledger.errors import InvalidEvent, UnknownReference
from ledger.payload import Event
from ledger.records import Payment
from ledger.rules.custody import not_before
from ledger.view import LedgerView, absent


def answered_payment(view: LedgerView, event: Event, payment_id: str) -> Payment:
    """The payment ``event`` answers: one to its signer, not answered yet."""
    payment = view.get(Payment, payment_id)
    if payment is None or payment.kind != "payment" or payment.payee != event.party:
        # the same answer for a payment to another party as for none: no oracle
        error = UnknownReference(
            f"no payment {payment_id} to {event.party!r} is in the ledger; only the party"
            " paid confirms or disputes a payment",
            field="payment",
        )
        raise absent(view, error) if payment is None else error
    if payment.answer_event is not None:
        raise InvalidEvent(
            f"payment {payment_id} was already {payment.status} by {payment.answer_event}",
            field="payment",
        )
    not_before(event, payment.time, what=f"payment {payment_id}", field="time")
    return payment
