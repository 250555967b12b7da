"""Mass attribution and the origin verdict of a lot, computed from evidence alone.

**Attribution.** A lot's composition is that of the event that created it. A harvest is
100 % itself. A transform's outputs share one mix: each input contributes in proportion
to the kilograms consumed, and each input's own mix comes from the event it was held
through. A ``ship`` passes on the mix of what it took; a ``receive`` that of the shipment.
The mix is computed with exact fractions along every path back to the harvests, so
shares add up to exactly 1.

**Rounding rule.** Fractions are exact (``fractions.Fraction``). For display, kilograms
are rounded to the gram and percentages to 0.01 % by the largest-remainder method, so
the shares always add up to the lot's mass (to the gram) and to 100.00 %. The certified
share alone is rounded *down* (to the gram and to 0.01 %): a claim is never rounded up.

**Verdict.** A share is of certified small-producer origin when it was harvested by a
member enrolled that day in an SPO whose SPP certificate covered the product that day,
on a plot within the small-producer area limit, and every later event on its path was
signed by a party holding a valid SPP certificate (or registration) that day, and no
event on the path was voided. Every failing share lists every reason.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from fractions import Fraction
from typing import Any

from graph.evidence import Evidence, Record, created_lots
from graph.prices import PriceSection, price_section
from ledger.certificates import Certificate, judge
from ledger.errors import LotNotFound
from ledger.tables import Product, RuleTables, default_tables

SCHEME = "SPP"
GRAM = Decimal("0.001")
CENT = Decimal("0.01")
BASIS_POINTS = 10_000


@dataclass(frozen=True, order=True)
class Reason:
    """Why a share is not of certified small-producer origin."""

    code: str  # non-member-source | certificate | oversize-plot | not-enrolled |
    #            uncertified-intermediary | voided-event | broken-link
    message: str
    event: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "event": self.event}


_Key = tuple[str | None, tuple[Reason, ...]]


@dataclass(frozen=True)
class Share:
    """One harvest's part of the lot, with everything that disqualifies it."""

    harvest: str | None
    lot: str | None
    source: str | None
    member: str | None
    plot: str | None
    country: str | None
    harvest_date: str | None
    fraction: Fraction
    kg: Decimal
    percent: Decimal
    reasons: tuple[Reason, ...]

    @property
    def certified(self) -> bool:
        return not self.reasons

    def to_dict(self) -> dict[str, Any]:
        return {
            "harvest_event": self.harvest,
            "harvest_lot": self.lot,
            "source": self.source,
            "member": self.member,
            "plot": self.plot,
            "country": self.country,
            "harvest_date": self.harvest_date,
            "fraction": f"{self.fraction.numerator}/{self.fraction.denominator}",
            "kg": str(self.kg),
            "percent": str(self.percent),
            "certified": self.certified,
            "reasons": [r.to_dict() for r in self.reasons],
        }


@dataclass(frozen=True)
class OriginVerdict:
    """The answer for one lot: its shares, the certified part, and a summary."""

    lot: str
    product: str
    form: str
    kg: Decimal
    shares: tuple[Share, ...]
    certified_fraction: Fraction
    tables_digest: str
    scheme: str = SCHEME
    summary: dict[str, Any] = field(default_factory=dict)
    prices: PriceSection = field(default_factory=PriceSection)
    """What the lot's cooperatives were paid, from disclosed payments (``graph.prices``)."""

    def __bool__(self) -> bool:
        """True only when the whole lot is of certified small-producer origin."""
        return self.certified_fraction == 1

    @property
    def certified_percent(self) -> Decimal:
        return _floor(self.certified_fraction * 100, CENT)

    @property
    def certified_kg(self) -> Decimal:
        return _floor(self.certified_fraction * Fraction(self.kg), GRAM)

    def reasons(self) -> list[Reason]:
        """Every distinct reason, over all shares."""
        return sorted({r for s in self.shares for r in s.reasons})

    def to_dict(self) -> dict[str, Any]:
        out = {
            "lot": self.lot,
            "product": self.product,
            "form": self.form,
            "kg": str(self.kg),
            "scheme": self.scheme,
            "certified": bool(self),
            "certified_fraction": f"{self.certified_fraction.numerator}/"
            f"{self.certified_fraction.denominator}",
            "certified_percent": str(self.certified_percent),
            "certified_kg": str(self.certified_kg),
            "summary": self.summary,
            "shares": [s.to_dict() for s in self.shares],
            "rounding": "exact fractions; kg to the gram and percent to 0.01 by largest"
            " remainder; the certified share rounded down",
            "tables_digest": self.tables_digest,
        }
        if self.prices:  # only where a payment is disclosed: older verdicts keep their form
            out["prices"] = self.prices.to_list()
        return out


