"""Mass balance: what a party bought certified against what it sold as certified.

An auditor checks one party, one product, one scheme (``SPP``, ``FT``, …) and one period
at a time: the party may never have sold more certified product than it bought certified,
once processing yields are accounted for (ISO 22095's mass-balance model; Fairtrade's
rule that certified output never exceeds certified input after conversion).
:func:`mass_balance` builds that report; :func:`sweep` runs the same accounting for every
party, product and scheme of the ledger and lists the ones in deficit.

**What counts** (for party P, product X, scheme S; only events P signed; a voided event
never counts — it is listed, marked as voided, with no effect):

- *Certified input*: a ``receive`` by P of a shipment whose ``claims`` include S and whose
  shipper held, at the shipment's time, a certificate of S covering X: not voided,
  ``valid_from <= day <= valid_until`` with ``day`` the date of the shipment's ``time`` in
  its own offset (as the signer dated it), and not revoked at or before that instant.
  The quantity is what the receipt ACCEPTED (a transit loss is the shipper's), credited
  at the receipt's time. Any other receipt is a non-certified input, with the reason.
- The party's own ``harvest`` (an SPO taking its members' deliveries, a certified
  producer) is a certified input when P itself held such a certificate on the harvest
  date; otherwise a non-certified input.
- *Certified output*: a ``ship`` by P whose ``claims`` include S, at the quantity shipped.
  A claimed shipment by a party that held no valid certificate of S at that time still
  debits the balance, and its line carries a note saying so. A ``ship`` without the claim
  is a non-certified output.
- A ``transform`` is not a flow across P's boundary: it changes form. Since every figure
  is converted to the reference form, a transform is neutral for the certified balance.
  Its inputs and outputs are listed (reference kg in and out) and the difference is
  reported as the yield loss of the period, which does NOT change the certified balance.
- A ``dispose`` (spoilage, samples) is listed and totalled; it does not change the
  certified balance either: credit is earned by certified purchases and spent by
  certified claims, and a write-off makes no claim.

**Conversion.** Every quantity is expressed in the product's reference form (coffee:
green, cacao: dry beans) with the yield table the custody rules use
(:meth:`ledger.tables.Product.to_reference`): a form upstream of the reference is
multiplied by the maximum yield to it, a form downstream divided by the maximum yield
from it. The report lists every factor it used and the tables' digest.

**Rounding.** Quantities in kg are exact (decimal). Each line's reference-form kg is
``to_reference(kg)`` rounded to the gram, ROUND_HALF_EVEN; every total and balance is the
exact sum of those line figures, so an auditor can add the lines and get the totals.

**Periods and order.** A period is a span of calendar dates in UTC: from ``from``
00:00:00Z inclusive to the day after ``until`` 00:00:00Z exclusive (presets: ``2026-03``,
``2026-Q1``, ``2026``, or one day ``2026-03-15``). Events are taken in order of their
instant (stored UTC time, then ledger index). The opening balance is the certified
balance of everything before ``from`` (a deficit carries over as a negative opening);
the closing balance is opening + certified inputs − certified outputs.

**Deficit.** A certified balance below zero at any moment is overselling. Each deficit
episode is reported with when it began (and the event that began it, even if before the
period), its deepest point (the amount oversold) and the event there, when it ended (the
event that brought the balance back to zero or above) and the claimed shipments during it.

Every line names its event id (and, for a receipt, the shipment and the shipper's
certificate event), so each figure can be checked against the signed events.
Nothing here writes; the store is injected.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

from graph._mass_balance_flows import (
    PARTY_TYPES,
    SWEEP_TYPES,
    CertificateBook,
    Flow,
    stream_flows,
)
from graph.export_trace import safe_cell
from ledger.errors import ClientError, InvalidEvent, PartyNotFound
from ledger.schema import PartyRow, decimal_text
from ledger.store import Store
from ledger.tables import Product, RuleTables, default_tables

__all__ = [
    "Deficit",
    "Factor",
    "InvalidQuery",
    "LedgerLine",
    "MassBalanceReport",
    "Period",
    "SweepEntry",
    "SweepReport",
    "Totals",
    "mass_balance",
    "sweep",
]

GRAM = Decimal("0.001")
ZERO = Decimal("0.000")
_ROUND = Context(prec=60, rounding=ROUND_HALF_EVEN)
_SUM = Context(prec=60, rounding=ROUND_HALF_EVEN)  # sums of gram figures: exact in practice
ROUNDING = (
    "kg exact; reference-form kg per line rounded to the gram (0.001 kg),"
    " ROUND_HALF_EVEN; totals and balances are exact sums of the line figures"
)


class InvalidQuery(ClientError):
    """A mass-balance question that cannot be asked: bad period, product or scheme."""

    title = "Invalid mass-balance query"


# --- periods --------------------------------------------------------------------------------

_PRESET = re.compile(r"([0-9]{4})(?:-(?:(0[1-9]|1[0-2])|Q([1-4])|(0[1-9]|1[0-2])-([0-9]{2})))?")


LAST_DAY = date(9999, 12, 31)
"""A period ends before it: its exclusive end bound is the next day."""


@dataclass(frozen=True)
class Period:
    """Calendar dates ``start`` … ``end`` (inclusive), read as UTC days."""

    start: date
    end: date
    label: str

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise InvalidQuery(
                f"the period ends ({self.end}) before it starts ({self.start})", field="until"
            )
        if self.end >= LAST_DAY:
            raise InvalidQuery(f"the period must end before {LAST_DAY}", field="until")

    @classmethod
    def parse(cls, text: str) -> Period:
        """``2026`` (a year), ``2026-Q1`` (a quarter), ``2026-03`` (a month), ``2026-03-15``."""
        m = _PRESET.fullmatch(text.strip()) if isinstance(text, str) else None
        if m is None:
            raise InvalidQuery(
                f"period {text!r} is not YYYY, YYYY-Qn, YYYY-MM or YYYY-MM-DD", field="period"
            )
        year = int(m.group(1))
        month, quarter, day_month, day = m.group(2), m.group(3), m.group(4), m.group(5)
        try:
            if month:
                start = date(year, int(month), 1)
                end = date(year, int(month), calendar.monthrange(year, int(month))[1])
            elif quarter:
                first = 3 * (int(quarter) - 1) + 1
                start = date(year, first, 1)
                end = date(year, first + 2, calendar.monthrange(year, first + 2)[1])
            elif day_month:
                start = end = date(year, int(day_month), int(day))
            else:
                start, end = date(year, 1, 1), date(year, 12, 31)
        except ValueError as e:
            raise InvalidQuery(f"period {text!r}: {e}", field="period") from e
        return cls(start, end, text.strip())

    @classmethod
    def between(cls, start: date | str, end: date | str) -> Period:
        s = _date(start, "from")
        e = _date(end, "until")
        return cls(s, e, f"{s.isoformat()}/{e.isoformat()}")

    @property
    def start_utc(self) -> str:
        return f"{self.start.isoformat()}T00:00:00.000000Z"

    @property
    def end_utc(self) -> str:
        """The first instant after the period (exclusive bound)."""
        return f"{(self.end + timedelta(days=1)).isoformat()}T00:00:00.000000Z"

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "from": self.start.isoformat(),
            "until": self.end.isoformat(),
            "starts_at": self.start_utc,
            "ends_before": self.end_utc,
        }


def _date(value: date | str, name: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError) as e:
        raise InvalidQuery(f"{name} must be a date YYYY-MM-DD, got {value!r}", field=name) from e


# --- the report -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LedgerLine:
    """One lot line of one event, with its effect on the certified balance."""

    time: str
    signed_time: str
    event: str
    index: int
    type: str
    direction: str
    counterparty: str | None
    lot: str
    quantity: str
    unit: str
    kg: Decimal
    form: str
    factor: Decimal
    reference_kg: Decimal
    certified: bool | None
    """True/False for flows across the boundary; None for transforms, disposals, voids."""
    counts: bool
    """False for a voided event: listed, never counted."""
    reason: str | None
    """Why it is not certified (or, for a transform or disposal, why it is neutral)."""
    note: str | None
    certified_delta: Decimal
    balance: Decimal
    """Running certified balance (reference kg) after this line."""
    shipment: str | None
    certificate: str | None
    """The certificate that made it certified (the shipper's, or the party's own)."""
    certificate_event: str | None

    CSV_FIELDS = (
        "time",
        "signed_time",
        "event",
        "index",
        "type",
        "direction",
        "counterparty",
        "lot",
        "quantity",
        "unit",
        "kg",
        "form",
        "factor",
        "reference_kg",
        "certified",
        "counts",
        "reason",
        "note",
        "certified_delta",
        "balance",
        "shipment",
        "certificate",
        "certificate_event",
    )

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "signed_time": self.signed_time,
            "event": self.event,
            "index": self.index,
            "type": self.type,
            "direction": self.direction,
            "counterparty": self.counterparty,
            "lot": self.lot,
            "quantity": self.quantity,
            "unit": self.unit,
            "kg": decimal_text(self.kg),
            "form": self.form,
            "factor": decimal_text(self.factor),
            "reference_kg": str(self.reference_kg),
            "certified": self.certified,
            "counts": self.counts,
            "reason": self.reason,
            "note": self.note,
            "certified_delta": str(self.certified_delta),
            "balance": str(self.balance),
            "shipment": self.shipment,
            "certificate": self.certificate,
            "certificate_event": self.certificate_event,
        }


@dataclass(frozen=True)
class Deficit:
    """One stretch of time with the certified balance below zero: overselling."""

    started_at: str
    started_by: str | None
    """The event that took the balance below zero (None only for a ledger with no such)."""
    started_before_period: bool
    deepest_kg: Decimal
    """The amount oversold at the worst moment (positive reference kg)."""
    deepest_at: str
    deepest_event: str
    ended_at: str | None
    ended_by: str | None
    """The event that brought the balance back to zero or above; None if still open."""
    events: tuple[str, ...]
    """The certified shipments made while in deficit (the events behind it)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at,
            "started_by": self.started_by,
            "started_before_period": self.started_before_period,
            "oversold_kg": str(self.deepest_kg),
            "deepest_at": self.deepest_at,
            "deepest_event": self.deepest_event,
            "ended_at": self.ended_at,
            "ended_by": self.ended_by,
            "events": list(self.events),
        }


