"""A coffee chain with a price list, payments and member payments, for the fair-price tests."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ledger.tables import default_tables
from tests.graph import chains
from tests.graph.chains import COOP, EXPORTER, M1, P1, ROASTER, Coffee
from tests.support import World

STANDARD = "spp-global"
LOT = f"{COOP}:h-1"
MINIMUM, PREMIUM, ORGANIC = "2.52", "0.20", "0.40"


def price_list_body(
    name: str = "SPP-2026",
    *,
    valid_from: str = "2026-03-01",
    valid_until: str = "2027-02-28",
    minimum: str = MINIMUM,
    currency: str = "USD",
    quality: str | None = "washed-arabica",
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "product": "coffee",
        "form": "green",
        "minimum": minimum,
        "premium": PREMIUM,
        "organic": ORGANIC,
        "unit": "lb",
    }
    if quality:
        item["class"] = quality
    return {
        "type": "price.list",
        "list": name,
        "scheme": "SPP",
        "currency": currency,
        "basis": "FOB",
        "valid_from": valid_from,
        "valid_until": valid_until,
        "items": [item],
    }


def payment_body(receipt: str, *, kg: str = "100", **changes: Any) -> dict[str, Any]:
    """A payment for ``receipt``; its ``amount``, unless given, is what its price and
    premium per unit come to for ``kg`` kilograms received (the rule checks it)."""
    body: dict[str, Any] = {
        "type": "payment",
        "to": COOP,
        "receipts": [receipt],
        "contract": "C-2026-001",
        "contract_date": "2026-03-01",
        "scheme": "SPP",
        "class": "washed-arabica",
        "price": "3.10",
        "premium": "0.20",
        "unit": "lb",
        "currency": "USD",
        "basis": "FOB",
        "amount": "727.52",
        "date": "2026-03-02",
        "disclose": True,
    }
    body.update(changes)
    if "amount" not in changes:
        per_unit = Decimal(body["price"]) + Decimal(body.get("premium") or 0)
        units = Decimal(kg) / default_tables().units[body["unit"]]
        body["amount"] = str((per_unit * units).quantize(Decimal("0.01")))
    return {k: v for k, v in body.items() if v is not None}


def member_payment_body(harvest: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "member.payment",
        "member": M1,
        "harvests": [harvest],
        "part": "price",
        "price": "9.50",
        "unit": "kg",
        "currency": "PEN",
        "rate": {"currency": "USD", "value": "0.27"},
        "amount": "950",
        "date": "2026-03-01",
        "disclose": True,
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


@dataclass
class Fair:
    c: Coffee
    harvest: str
    receipt: str
    price_list: str
    payment: str | None = None
    confirmation: str | None = None
    member_payment: str | None = None
    bag: str | None = None


def setup(world: World) -> Fair:
    """Parties, the standard's price list, a harvest shipped to the exporter and received."""
    c = chains.base(world)
    c.party(STANDARD, ["standard"], "MX")
    listed = c.append(STANDARD, price_list_body())
    h = c.harvest(COOP, LOT, "100", M1, P1)
    receipt = c.move(COOP, EXPORTER, LOT, h, "100")
    return Fair(c, h, receipt, listed)


def paid_chain(
    world: World,
    *,
    disclose: bool = True,
    confirm_disclose: bool = True,
    member_disclose: bool = True,
    price: str = "3.10",
) -> Fair:
    """The whole chain to a published bag, the cooperative paid and its member paid."""
    fair = setup(world)
    c = fair.c
    fair.member_payment = c.append(
        COOP, member_payment_body(fair.harvest, disclose=member_disclose)
    )
    fair.payment = c.append(EXPORTER, payment_body(fair.receipt, disclose=disclose, price=price))
    fair.confirmation = c.append(
        COOP, {"type": "payment.confirm", "payment": fair.payment, "disclose": confirm_disclose}
    )
    at_roaster = c.move(EXPORTER, ROASTER, LOT, fair.receipt, "100")
    fair.bag = chains.roast_and_pack(c, [(LOT, at_roaster, "100")], "100")
    return fair