def origin_verdict(lot: str, evidence: Evidence, rules: RuleTables | None = None) -> OriginVerdict:
    """Attribute ``lot`` to its harvests and judge each share; raises if ``lot`` is unknown."""
    rules = rules or default_tables()
    creator = evidence.creator(lot)
    if creator is None:
        raise LotNotFound(f"no event in the evidence creates lot {lot!r}")
    line = created_lots(creator)[lot]
    product = rules.product(line.product)
    mix = _Attribution(evidence, product).mix(creator.id, lot)
    lot_kg = line.amount.kg
    shares = _shares(mix, evidence, lot_kg)
    certified = sum((s.fraction for s in shares if s.certified), Fraction(0))
    return OriginVerdict(
        lot=lot,
        product=product.name,
        form=line.form,
        kg=lot_kg,
        shares=tuple(shares),
        certified_fraction=certified,
        tables_digest=rules.digest,
        summary=_summary(shares, lot_kg, certified),
        prices=price_section(lot, evidence, rules),
    )


class _Attribution:
    def __init__(self, evidence: Evidence, product: Product) -> None:
        self.evidence = evidence
        self.product = product
        self.parties = evidence.parties()
        self.members = evidence.members()
        self.voided = evidence.voided()
        self.certs: dict[str, list[Certificate]] = defaultdict(list)
        for cert in evidence.certificates():
            if cert.scheme == SCHEME and product.name in cert.products:
                self.certs[cert.subject].append(cert)
        self._memo: dict[tuple[str, str], dict[_Key, Fraction]] = {}

    def mix(self, event_id: str, lot: str) -> dict[_Key, Fraction]:
        key = (event_id, lot)
        if key not in self._memo:
            self._memo[key] = self._mix(event_id, lot)
        return self._memo[key]

    def _mix(self, event_id: str, lot: str) -> dict[_Key, Fraction]:
        record = self.evidence.get(event_id)
        if record is None:
            reason = Reason("broken-link", f"event {event_id} (for lot {lot}) is missing", event_id)
            return {(None, (reason,)): Fraction(1)}
        own: list[Reason] = []
        if record.id in self.voided:
            own.append(
                Reason(
                    "voided-event",
                    f"{record.type} {record.id} was voided by {self.voided[record.id].id}",
                    record.id,
                )
            )
        if record.type == "harvest":
            base: dict[_Key, Fraction] = {(record.id, ()): Fraction(1)}
            own.extend(self._harvest_reasons(record))
        else:
            problem = self._certificate_problem(record.party, record)
            if problem:
                own.append(Reason("uncertified-intermediary", problem, record.id))
            base = self._inherited(record, lot)
        if not own:
            return base
        out: dict[_Key, Fraction] = defaultdict(Fraction)
        for (harvest, reasons), fraction in base.items():
            out[(harvest, tuple(sorted(set(reasons) | set(own))))] += fraction
        return dict(out)

    def _inherited(self, record: Record, lot: str) -> dict[_Key, Fraction]:
        refs = self.evidence.references(record)
        if record.type != "transform":
            refs = [r for r in refs if r.lot == lot]
        total = sum((Fraction(r.kg) for r in refs), Fraction(0))
        out: dict[_Key, Fraction] = defaultdict(Fraction)
        if total == 0:
            reason = Reason("broken-link", f"{record.type} {record.id} carries no {lot}", record.id)
            return {(None, (reason,)): Fraction(1)}
        for ref in refs:
            weight = Fraction(ref.kg) / total
            for key, fraction in self.mix(ref.parent, ref.lot).items():
                out[key] += weight * fraction
        return dict(out)

    def _harvest_reasons(self, record: Record) -> list[Reason]:
        body, day = record.typed, record.day
        source = self.parties.get(record.party)
        member_id = body.member
        if source is None or "spo" not in source.roles or member_id is None:
            roles = ", ".join(sorted(source.roles)) if source else "unregistered"
            return [
                Reason(
                    "non-member-source",
                    f"harvested by {record.party} ({roles}) itself, not delivered by"
                    " a member of a small producers' organization",
                    record.id,
                )
            ]
        reasons = []
        member = self.members.get(member_id)
        if member is None or member.spo != record.party:
            reasons.append(
                Reason(
                    "not-enrolled",
                    f"member {member_id} is not enrolled in {record.party}",
                    record.id,
                )
            )
        else:
            if day < member.since or (member.until is not None and day > member.until):
                reasons.append(
                    Reason(
                        "not-enrolled",
                        f"member {member_id} was not enrolled in {record.party} on {day}",
                        record.id,
                    )
                )
            area = member.plots.get(body.plot or "")
            limit = self.product.area_limit_ha
            if area is None:
                reasons.append(
                    Reason(
                        "not-enrolled",
                        f"plot {body.plot} is not a plot of member {member_id}",
                        record.id,
                    )
                )
            elif limit is not None and area > limit:
                reasons.append(
                    Reason(
                        "oversize-plot",
                        f"plot {body.plot} is {area} ha, above the"
                        f" small-producer limit of {limit} ha for"
                        f" {self.product.name}",
                        record.id,
                    )
                )
        problem = self._certificate_problem(record.party, record)
        if problem:
            reasons.append(Reason("certificate", problem, record.id))
        return reasons

    def _certificate_problem(self, party: str, record: Record) -> str | None:
        """None when ``party`` held a valid SPP certificate for the product at ``record``."""
        return judge(
            self.certs.get(party, []),
            subject=party,
            scheme=SCHEME,
            product=self.product.name,
            when=record.time,
            what=f"the {record.type}",
        ).reason