@dataclass(frozen=True)
class Factor:
    form: str
    factor: Decimal
    rule: str

    def to_dict(self) -> dict[str, Any]:
        return {"form": self.form, "factor": decimal_text(self.factor), "rule": self.rule}


@dataclass
class Totals:
    """Reference-form kg of the period, by kind of flow (and line counts)."""

    certified_in: Decimal = ZERO
    non_certified_in: Decimal = ZERO
    certified_out: Decimal = ZERO
    non_certified_out: Decimal = ZERO
    transform_in: Decimal = ZERO
    transform_out: Decimal = ZERO
    disposed: Decimal = ZERO
    voided_lines: int = 0
    lines: int = 0

    @property
    def yield_loss(self) -> Decimal:
        return _SUM.subtract(self.transform_in, self.transform_out)

    def add(self, line: LedgerLine) -> None:
        self.lines += 1
        if not line.counts:
            self.voided_lines += 1
            return
        name = {
            ("in", True): "certified_in",
            ("in", False): "non_certified_in",
            ("out", True): "certified_out",
            ("out", False): "non_certified_out",
        }.get((line.direction, bool(line.certified)))
        if name is None:
            name = {
                "transform-in": "transform_in",
                "transform-out": "transform_out",
                "dispose": "disposed",
            }[line.direction]
        setattr(self, name, _SUM.add(getattr(self, name), line.reference_kg))

    def to_dict(self) -> dict[str, Any]:
        return {
            "certified_in": str(self.certified_in),
            "non_certified_in": str(self.non_certified_in),
            "certified_out": str(self.certified_out),
            "non_certified_out": str(self.non_certified_out),
            "transform_in": str(self.transform_in),
            "transform_out": str(self.transform_out),
            "yield_loss": str(self.yield_loss),
            "disposed": str(self.disposed),
            "lines": self.lines,
            "voided_lines": self.voided_lines,
        }


