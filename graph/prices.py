"""The price section of a lot: what its cooperatives were paid, from disclosed payments.

``price_section`` is the one computation of those figures. The origin verdict calls it
(so the page, the JSON API and the bundle's ``verdict.prices`` all show its answer) and
``trazo verify`` recomputes the verdict — hence these figures — from a bundle's events
alone, and accepts in a bundle only the events it relies on (``PriceSection.events``).

Per small producers' organization in the lot's custody ancestry (the shipper of a
receipt in it, with the role ``spo``):

- **what it was paid**: the kg-weighted average price per unit of its *disclosed*
  payments for those receipts — a ``payment`` signed by the buyer with ``"disclose":
  true`` and confirmed by the SPO with ``"disclose": true`` — converted with the rate
  each payment states to the currency, unit and basis of the scheme's price list in
  force at the contract date (a payment without such a list is not shown: there is no
  minimum to show it against);
- **against the minimum**: that list's minimum (plus its organic differential when the
  SPO's shipment claimed ``ORG``), the difference, and the premium or incentive paid
  against the premium due;
- **at the farm gate**: the kg-weighted average, over the SPO's harvests in the ancestry
  with disclosed ``member.payment`` events for the coffee (parts ``price`` and
  ``second-payment``), of what was paid per unit for it, converted at the stated rate and
  to the list's form at the yield table's maximum yields (``ledger.prices.per_unit``),
  and its share of the FOB price. Both sides are prices for the coffee: the FOB price
  excludes the premium (incentive), so premium distributed to members (part ``premium``)
  is not counted in the farm-gate price either — counting it on one side only inflated
  the share, past 100 % for a cooperative passing most of its premium on. The premium is
  a separate fund a certifier audits on its own, against the incentive received.

Figures are exact fractions, shown rounded half-even to the cent (percentages to 0.1).
An undisclosed payment is never an input: not on the server, not in a bundle.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from graph.evidence import Evidence, Record, created_lots
from ledger import prices
from ledger.errors import InvalidEvent
from ledger.tables import RuleTables, default_tables

PERCENT = Decimal("0.1")


@dataclass(frozen=True)
class PriceFigures:
    """What one SPO was paid for its goods in this lot, and what reached its members."""

    spo: str
    buyers: tuple[str, ...]
    scheme: str
    standard: str
    """The party that signed the price list (role ``standard``): whose minimum it is."""
    basis: str
    currency: str
    unit: str
    form: str
    kg: Decimal
    price: Decimal
    minimum: Decimal
    above_minimum: Decimal
    premium_paid: Decimal
    premium_due: Decimal
    farmgate: Decimal | None
    farmgate_percent: Decimal | None
    farmgate_kg: Decimal
    payments: tuple[str, ...]
    confirmations: tuple[str, ...]
    price_lists: tuple[str, ...]
    member_payments: tuple[str, ...]

    @property
    def events(self) -> tuple[str, ...]:
        return self.payments + self.confirmations + self.price_lists + self.member_payments

    @property
    def below_minimum(self) -> bool:
        return self.above_minimum < 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "spo": self.spo,
            "buyers": list(self.buyers),
            "scheme": self.scheme,
            "standard": self.standard,
            "basis": self.basis,
            "currency": self.currency,
            "unit": self.unit,
            "form": self.form,
            "kg": str(self.kg),
            "price": str(self.price),
            "minimum": str(self.minimum),
            "above_minimum": str(self.above_minimum),
            "premium_paid": str(self.premium_paid),
            "premium_due": str(self.premium_due),
            "farmgate": None if self.farmgate is None else str(self.farmgate),
            "farmgate_percent": (
                None if self.farmgate_percent is None else str(self.farmgate_percent)
            ),
            "farmgate_kg": str(self.farmgate_kg),
            "events": {
                "payments": list(self.payments),
                "confirmations": list(self.confirmations),
                "price_lists": list(self.price_lists),
                "member_payments": list(self.member_payments),
            },
        }


@dataclass(frozen=True)
class PriceSection:
    figures: tuple[PriceFigures, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.figures)

    @property
    def events(self) -> frozenset[str]:
        """Every event a figure relies on: what a bundle carries for this section."""
        return frozenset(e for f in self.figures for e in f.events)

    def to_list(self) -> list[dict[str, Any]]:
        return [f.to_dict() for f in self.figures]


@dataclass
class _Paid:
    """One disclosed payment's part of one SPO's figures."""

    payment: Record
    confirmation: Record
    term: prices.PriceTerm
    kg: Fraction
    price: Fraction
    premium: Fraction
    minimum: Fraction


@dataclass
class _Spo:
    paid: list[_Paid] = field(default_factory=list)


def price_section(lot: str, evidence: Evidence, rules: RuleTables | None = None) -> PriceSection:
    """The disclosed price figures of ``lot``'s ancestry (empty when none is disclosed)."""
    rules = rules or default_tables()
    ancestry = evidence.ancestry(lot)
    parties = evidence.parties()
    terms = _terms(evidence)
    confirmations = {
        body.payment: r for r, body in evidence.typed("payment.confirm") if body.disclose
    }
    voided = evidence.voided()
    # receipt id -> (SPO that shipped it, kg received, claims of its shipment)
    receipts: dict[str, tuple[str, Fraction, tuple[str, ...]]] = {}
    for receipt_id in sorted(ancestry - voided.keys()):
        receipt = evidence.get(receipt_id)
        received = _typed(receipt) if receipt is not None and receipt.type == "receive" else None
        if received is None:
            continue
        shipment = evidence.get(received.shipment)
        shipped = _typed(shipment) if shipment is not None else None
        if shipment is None or shipped is None or "spo" not in _roles(parties, shipment.party):
            continue
        kg = sum((Fraction(line.amount.kg) for line in received.lots), Fraction(0))
        receipts[receipt_id] = (shipment.party, kg, shipped.claims)
    spos: dict[str, _Spo] = defaultdict(_Spo)
    for record, body in evidence.typed("payment"):
        confirmation = confirmations.get(record.id)
        if not body.disclose or confirmation is None or confirmation.party != body.to:
            continue
        covered = [receipts[r] for r in body.receipts if r in receipts]
        if not covered or any(spo != body.to for spo, _, _ in covered):
            continue
        goods = _goods(evidence, [r for r in body.receipts if r in receipts])
        if goods is None:
            continue
        product, form = goods
        term = prices.applicable(
            terms,
            scheme=body.scheme or "",
            product=product,
            form=form,
            quality=body.quality,
            day=body.contract_date,
        )
        if term is None:
            continue
        try:
            price = convert(body.price, body, form, term, rules)
            premium = convert(body.premium, body, form, term, rules)
        except ValueError:
            continue  # no stated rate to the list's currency: the rules refuse it anyway
        organic = any("ORG" in claims for _, _, claims in covered)
        minimum = Fraction(term.minimum) + (Fraction(term.organic) if organic else 0)
        spos[body.to].paid.append(
            _Paid(
                payment=record,
                confirmation=confirmation,
                term=term,
                kg=sum((kg for _, kg, _ in covered), Fraction(0)),
                price=price,
                premium=premium,
                minimum=minimum,
            )
        )
    figures = [
        _figures(spo, group, ancestry, evidence, rules) for spo, group in sorted(spos.items())
    ]
    return PriceSection(tuple(figures))