def _shares(mix: dict[_Key, Fraction], evidence: Evidence, lot_kg: Decimal) -> list[Share]:
    parties = evidence.parties()
    ordered = sorted(mix.items(), key=lambda kv: (-kv[1], kv[0][0] or "", kv[0][1]))
    fractions = [f for _, f in ordered]
    grams = _largest_remainder(fractions, int((lot_kg / GRAM).to_integral_value()))
    basis = _largest_remainder(fractions, BASIS_POINTS)
    out = []
    for ((harvest_id, reasons), fraction), g, bp in zip(ordered, grams, basis, strict=True):
        record = evidence.get(harvest_id) if harvest_id else None
        body = record.typed if record else None
        source = record.party if record else None
        out.append(
            Share(
                harvest=harvest_id,
                lot=body.lot if body else None,
                source=source,
                member=body.member if body else None,
                plot=body.plot if body else None,
                country=parties[source].country if source in parties else None,
                harvest_date=record.day.isoformat() if record else None,
                fraction=fraction,
                kg=Decimal(g) * GRAM,
                percent=(Decimal(bp) / 100).quantize(CENT),
                reasons=reasons,
            )
        )
    return out


def _largest_remainder(fractions: list[Fraction], units: int) -> list[int]:
    """Integer parts of ``f × units`` that add up to ``units`` (ties: earlier first)."""
    exact = [f * units for f in fractions]
    floors = [int(e) for e in exact]
    left = units - sum(floors)
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[: max(left, 0)]:
        floors[i] += 1
    return floors


def _floor(value: Fraction, quantum: Decimal) -> Decimal:
    units = value / Fraction(quantum)
    return (Decimal(units.numerator // units.denominator) * quantum).quantize(
        quantum, rounding=ROUND_FLOOR
    )


def _summary(shares: list[Share], lot_kg: Decimal, certified: Fraction) -> dict[str, Any]:
    known = [s for s in shares if s.harvest]
    spos = sorted({s.source for s in known if s.member and s.source})
    dates = sorted(s.harvest_date for s in known if s.harvest_date)
    return {
        "certified_percent": str(_floor(certified * 100, CENT)),
        "certified_kg": str(_floor(certified * Fraction(lot_kg), GRAM)),
        "spos": spos,
        "members": len({s.member for s in known if s.member}),
        "plots": len({s.plot for s in known if s.plot}),
        "harvests": len({s.harvest for s in known}),
        "countries": sorted({s.country for s in known if s.country}),
        "harvest_from": dates[0] if dates else None,
        "harvest_until": dates[-1] if dates else None,
        "reasons": sorted({r.code for s in shares for r in s.reasons}),
    }