@dataclass(frozen=True)
class MassBalanceReport:
    """One party, product, scheme and period: balances, deficits and every line."""

    party: str
    product: str
    scheme: str
    period: Period
    reference_form: str
    opening: Decimal
    totals: Totals
    closing: Decimal
    lowest: Decimal
    """The lowest certified balance reached in the period (the opening if nothing moved)."""
    deficits: tuple[Deficit, ...]
    lines: tuple[LedgerLine, ...]
    factors: tuple[Factor, ...]
    tables_digest: str

    def __bool__(self) -> bool:
        """True when the certified balance never went below zero in the period."""
        return not self.deficits

    @property
    def in_deficit(self) -> bool:
        return bool(self.deficits)

    @property
    def oversold_kg(self) -> Decimal:
        return max((d.deepest_kg for d in self.deficits), default=ZERO)

    def to_dict(self, *, lines: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "party": self.party,
            "product": self.product,
            "scheme": self.scheme,
            "period": self.period.to_dict(),
            "reference_form": self.reference_form,
            "unit": f"kg {self.reference_form} equivalent",
            "opening_balance": str(self.opening),
            "totals": self.totals.to_dict(),
            "closing_balance": str(self.closing),
            "lowest_balance": str(self.lowest),
            "in_deficit": self.in_deficit,
            "oversold_kg": str(self.oversold_kg),
            "deficits": [d.to_dict() for d in self.deficits],
            "factors": [f.to_dict() for f in self.factors],
            "tables_digest": self.tables_digest,
            "rounding": ROUNDING,
        }
        if lines:
            out["lines"] = [line.to_dict() for line in self.lines]
        return out


