"""Prices and money: which price list applies to a contract, decided here and only here.

A standard-setter (role ``standard``) signs ``price.list`` events; each item of a list is
a ``PriceTerm``: the minimum price, the incentive or premium and the organic differential
a scheme sets for one product, form and quality class, per unit, in one currency, on one
basis, between two dates. ``applicable`` answers which term was in force on a contract's
date — like ``ledger.certificates.judge`` for certificates — for the payment rule (over
the ledger), the price section of the origin verdict (over a bundle's evidence) and the
auditor's report. ``convert`` states the one arithmetic of a stated exchange rate and of
a price per unit of one form expressed per unit of another.

Money is exact: amounts and prices are decimal strings read into ``Decimal`` and
computed with ``Fraction``; currencies are ISO 4217 codes; a conversion uses only a rate
stated in a signed event, never one fetched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

from ledger import fields
from ledger.errors import InvalidEvent
from ledger.tables import Product, default_tables

# ISO 4217 active alphabetic codes (the list maintained by SIX on behalf of ISO, 2024).
CURRENCIES = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD
    BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR
    FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD
    JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT
    MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG
    QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS
    TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR
    ZMW ZWG""".split()  # noqa: SIM905
)
BASES = frozenset({"FOB", "FCA", "EXW", "CIF", "CFR", "DAP", "DDP", "farmgate"})
"""Where a price is paid: Incoterms 2020 codes as traders write them, and the farm gate."""

_MONEY = re.compile(r"(0|[1-9][0-9]{0,14})(\.[0-9]{1,6})?")
_RATE = re.compile(r"(0|[1-9][0-9]{0,14})(\.[0-9]{1,12})?")
QUALITY = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
CENT = Decimal("0.01")
RATE_FIELDS = frozenset({"currency", "value"})


def money(body: dict[str, Any], name: str, *, prefix: str = "", positive: bool = False) -> Decimal:
    """A decimal string such as ``"2.52"`` (no sign, no exponent, at most 6 decimals)."""
    value = fields.require(body, name, prefix=prefix)
    if not isinstance(value, str) or not _MONEY.fullmatch(value):
        raise InvalidEvent(
            f'must be a decimal string such as "2.52" (no sign, at most 6 decimals), got {value!r}',
            field=prefix + name,
        )
    amount = Decimal(value)
    if positive and amount <= 0:
        raise InvalidEvent("must be greater than zero", field=prefix + name)
    return amount


def currency(body: dict[str, Any], name: str, *, prefix: str = "") -> str:
    value = fields.require(body, name, prefix=prefix)
    if not isinstance(value, str) or value not in CURRENCIES:
        raise InvalidEvent(
            f"must be an ISO 4217 currency code such as USD, EUR or PEN (got {value!r})",
            field=prefix + name,
        )
    return value


def basis(body: dict[str, Any], name: str = "basis") -> str:
    value = fields.require(body, name)
    if value not in BASES:
        raise InvalidEvent(f"must be one of {', '.join(sorted(BASES))} (got {value!r})", field=name)
    assert isinstance(value, str)
    return value


def quality(body: dict[str, Any], name: str = "class", *, prefix: str = "") -> str | None:
    """A quality or origin class (``washed-arabica``, ``robusta``); None when absent."""
    if name not in body:
        return None
    value = body[name]
    if not isinstance(value, str) or not QUALITY.fullmatch(value):
        raise InvalidEvent(
            "must be a class in lower case, such as washed-arabica, natural-arabica or"
            f" robusta (got {value!r})",
            field=prefix + name,
        )
    return value


def unit(body: dict[str, Any], name: str = "unit", *, prefix: str = "") -> str:
    value = fields.require(body, name, prefix=prefix)
    if not isinstance(value, str) or value not in default_tables().units:
        raise InvalidEvent(
            f"unknown unit {value!r}; known: {', '.join(sorted(default_tables().units))}",
            field=prefix + name,
        )
    return value


@dataclass(frozen=True)
class Rate:
    """An exchange rate stated in a signed event: one unit of the event's currency is
    ``value`` units of ``currency``."""

    currency: str
    value: Decimal


def rate(body: dict[str, Any], name: str = "rate") -> Rate | None:
    if name not in body:
        return None
    item = fields.obj(body, name)
    fields.reject_unknown(item, RATE_FIELDS, prefix=name + ".")
    value = item.get("value")
    if not isinstance(value, str) or not _RATE.fullmatch(value) or Decimal(value) <= 0:
        raise InvalidEvent(
            f'must be a positive decimal string such as "0.2667" (got {value!r})',
            field=name + ".value",
        )
    return Rate(currency(item, "currency", prefix=name + "."), Decimal(value))