def _typed(record: Record) -> Any:
    """A record's typed body, or None for a body the rules refuse (a forged bundle's)."""
    try:
        return record.typed
    except InvalidEvent:
        return None


def _roles(parties: dict[str, Any], party: str) -> frozenset[str]:
    facts = parties.get(party)
    return facts.roles if facts is not None else frozenset()


def _terms(evidence: Evidence) -> list[prices.PriceTerm]:
    """The terms of every price list in the evidence that was not withdrawn (voided)."""
    voided = evidence.voided()
    out: list[prices.PriceTerm] = []
    for record, body in evidence.typed("price.list"):
        if record.id not in voided:
            out.extend(body.terms(record.id, record.party))
    return out


def _goods(evidence: Evidence, receipts: list[str]) -> tuple[str, str] | None:
    """The one (product, form) these receipts accepted, as the lots' creators state."""
    goods: set[tuple[str, str]] = set()
    for receipt in receipts:
        record = evidence.get(receipt)
        received = _typed(record) if record is not None else None
        if received is None:
            return None
        for line in received.lots:
            creator = evidence.creator(line.lot)
            if creator is None:
                return None
            try:
                made = created_lots(creator)[line.lot]
            except (InvalidEvent, KeyError):
                return None
            goods.add((made.product, made.form))
    return goods.pop() if len(goods) == 1 else None