# --- accounting -----------------------------------------------------------------------------


@dataclass
class _Open:
    started_at: str
    started_by: str | None
    before_period: bool
    deepest: Decimal
    deepest_at: str
    deepest_event: str
    events: list[str] = field(default_factory=list)


class _Account:
    """The certified balance of one (party, product, scheme), applied in time order."""

    def __init__(self, period: Period) -> None:
        self.period = period
        self.balance = ZERO
        self.opening: Decimal | None = None
        self.lowest: Decimal | None = None
        self.certified_in = ZERO
        self.certified_out = ZERO
        self.deficits: list[Deficit] = []
        self._open: _Open | None = None
        self._last_event: str | None = None

    def _enter_period(self) -> None:
        if self.opening is None:
            self.opening = self.balance
            self.lowest = self.balance
            o = self._open
            if o is not None:  # a deficit carried into the period: its depth restarts here
                o.before_period = True
                o.deepest, o.deepest_at = self.balance, self.period.start_utc
                o.deepest_event = self._last_event or ""

    def apply(self, flow_time: str, event: str, delta: Decimal, claimed_out: bool) -> None:
        in_period = flow_time >= self.period.start_utc
        if in_period:
            self._enter_period()
            if delta > 0:
                self.certified_in = _SUM.add(self.certified_in, delta)
            elif delta < 0:
                self.certified_out = _SUM.subtract(self.certified_out, delta)
        self.balance = _SUM.add(self.balance, delta)
        self._last_event = event
        if in_period and self.lowest is not None and self.balance < self.lowest:
            self.lowest = self.balance
        if self.balance < 0:
            if self._open is None:
                self._open = _Open(flow_time, event, not in_period, self.balance, flow_time, event)
            elif self.balance < self._open.deepest:
                self._open.deepest = self.balance
                self._open.deepest_at = flow_time
                self._open.deepest_event = event
            if claimed_out and in_period:
                self._open.events.append(event)
        elif self._open is not None:
            if in_period:
                self._close(flow_time, event)
            else:
                self._open = None

    def _close(self, at: str | None, by: str | None) -> None:
        o = self._open
        assert o is not None
        if o.started_by is not None and o.started_by not in o.events and not o.before_period:
            o.events.insert(0, o.started_by)
        self.deficits.append(
            Deficit(
                started_at=o.started_at,
                started_by=o.started_by,
                started_before_period=o.before_period,
                deepest_kg=-o.deepest,
                deepest_at=o.deepest_at,
                deepest_event=o.deepest_event,
                ended_at=at,
                ended_by=by,
                events=tuple(dict.fromkeys(o.events)),
            )
        )
        self._open = None

    def finish(self) -> None:
        self._enter_period()
        if self._open is not None:
            self._close(None, None)

    @property
    def closing(self) -> Decimal:
        return self.balance


