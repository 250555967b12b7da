"""``price.list``: a standard-setter signs the minimum prices and premiums of its scheme.

Signed only by a party with the role ``standard``. A list names its scheme, currency,
basis (``FOB``…) and validity; each item a product, form and (where it matters) a class
such as ``washed-arabica``, with its minimum price, incentive or premium and organic
differential per unit. A price list applies to the contracts dated within its validity
(``ledger.prices.applicable``), so it is refused when it would change the past — its
``valid_from`` before the day it is signed — or when one of its items overlaps, in
dates, an item of the same scheme, product, form and class already in the ledger: at any
date, one minimum is in force, and nobody can rewrite what a contract was owed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from ledger import fields, prices, tables
from ledger.errors import InvalidEvent
from ledger.payload import Event
from ledger.records import PriceLine
from ledger.rules.base import Rule, require_role, time_text
from ledger.rules.cert_issue import SCHEME
from ledger.view import LedgerView, Lookup, Wanted

ITEM_FIELDS = frozenset({"product", "form", "class", "minimum", "premium", "organic", "unit"})
ZERO = Decimal(0)


@dataclass(frozen=True)
class Item:
    product: str
    form: str
    quality: str | None
    minimum: Decimal
    premium: Decimal
    organic: Decimal
    unit: str


@dataclass(frozen=True)
class PriceList:
    name: str
    scheme: str
    currency: str
    basis: str
    valid_from: date
    valid_until: date
    items: tuple[Item, ...]

    def terms(self, event_id: str, party: str) -> list[prices.PriceTerm]:
        return [
            prices.PriceTerm(
                list=self.name,
                event=event_id,
                party=party,
                scheme=self.scheme,
                product=i.product,
                form=i.form,
                quality=i.quality,
                minimum=i.minimum,
                premium=i.premium,
                organic=i.organic,
                unit=i.unit,
                currency=self.currency,
                basis=self.basis,
                valid_from=self.valid_from,
                valid_until=self.valid_until,
            )
            for i in self.items
        ]


def _items(body: dict[str, Any]) -> tuple[Item, ...]:
    out: list[Item] = []
    seen: set[str] = set()
    for n, item in enumerate(fields.array(body, "items", max_items=100)):
        where = f"items[{n}]."
        if not isinstance(item, dict):
            raise InvalidEvent("must be an object", field=f"items[{n}]")
        fields.reject_unknown(item, ITEM_FIELDS, prefix=where)
        product = tables.product(
            fields.text(item, "product", prefix=where), field=where + "product"
        )
        form = product.require_form(fields.text(item, "form", prefix=where), field=where + "form")
        quality = prices.quality(item, prefix=where)
        key = prices.term_key("", product.name, form, quality)
        if key in seen:
            raise InvalidEvent(
                f"{product.name} {form} {quality or '(any class)'} is listed twice",
                field=where + "class",
            )
        seen.add(key)
        out.append(
            Item(
                product=product.name,
                form=form,
                quality=quality,
                minimum=prices.money(item, "minimum", prefix=where, positive=True),
                premium=(
                    prices.money(item, "premium", prefix=where) if "premium" in item else ZERO
                ),
                organic=(
                    prices.money(item, "organic", prefix=where) if "organic" in item else ZERO
                ),
                unit=prices.unit(item, prefix=where),
            )
        )
    return tuple(out)


class PriceListRule(Rule[PriceList]):
    type = "price.list"
    fields = frozenset(
        {"list", "scheme", "currency", "basis", "valid_from", "valid_until", "items"}
    )
    nested = MappingProxyType({"items[]": ITEM_FIELDS})

    def from_body(self, body: dict[str, Any], party: str) -> PriceList:
        list_id = fields.ident(body, "list", what="a price list id")
        scheme = fields.require(body, "scheme")
        if not isinstance(scheme, str) or not SCHEME.fullmatch(scheme):
            raise InvalidEvent(
                "a scheme is an upper-case code such as SPP, FT or ORG", field="scheme"
            )
        start, end = fields.date_range(body)
        return PriceList(
            name=list_id,
            scheme=scheme,
            currency=prices.currency(body, "currency"),
            basis=prices.basis(body),
            valid_from=start,
            valid_until=end,
            items=_items(body),
        )

    def prefetch(self, event: Event, body: PriceList) -> Iterable[Wanted]:
        return [Lookup(PriceLine, "term", t.term) for t in body.terms(event.id, event.party)]

    def apply(self, event: Event, body: PriceList, view: LedgerView) -> None:
        require_role(event, view, "standard")
        signed = event.time.date()
        if body.valid_from < signed:
            raise InvalidEvent(
                f"valid_from {body.valid_from} is before the list is signed ({signed}): a"
                " price list is never retroactive (contracts already made were owed the"
                " list in force when they were made); date it from today or later",
                field="valid_from",
            )
        terms = body.terms(event.id, event.party)
        for n, term in enumerate(terms):
            for line in view.find(PriceLine, term=term.term):
                existing = line_term(line)
                if existing.overlaps(term.valid_from, term.valid_until):
                    raise InvalidEvent(
                        f"{term.scheme} {term.product} {term.form}"
                        f" {term.quality or '(any class)'}: list {existing.list!r}"
                        f" ({existing.event}, signed by {existing.party!r}) is in force from"
                        f" {existing.valid_from} to {existing.valid_until}, which overlaps"
                        f" {term.valid_from} to {term.valid_until}; at any date one price"
                        " list applies: start this one after the other ends",
                        field=f"items[{n}]",
                        overlaps=existing.event,
                    )
        for n, term in enumerate(terms):
            view.add(
                PriceLine(
                    event=event.id,
                    idx=n,
                    list=term.list,
                    term=term.term,
                    scheme=term.scheme,
                    product=term.product,
                    form=term.form,
                    quality=term.quality,
                    minimum=term.minimum,
                    premium=term.premium,
                    organic=term.organic,
                    unit=term.unit,
                    currency=term.currency,
                    basis=term.basis,
                    valid_from=term.valid_from.isoformat(),
                    valid_until=term.valid_until.isoformat(),
                    party=event.party,
                    time=time_text(event),
                )
            )


def line_term(line: PriceLine) -> prices.PriceTerm:
    """A stored price line as the term ``ledger.prices`` judges."""
    return prices.PriceTerm(
        list=line.list,
        event=line.event,
        party=line.party,
        scheme=line.scheme,
        product=line.product,
        form=line.form,
        quality=line.quality,
        minimum=line.minimum,
        premium=line.premium,
        organic=line.organic,
        unit=line.unit,
        currency=line.currency,
        basis=line.basis,
        valid_from=date.fromisoformat(line.valid_from),
        valid_until=date.fromisoformat(line.valid_until),
    )


RULE = PriceListRule()