@dataclass(frozen=True, slots=True)
class PriceTerm:
    """One item of a signed price list."""

    list: str
    event: str
    party: str
    scheme: str
    product: str
    form: str
    quality: str | None
    minimum: Decimal
    premium: Decimal
    organic: Decimal
    unit: str
    currency: str
    basis: str
    valid_from: date
    valid_until: date

    @property
    def term(self) -> str:
        return term_key(self.scheme, self.product, self.form, self.quality)

    def overlaps(self, start: date, end: date) -> bool:
        return self.valid_from <= end and start <= self.valid_until


def term_key(scheme: str, product: str, form: str, quality: str | None) -> str:
    """What two price terms must not share over overlapping dates."""
    return f"{scheme}|{product}|{form}|{quality or ''}"


def applicable(
    terms: Iterable[PriceTerm],
    *,
    scheme: str,
    product: str,
    form: str,
    quality: str | None,
    day: date,
) -> PriceTerm | None:
    """The term in force on ``day`` for a contract of ``scheme`` ``product`` ``form`` of
    class ``quality``: the class's own term, else the scheme's term without a class."""
    wanted = [term_key(scheme, product, form, quality)]
    if quality is not None:
        wanted.append(term_key(scheme, product, form, None))
    in_force = [t for t in terms if t.valid_from <= day <= t.valid_until]
    for key in wanted:
        found = sorted((t for t in in_force if t.term == key), key=lambda t: t.event)
        if found:
            return found[0]
    return None


def to_currency(value: Fraction, currency_from: str, rate_: Rate | None, target: str) -> Fraction:
    """``value`` in ``currency_from`` expressed in ``target`` with the stated ``rate_``;
    ``ValueError`` without a rate to ``target`` (the rules refuse such an event)."""
    if currency_from == target:
        return value
    if rate_ is None or rate_.currency != target:
        raise ValueError(f"no rate from {currency_from} to {target} is stated")
    return value * Fraction(rate_.value)


def per_unit(
    price: Fraction,
    *,
    unit_from: str,
    form_from: str,
    unit_to: str,
    form_to: str,
    product: Product,
) -> Fraction:
    """A price per ``unit_from`` of ``form_from`` as a price per ``unit_to`` of
    ``form_to``. Between forms, through the product's reference form at the yield
    table's maximum yields: the most the goods could have yielded, so the converted
    price is the lowest it can be (a claim of a fair price is never rounded up)."""
    units = default_tables().units
    per_kg = price / Fraction(units[unit_from])
    if form_from != form_to:
        per_kg = per_kg / Fraction(product.conversion_factor(form_from))
        per_kg = per_kg * Fraction(product.conversion_factor(form_to))
    return per_kg * Fraction(units[unit_to])


AMOUNT_TOLERANCE = Fraction(1, 200)
"""How far an amount may be from its price × quantity: 0.5 % (invoices round weights),
and never less than a cent."""


def check_amount(
    amount: Decimal, price: Decimal, kg: Fraction, unit_: str, *, what: str = "price"
) -> None:
    """``amount`` is what ``price`` per ``unit_`` comes to for ``kg`` kilograms, to 0.5 %
    (at least a cent): the per-unit figures a page shows are the money that changed hands,
    and a part stated on its own (a premium) is not also inside the price."""
    due = Fraction(price) * kg / Fraction(default_tables().units[unit_])
    if abs(Fraction(amount) - due) > max(Fraction(CENT), due * AMOUNT_TOLERANCE):
        raise InvalidEvent(
            f"{amount} is not what {what} {price} per {unit_} comes to for the"
            f" {cents(kg, Decimal('0.001'))} kg paid for ({cents(due)}, to 0.5 %)",
            field="amount",
        )


def cents(value: Fraction, quantum: Decimal = CENT) -> Decimal:
    """``value`` rounded half-even to ``quantum`` (how every shown figure is rounded)."""
    return (Decimal(round(value / Fraction(quantum))) * quantum).quantize(quantum)


__all__ = [
    "BASES",
    "CURRENCIES",
    "PriceTerm",
    "Rate",
    "applicable",
    "basis",
    "cents",
    "check_amount",
    "currency",
    "money",
    "per_unit",
    "quality",
    "rate",
    "term_key",
    "to_currency",
    "unit",
]