def _reference_kg(product: Product, flow: Flow) -> Decimal:
    return product.to_reference(flow.kg, flow.form).quantize(GRAM, context=_ROUND)


def _judge(
    flow: Flow, scheme: str, product: str, certs: CertificateBook
) -> tuple[bool | None, str | None, str | None, Any]:
    """(certified, reason, note, certificate) for one counted flow."""
    if flow.direction == "in" and flow.type == "receive":
        if scheme not in flow.claims:
            made = f" (it claims {', '.join(flow.claims)})" if flow.claims else ""
            return False, f"shipment {flow.shipment} does not claim {scheme}{made}", None, None
        if flow.counterparty is None or flow.shipped_at is None or flow.shipped_utc is None:
            return False, f"shipment {flow.shipment} is not in the ledger", None, None
        verdict = certs.judge(
            flow.counterparty,
            scheme,
            product,
            flow.shipped_at,
            flow.shipped_utc,
            f"shipment {flow.shipment}",
        )
        if not verdict:
            return False, verdict.reason, None, None
        return True, None, None, verdict.certificate
    if flow.direction == "in":  # own harvest
        verdict = certs.judge(
            flow.party, scheme, product, flow.signed_time, flow.time, "the harvest"
        )
        if not verdict:
            return False, verdict.reason, None, None
        return True, None, None, verdict.certificate
    if flow.direction == "out":
        if scheme not in flow.claims:
            made = f" (it claims {', '.join(flow.claims)})" if flow.claims else ""
            return False, f"the shipment does not claim {scheme}{made}", None, None
        verdict = certs.judge(
            flow.party, scheme, product, flow.signed_time, flow.time, "the shipment"
        )
        note = (
            None
            if verdict
            else f"claimed {scheme} without a valid certificate: " + str(verdict.reason)
        )
        return True, None, note, verdict.certificate
    if flow.direction == "dispose":
        return (
            None,
            "a disposal: a physical loss that makes no claim; certified balance unchanged",
            None,
            None,
        )
    return None, "a transform changes form within the party: neutral in reference form", None, None


def _factors(product: Product, forms: Iterable[str]) -> tuple[Factor, ...]:
    out = []
    ref = product.reference_form
    for form in sorted(set(forms), key=product.forms.index):
        factor = product.conversion_factor(form)
        if form == ref:
            rule = f"the reference form ({ref}): factor 1"
        elif (up := product.max_yield(form, ref)) is not None:
            rule = f"kg {form} × {up} = kg {ref} (maximum yield {form} → {ref})"
        else:
            down = product.max_yield(ref, form)
            rule = f"kg {form} ÷ {down} = kg {ref} (maximum yield {ref} → {form})"
        out.append(Factor(form, factor, rule))
    return tuple(out)


def _product(rules: RuleTables, name: str) -> Product:
    try:
        return rules.product(name)
    except InvalidEvent as e:
        raise InvalidQuery(e.message, field="product") from e