def convert(
    value: Decimal, body: Any, form: str, term: prices.PriceTerm, rules: RuleTables
) -> Fraction:
    """A per-unit figure of a payment (or member payment) in the term's currency and unit."""
    in_currency = prices.to_currency(Fraction(value), body.currency, body.rate, term.currency)
    return prices.per_unit(
        in_currency,
        unit_from=body.unit,
        form_from=form,
        unit_to=term.unit,
        form_to=term.form,
        product=rules.product(term.product),
    )


def _figures(
    spo: str, group: _Spo, ancestry: set[str], evidence: Evidence, rules: RuleTables
) -> PriceFigures:
    paid = sorted(group.paid, key=lambda p: p.payment.index)
    reference = paid[0].term
    comparable = [
        p
        for p in paid
        if (p.term.currency, p.term.unit, p.term.form, p.term.basis)
        == (reference.currency, reference.unit, reference.form, reference.basis)
    ]
    total = sum((p.kg for p in comparable), Fraction(0))

    def mean(values: list[tuple[Fraction, Fraction]]) -> Fraction:
        return sum((v * w for v, w in values), Fraction(0)) / total

    price = mean([(p.price, p.kg) for p in comparable])
    minimum = mean([(p.minimum, p.kg) for p in comparable])
    premium_paid = mean([(p.premium, p.kg) for p in comparable])
    premium_due = mean([(Fraction(p.term.premium), p.kg) for p in comparable])
    farmgate, farmgate_kg, member_payments = _farmgate(spo, reference, ancestry, evidence, rules)
    return PriceFigures(
        spo=spo,
        buyers=tuple(sorted({p.payment.party for p in comparable})),
        scheme=reference.scheme,
        standard=reference.party,
        basis=reference.basis,
        currency=reference.currency,
        unit=reference.unit,
        form=reference.form,
        kg=prices.cents(total, Decimal("0.001")),
        price=prices.cents(price),
        minimum=prices.cents(minimum),
        above_minimum=prices.cents(price - minimum),
        premium_paid=prices.cents(premium_paid),
        premium_due=prices.cents(premium_due),
        farmgate=None if farmgate is None else prices.cents(farmgate),
        farmgate_percent=(
            None if farmgate is None else prices.cents(farmgate / price * 100, PERCENT)
        ),
        farmgate_kg=prices.cents(farmgate_kg, Decimal("0.001")),
        payments=tuple(p.payment.id for p in comparable),
        confirmations=tuple(p.confirmation.id for p in comparable),
        price_lists=tuple(sorted({p.term.event for p in comparable})),
        member_payments=member_payments,
    )


def _farmgate(
    spo: str,
    term: prices.PriceTerm,
    ancestry: set[str],
    evidence: Evidence,
    rules: RuleTables,
) -> tuple[Fraction | None, Fraction, tuple[str, ...]]:
    """What the SPO paid per unit for the coffee of its harvests in the ancestry (price and
    second payments, not premium: the FOB price it is compared with excludes premium),
    averaged over their kilograms, in ``term``'s currency, unit and form (None: nothing
    disclosed)."""
    harvests = {
        r.id: r
        for r in (evidence.get(i) for i in ancestry)
        if r is not None and r.type == "harvest" and r.party == spo and _typed(r) is not None
    }
    paid: dict[str, Fraction] = defaultdict(Fraction)
    used: list[str] = []
    for record, body in evidence.typed("member.payment"):
        if record.party != spo or not body.disclose or body.part == "premium":
            continue
        mine = [h for h in body.harvests if h in harvests]
        if not mine:
            continue
        try:  # once per delivered form: a settlement names many deliveries of one form
            by_form = {
                form: convert(body.price, body, form, term, rules)
                for form in {harvests[h].typed.form for h in mine}
            }
        except (ValueError, InvalidEvent):
            continue
        for h in mine:
            paid[h] += by_form[harvests[h].typed.form]
        used.append(record.id)
    if not paid:
        return None, Fraction(0), ()
    weights = {h: Fraction(harvests[h].typed.amount.kg) for h in paid}
    total = sum(weights.values(), Fraction(0))
    average = sum((paid[h] * weights[h] for h in paid), Fraction(0)) / total
    return average, total, tuple(used)


__all__ = ["PriceFigures", "PriceSection", "price_section"]