def _scheme(scheme: str) -> str:
    if not isinstance(scheme, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}", scheme):
        raise InvalidQuery(
            f"scheme {scheme!r} is not a scheme code such as SPP or FT", field="scheme"
        )
    return scheme


def mass_balance(
    store: Store,
    party: str,
    product: str,
    scheme: str,
    period: Period,
    *,
    rules: RuleTables | None = None,
) -> MassBalanceReport:
    """The mass-balance report of ``party`` for ``product`` and ``scheme`` over ``period``.

    Reads only the party's own custody events naming a lot of the product, dated before
    the period's end, in time order. Raises :class:`ledger.errors.PartyNotFound` or
    :class:`InvalidQuery`.
    """
    rules = rules or default_tables()
    prod = _product(rules, product)
    _scheme(scheme)
    with store.reading() as session:
        if session.get(PartyRow, party) is None:
            raise PartyNotFound(f"no party {party!r} is registered", field="party")
        certs = CertificateBook(session)
        account = _Account(period)
        totals = Totals()
        lines: list[LedgerLine] = []
        for flow in stream_flows(
            session, before=period.end_utc, types=PARTY_TYPES, party=party, product=prod.name
        ):
            line = _line(flow, prod, scheme, certs, account)
            if flow.time >= period.start_utc:
                lines.append(line)
                totals.add(line)
        account.finish()
    assert account.opening is not None and account.lowest is not None
    return MassBalanceReport(
        party=party,
        product=prod.name,
        scheme=scheme,
        period=period,
        reference_form=prod.reference_form,
        opening=account.opening,
        totals=totals,
        closing=account.closing,
        lowest=account.lowest,
        deficits=tuple(account.deficits),
        lines=tuple(lines),
        factors=_factors(prod, (line.form for line in lines)),
        tables_digest=rules.digest,
    )


def _line(
    flow: Flow, product: Product, scheme: str, certs: CertificateBook, account: _Account
) -> LedgerLine:
    reference = _reference_kg(product, flow)
    if flow.voided_by is not None:
        certified: bool | None = None
        reason: str | None = f"voided by {flow.voided_by}: never counts"
        note = cert = None
        delta = ZERO
    else:
        certified, reason, note, cert = _judge(flow, scheme, product.name, certs)
        delta = ZERO
        if certified and flow.direction == "in":
            delta = reference
        elif certified and flow.direction == "out":
            delta = -reference
    if delta or flow.time >= account.period.start_utc:
        account.apply(
            flow.time, flow.event, delta, claimed_out=bool(certified) and flow.direction == "out"
        )
    return LedgerLine(
        time=flow.time,
        signed_time=flow.signed_time.isoformat(),
        event=flow.event,
        index=flow.index,
        type=flow.type,
        direction=flow.direction,
        counterparty=flow.counterparty,
        lot=flow.lot,
        quantity=flow.quantity,
        unit=flow.unit,
        kg=flow.kg,
        form=flow.form,
        factor=product.conversion_factor(flow.form),
        reference_kg=reference,
        certified=certified,
        counts=flow.voided_by is None,
        reason=reason,
        note=note,
        certified_delta=delta,
        balance=account.balance,
        shipment=flow.shipment,
        certificate=cert.id if cert else None,
        certificate_event=cert.event if cert else None,
    )


# --- the ledger-wide sweep ------------------------------------------------------------------


@dataclass(frozen=True)
class SweepEntry:
    party: str
    product: str
    scheme: str
    opening: Decimal
    certified_in: Decimal
    certified_out: Decimal
    closing: Decimal
    lowest: Decimal
    deficits: tuple[Deficit, ...]

    @property
    def in_deficit(self) -> bool:
        return bool(self.deficits)

    @property
    def oversold_kg(self) -> Decimal:
        return max((d.deepest_kg for d in self.deficits), default=ZERO)

    def to_dict(self) -> dict[str, Any]:
        return {
            "party": self.party,
            "product": self.product,
            "scheme": self.scheme,
            "opening_balance": str(self.opening),
            "certified_in": str(self.certified_in),
            "certified_out": str(self.certified_out),
            "closing_balance": str(self.closing),
            "lowest_balance": str(self.lowest),
            "in_deficit": self.in_deficit,
            "oversold_kg": str(self.oversold_kg),
            "deficits": [d.to_dict() for d in self.deficits],
        }


@dataclass(frozen=True)
class SweepReport:
    period: Period
    entries: tuple[SweepEntry, ...]
    """Every (party, product, scheme) with a certified flow up to the period's end."""
    events: int
    tables_digest: str

    @property
    def in_deficit(self) -> tuple[SweepEntry, ...]:
        return tuple(e for e in self.entries if e.in_deficit)

    def __bool__(self) -> bool:
        return not self.in_deficit

    def to_dict(self, *, all_entries: bool = False) -> dict[str, Any]:
        return {
            "period": self.period.to_dict(),
            "checked": len(self.entries),
            "events_read": self.events,
            "in_deficit": [e.to_dict() for e in self.in_deficit],
            **({"entries": [e.to_dict() for e in self.entries]} if all_entries else {}),
            "tables_digest": self.tables_digest,
            "rounding": ROUNDING,
        }


def sweep(store: Store, period: Period, *, rules: RuleTables | None = None) -> SweepReport:
    """Every party, product and scheme over ``period``; the same accounting as the report.

    One pass over the harvests, receipts and shipments dated before the period's end, in
    time order, keeping one running balance per (party, product, scheme) that has a
    certified flow: a scheme enters through a claimed shipment (sent or received) or the
    party's own certificate for a harvest. Transforms and disposals are neutral for the
    certified balance, so the sweep does not read them.
    """
    rules = rules or default_tables()
    accounts: dict[tuple[str, str, str], _Account] = {}
    events = 0
    last = -1
    with store.reading() as session:
        certs = CertificateBook(session, preload=True)
        for flow in stream_flows(session, before=period.end_utc, types=SWEEP_TYPES):
            if flow.index != last:
                events, last = events + 1, flow.index
            if flow.voided_by is not None or flow.product not in rules.products:
                continue
            product = rules.products[flow.product]
            schemes = (
                certs.schemes(flow.party, flow.product)
                if flow.type == "harvest"
                else set(flow.claims)
            )
            for scheme in sorted(schemes):
                certified, _reason, _note, _cert = _judge(flow, scheme, flow.product, certs)
                if not certified:
                    continue
                key = (flow.party, flow.product, scheme)
                account = accounts.get(key)
                if account is None:
                    account = accounts[key] = _Account(period)
                ref = _reference_kg(product, flow)
                account.apply(
                    flow.time,
                    flow.event,
                    ref if flow.direction == "in" else -ref,
                    claimed_out=flow.direction == "out",
                )
    entries = []
    for (party, product_name, scheme), account in sorted(accounts.items()):
        account.finish()
        assert account.opening is not None and account.lowest is not None
        entries.append(
            SweepEntry(
                party=party,
                product=product_name,
                scheme=scheme,
                opening=account.opening,
                certified_in=account.certified_in,
                certified_out=account.certified_out,
                closing=account.closing,
                lowest=account.lowest,
                deficits=tuple(account.deficits),
            )
        )
    return SweepReport(period, tuple(entries), events, rules.digest)


def iter_csv_rows(report: MassBalanceReport) -> Iterator[list[str]]:
    """The report's ledger lines as CSV rows, header first."""
    yield list(LedgerLine.CSV_FIELDS)
    for line in report.lines:
        data = line.to_dict()
        yield [
            safe_cell(
                ""
                if data[name] is None
                else str(data[name]).lower()
                if isinstance(data[name], bool)
                else str(data[name])
            )
            for name in LedgerLine.CSV_FIELDS
        ]
