"""EUDR readiness of a lot and its due-diligence exports, from its attribution.

Regulation (EU) 2023/1115 (as amended by 2025/2650) requires the operator who first
places coffee or cocoa on the EU market to file a due diligence statement (DDS) with the
geolocation of every plot the goods came from: a point for a plot under 4 ha, a polygon
from 4 ha, coordinates to at least 6 decimals; goods of unknown origin may not be mixed
in. Downstream traders keep the reference numbers of the statements filed upstream.

**Readiness** is computed from the origin attribution (:func:`graph.origin.origin_verdict`):
every share of the lot must come from a harvest that names its plot, and that plot must
have a current ``plot.map`` whose geometry is valid for the plot's enrolled area
(:mod:`ledger.geometry`). A share with a broken or voided custody link, a harvest naming
no plot, or a plot never mapped is named with its problem; any such share makes the
lot not EUDR-ready, whatever its size (no mixing). SPP certification is not part of
this judgement: the EUDR asks where goods grew, not who certified them.

What is *not* computed here: whether the plots were deforested after the cut-off date
(31 December 2020). That is the operator's risk assessment against satellite data;
trazo gives it the geolocation, and for each plot the date since which its producer
has been an enrolled member of the SPO (supporting evidence of land use, not proof).

**Statement references upstream** travel on ``ship`` events as a business transaction
of type ``eudr-dds``. Its ``id`` carries the DDS reference number and verification
number joined by a colon: ``{"type": "eudr-dds", "id": "25PEXW2QF3A1:KZ9T4R2M"}``
(TRACES issues both as letters and digits, so the colon is unambiguous). An ``id``
without a colon is a reference number whose verification number is missing; it is
listed with that problem, as is any ``id`` that is not of this shape.

**Privacy.** :func:`feature_collection` is the one place in trazo that writes full
plot geometry (the operator filing the statement needs it). It carries plot ids, areas,
the SPO's name and the producer country: no member ids and no personal data.
:meth:`EudrReport.to_dict` carries no coordinates at all.

:func:`eudr_report` is pure (evidence in, report out); :func:`lot_eudr` reads what it
needs from a store.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_FLOOR, Decimal
from fractions import Fraction
from typing import Any

from graph.evidence import Evidence, Record
from graph.origin import Share, origin_verdict
from ledger import geometry
from ledger.geometry import Geometry, GeometryError
from ledger.store import Store
from ledger.tables import RuleTables

CUTOFF = date(2020, 12, 31)
DDS_TRANSACTION = "eudr-dds"
_DDS_PART = re.compile(r"[A-Za-z0-9]{1,64}")
MIN_DECIMALS = 6
CENT = Decimal("0.01")

HS_CODES: Mapping[str, Mapping[str, tuple[str, str]]] = {
    "coffee": {
        "cherry": ("0901", "Coffee, not roasted (fresh cherry)"),
        "dried-cherry": ("0901", "Coffee, not roasted (dried cherry)"),
        "parchment": ("0901", "Coffee, not roasted (parchment)"),
        "green": ("090111", "Coffee, not roasted, not decaffeinated"),
        "roasted": ("090121", "Coffee, roasted, not decaffeinated"),
        "packed": ("090121", "Coffee, roasted, not decaffeinated"),
    },
    "cacao": {
        "wet-beans": ("1801", "Cocoa beans, whole or broken, raw"),
        "dry-beans": ("1801", "Cocoa beans, whole or broken, raw"),
    },
}
"""EUDR Annex I headings per product and form (HS 2022). Products absent here (honey,
sugar, panela) are outside the regulation's scope."""


# --- inputs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlotMap:
    """The current ``plot.map`` of a plot: its signed geometry and the event that states it."""

    plot: str
    spo: str
    event: str
    method: str
    raw: dict[str, Any]

    @classmethod
    def from_record(cls, record: Record) -> PlotMap:
        body = record.typed
        return cls(
            plot=body.plot, spo=record.party, event=record.id, method=body.method, raw=body.geojson
        )


# --- the report -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """Why a share has no complete geolocation (any of these blocks readiness)."""

    code: str  # broken-link | voided-event | no-plot | unmapped | invalid-geometry
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class EudrShare:
    share: Share
    plot_map: PlotMap | None
    geometry: Geometry | None
    area_ha: Decimal | None
    problem: Problem | None

    @property
    def geolocated(self) -> bool:
        return self.problem is None

    def to_dict(self) -> dict[str, Any]:
        s = self.share
        return {
            "harvest_event": s.harvest,
            "harvest_lot": s.lot,
            "source": s.source,
            "plot": s.plot,
            "country": s.country,
            "harvest_date": s.harvest_date,
            "kg": str(s.kg),
            "percent": str(s.percent),
            "geolocated": self.geolocated,
            "plot_map_event": self.plot_map.event if self.plot_map else None,
            "problem": self.problem.to_dict() if self.problem else None,
        }


@dataclass(frozen=True)
class Statement:
    """A due diligence statement referenced on an upstream ``ship`` event."""

    reference: str
    verification: str | None
    ship_event: str
    shipper: str
    receiver: str
    date: str
    lots: tuple[str, ...]
    problem: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "verification": self.verification,
            "ship_event": self.ship_event,
            "shipper": self.shipper,
            "receiver": self.receiver,
            "date": self.date,
            "lots": list(self.lots),
            "problem": self.problem,
        }


@dataclass(frozen=True)
class PartyRef:
    id: str
    name: str | None
    country: str | None
    roles: tuple[str, ...]
    identifiers: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "country": self.country,
            "roles": list(self.roles),
            "identifiers": self.identifiers,
        }


@dataclass(frozen=True)
class Customer:
    party: PartyRef
    ship_event: str
    date: str
    kg: Decimal

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.party.to_dict(),
            "ship_event": self.ship_event,
            "date": self.date,
            "kg": str(self.kg),
        }


@dataclass(frozen=True)
class EudrReport:
    """A lot's EUDR readiness and due-diligence data; true only when it is ready."""

    lot: str
    product: str
    form: str
    kg: Decimal
    holder: str
    shares: tuple[EudrShare, ...]
    producers: tuple[PartyRef, ...]
    suppliers: tuple[PartyRef, ...]
    customers: tuple[Customer, ...]
    statements: tuple[Statement, ...]
    areas: Mapping[str, Decimal]
    countries: Mapping[str, str]
    member_since: Mapping[str, str]

    def __bool__(self) -> bool:
        return self.ready

    @property
    def ready(self) -> bool:
        return bool(self.shares) and all(s.geolocated for s in self.shares)

    @property
    def in_scope(self) -> bool:
        return self.product in HS_CODES

    @property
    def hs_code(self) -> tuple[str, str] | None:
        return HS_CODES.get(self.product, {}).get(self.form)

    @property
    def geolocated_fraction(self) -> Fraction:
        return sum((s.share.fraction for s in self.shares if s.geolocated), Fraction(0))

    @property
    def geolocated_percent(self) -> Decimal:
        """Rounded down to 0.01 %: a readiness figure is never rounded up."""
        units = self.geolocated_fraction * 10_000
        return (Decimal(units.numerator // units.denominator) / 100).quantize(
            CENT, rounding=ROUND_FLOOR
        )

    def not_geolocated(self) -> list[EudrShare]:
        return [s for s in self.shares if not s.geolocated]

    def plots(self) -> list[tuple[str, list[EudrShare]]]:
        """Each geolocated plot once, with the shares harvested on it (plot id order)."""
        out: dict[str, list[EudrShare]] = {}
        for s in self.shares:
            if s.geolocated and s.share.plot:
                out.setdefault(s.share.plot, []).append(s)
        return sorted(out.items())

    def harvest_period(self) -> tuple[str | None, str | None]:
        dates = sorted(s.share.harvest_date for s in self.shares if s.share.harvest_date)
        return (dates[0], dates[-1]) if dates else (None, None)

    def warnings(self) -> list[str]:
        """What does not block readiness but the filer should see."""
        out = []
        if not self.in_scope:
            out.append(
                f"{self.product} is not a commodity of EUDR Annex I: no due"
                " diligence statement is required"
            )
        for plot, shares in self.plots():
            g = shares[0].geometry
            if g is None:
                continue
            if geometry.decimals(g) < MIN_DECIMALS:
                out.append(
                    f"plot {plot}: coordinates are signed with"
                    f" {geometry.decimals(g)} decimals; the EUDR asks for at least"
                    f" {MIN_DECIMALS} decimals (the export pads them with zeros,"
                    " which adds no precision): map it again"
                )
            if any(len(polygon) > 1 for polygon in g.polygons):
                out.append(
                    f"plot {plot}: its polygon has a hole; the EU information"
                    " system does not accept holes (split it into two polygons)"
                )
        for st in self.statements:
            if st.problem:
                out.append(f"statement {st.reference} on {st.ship_event}: {st.problem}")
        return out

    def to_dict(self) -> dict[str, Any]:
        first, last = self.harvest_period()
        hs = self.hs_code
        plots = []
        for plot, shares in self.plots():
            g, pm = shares[0].geometry, shares[0].plot_map
            plots.append(
                {
                    "plot": plot,
                    "spo": shares[0].share.source,
                    "country": self.countries.get(plot),
                    "area_ha": str(self.areas[plot]),
                    "geometry_type": g.type if g else None,
                    "method": pm.method if pm else None,
                    "plot_map_event": pm.event if pm else None,
                    "member_since": self.member_since.get(plot),
                    "member_since_before_cutoff": (
                        self.member_since.get(plot, "9999") <= CUTOFF.isoformat()
                    ),
                    "kg": str(sum((s.share.kg for s in shares), Decimal(0))),
                    "percent": str(sum((s.share.percent for s in shares), Decimal(0))),
                }
            )
        return {
            "lot": self.lot,
            "eudr_ready": self.ready,
            "commodity": self.product,
            "form": self.form,
            "in_scope": self.in_scope,
            "hs_code": hs[0] if hs else None,
            "hs_description": hs[1] if hs else None,
            "quantity": {"net_mass_kg": str(self.kg)},
            "holder": self.holder,
            "geolocated_percent": str(self.geolocated_percent),
            "geolocated_fraction": f"{self.geolocated_fraction.numerator}/"
            f"{self.geolocated_fraction.denominator}",
            "countries_of_production": sorted({c for c in self.countries.values()}),
            "harvest_period": {"from": first, "until": last},
            "cutoff_date": CUTOFF.isoformat(),
            "plots": plots,
            "not_geolocated": [s.to_dict() for s in self.not_geolocated()],
            "shares": [s.to_dict() for s in self.shares],
            "producers": [p.to_dict() for p in self.producers],
            "suppliers": [p.to_dict() for p in self.suppliers],
            "customers": [c.to_dict() for c in self.customers],
            "upstream_statements": [s.to_dict() for s in self.statements],
            "warnings": self.warnings(),
            "notes": [
                "Readiness means every share of the lot has a harvest naming its plot and a"
                " current, valid plot.map for that plot; any other share blocks it (no"
                " mixing). Deforestation after the cut-off date is not assessed here.",
                "Statement references are read from upstream ship transactions of type"
                " eudr-dds, id = '<reference number>:<verification number>'.",
            ],
        }


# --- computing it ---------------------------------------------------------------------------


def eudr_report(
    lot: str,
    evidence: Evidence,
    maps: Mapping[str, PlotMap],
    *,
    downstream: Evidence | None = None,
    rules: RuleTables | None = None,
) -> EudrReport:
    """The EUDR report of ``lot`` from its upstream evidence and its plots' current maps.

    ``maps`` holds the current ``plot.map`` per plot (plot id → map); ``downstream``,
    the lot's downstream evidence, names its customers. Raises
    :class:`ledger.errors.LotNotFound` if no event in ``evidence`` creates ``lot``.
    """
    verdict = origin_verdict(lot, evidence, rules)
    creator = evidence.creator(lot)
    assert creator is not None  # origin_verdict raised otherwise
    members = evidence.members()
    areas = {plot: area for m in members.values() for plot, area in m.plots.items()}
    since = {plot: m.since.isoformat() for m in members.values() for plot in m.plots}
    checked: dict[str, Geometry | GeometryError] = {}  # one validation per plot.map
    shares = tuple(_judge(s, maps, areas, checked) for s in verdict.shares)
    mapped = [s for s in shares if s.geolocated and s.share.plot]
    parties = _PartyIndex(evidence, downstream)
    producers = sorted({s.share.source for s in shares if s.share.source})
    return EudrReport(
        lot=lot,
        product=verdict.product,
        form=verdict.form,
        kg=verdict.kg,
        holder=creator.party,
        shares=shares,
        producers=tuple(parties.ref(p) for p in producers),
        suppliers=tuple(parties.ref(p) for p in _suppliers(evidence, creator.party)),
        customers=tuple(_customers(lot, downstream, parties)) if downstream else (),
        statements=tuple(_statements(evidence)),
        areas={s.share.plot: areas[s.share.plot] for s in mapped if s.share.plot},
        countries={s.share.plot: s.share.country or "" for s in mapped if s.share.plot},
        member_since={s.share.plot: since[s.share.plot] for s in mapped if s.share.plot in since},
    )


def _judge(
    share: Share,
    maps: Mapping[str, PlotMap],
    areas: Mapping[str, Decimal],
    checked: dict[str, Geometry | GeometryError],
) -> EudrShare:
    def blocked(code: str, message: str) -> EudrShare:
        return EudrShare(share, None, None, None, Problem(code, message))

    codes = {r.code for r in share.reasons}
    if share.harvest is None or "broken-link" in codes:
        return blocked(
            "broken-link",
            "origin unknown: "
            + "; ".join(r.message for r in share.reasons if r.code == "broken-link"),
        )
    if "voided-event" in codes:
        return blocked(
            "voided-event",
            "origin in doubt: "
            + "; ".join(r.message for r in share.reasons if r.code == "voided-event"),
        )
    if not share.plot:
        return blocked(
            "no-plot",
            f"harvest {share.harvest} ({share.lot}) by {share.source}"
            " names no plot: the place of production is unknown",
        )
    area = areas.get(share.plot)
    if area is None:
        return blocked(
            "no-plot",
            f"plot {share.plot} of harvest {share.harvest} is not"
            f" an enrolled plot of {share.source}",
        )
    plot_map = maps.get(share.plot)
    if plot_map is None or plot_map.spo != share.source:
        return EudrShare(
            share,
            None,
            None,
            area,
            Problem(
                "unmapped",
                f"plot {share.plot} ({share.source}, {area} ha, harvest"
                f" {share.lot}) has no plot.map: its geolocation is missing",
            ),
        )
    if plot_map.event not in checked:  # several shares may come from one plot
        try:
            parsed = geometry.parse_geometry(plot_map.raw)
            geometry.check_area(parsed, area)
            checked[plot_map.event] = parsed
        except GeometryError as e:
            checked[plot_map.event] = e
    result = checked[plot_map.event]
    if isinstance(result, GeometryError):
        return EudrShare(
            share,
            plot_map,
            None,
            area,
            Problem(
                "invalid-geometry",
                f"plot {share.plot}: the geometry of {plot_map.event} is"
                f" not valid: {result.message} ({result.field})",
            ),
        )
    return EudrShare(share, plot_map, result, area, None)


class _PartyIndex:
    def __init__(self, *evidence: Evidence | None) -> None:
        self.records: dict[str, Record] = {}
        for ev in evidence:
            if ev is not None:
                for r, body in ev.typed("party.register"):
                    self.records[body.subject] = r

    def ref(self, party: str) -> PartyRef:
        record = self.records.get(party)
        if record is None:
            return PartyRef(party, None, None, (), {})
        body = record.typed
        return PartyRef(
            party,
            body.name,
            body.country,
            tuple(sorted(body.roles)),
            dict(sorted(body.identifiers.items())),
        )


def _suppliers(evidence: Evidence, holder: str) -> list[str]:
    """Parties that shipped goods in the lot's ancestry to its holder (EUDR Art. 9(1)(e))."""
    return sorted({r.party for r, ship in evidence.typed("ship") if ship.to == holder})


def _customers(lot: str, downstream: Evidence, parties: _PartyIndex) -> list[Customer]:
    """Parties the lot itself was shipped to (EUDR Art. 9(1)(f)), in ledger order."""
    out = []
    for r in downstream.of_type("ship"):
        kg = sum((line.amount.kg for line in r.typed.lots if line.lot == lot), Decimal(0))
        if kg:
            out.append(Customer(parties.ref(r.typed.to), r.id, r.day.isoformat(), kg))
    return out


def parse_dds(value: str) -> tuple[str, str | None, str | None]:
    """``"REF:VER"`` → (reference, verification, problem); see the module docstring."""
    reference, colon, verification = value.partition(":")
    if not _DDS_PART.fullmatch(reference):
        return (
            value,
            None,
            (
                "not a DDS reference number (letters and digits, then ':'"
                " and the verification number)"
            ),
        )
    if not colon:
        return reference, None, "no verification number (write REFERENCE:VERIFICATION)"
    if not _DDS_PART.fullmatch(verification):
        return reference, None, f"verification number {verification!r} is not letters and digits"
    return reference, verification, None


def _statements(evidence: Evidence) -> list[Statement]:
    voided = evidence.voided()
    out: dict[tuple[str, str | None, str], Statement] = {}
    for r, ship in evidence.typed("ship"):
        if r.id in voided:
            continue
        for item in ship.transactions:
            if item.type != DDS_TRANSACTION:
                continue
            reference, verification, problem = parse_dds(item.id)
            lots = tuple(sorted({line.lot for line in ship.lots}))
            out.setdefault(
                (reference, verification, r.id),
                Statement(
                    reference,
                    verification,
                    r.id,
                    r.party,
                    ship.to,
                    r.day.isoformat(),
                    lots,
                    problem,
                ),
            )
    return list(out.values())


# --- GeoJSON for the EU information system ---------------------------------------------------


def feature_collection(report: EudrReport, producer_names: bool = True) -> dict[str, Any]:
    """The contributing plots as a GeoJSON FeatureCollection (RFC 7946) for TRACES upload.

    One feature per geolocated plot, with the EU file description's properties:
    ``ProducerName`` (the SPO's registered name: an organization, not a person),
    ``ProducerCountry`` (ISO 3166-1 alpha-2), ``ProductionPlace`` (the plot id) and
    ``Area`` (enrolled hectares, a number). Coordinates are ``Decimal`` with at least
    6 decimals; write the result with :func:`dumps` so they stay JSON numbers with
    every decimal.
    """
    names = {p.id: p.name for p in report.producers}
    features = []
    for plot, shares in report.plots():
        g = shares[0].geometry
        assert g is not None
        spo = shares[0].share.source or ""
        properties: dict[str, Any] = {}
        if producer_names and names.get(spo):
            properties["ProducerName"] = names[spo]
        properties.update(
            ProducerCountry=report.countries.get(plot),
            ProductionPlace=plot,
            Area=report.areas[plot],
        )
        features.append(
            {"type": "Feature", "geometry": _geojson_geometry(g), "properties": properties}
        )
    return {"type": "FeatureCollection", "features": features}


def _padded(value: Decimal) -> Decimal:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return value.quantize(Decimal(1).scaleb(-MIN_DECIMALS)) if -exponent < MIN_DECIMALS else value


def _geojson_geometry(g: Geometry) -> dict[str, Any]:
    def pos(p: geometry.Position) -> list[Decimal]:
        return [_padded(p[0]), _padded(p[1])]

    if g.point is not None:
        return {"type": "Point", "coordinates": pos(g.point)}
    polygons = [[[pos(p) for p in ring] for ring in polygon] for polygon in g.polygons]
    if g.type == "Polygon":
        return {"type": "Polygon", "coordinates": polygons[0]}
    return {"type": "MultiPolygon", "coordinates": polygons}


def dumps(value: Any, indent: int | None = None) -> str:
    """JSON text in which a ``Decimal`` is written as a number with all its digits."""
    return _Writer(indent).write(value, 0)


class _Writer:
    def __init__(self, indent: int | None) -> None:
        self.indent = indent

    def write(self, value: Any, depth: int) -> str:
        if isinstance(value, Decimal):
            return format(value, "f")
        if isinstance(value, dict):
            items = [f"{json.dumps(str(k))}: {self.write(v, depth + 1)}" for k, v in value.items()]
            return self._wrap("{", "}", items, depth)
        if isinstance(value, list | tuple):
            if all(isinstance(v, Decimal) for v in value):
                return "[" + ", ".join(self.write(v, depth + 1) for v in value) + "]"
            return self._wrap("[", "]", [self.write(v, depth + 1) for v in value], depth)
        return json.dumps(value)

    def _wrap(self, open_: str, close: str, items: list[str], depth: int) -> str:
        if not items:
            return open_ + close
        if self.indent is None:
            return open_ + ", ".join(items) + close
        pad = "\n" + " " * (self.indent * (depth + 1))
        return open_ + pad + ("," + pad).join(items) + "\n" + " " * (self.indent * depth) + close


# --- reading from a store --------------------------------------------------------------------


def current_maps(store: Store, plots: Iterable[str]) -> dict[str, PlotMap]:
    """The current ``plot.map`` of each plot, read from its signed event (not the projection)."""
    from graph.ancestry import load_events, to_evidence
    from ledger.schema import PlotRow

    with store.reading() as session:
        ids = {}
        for plot in sorted(set(plots)):
            row = session.get(PlotRow, plot)
            if row is not None and row.map_event:
                ids[row.map_event] = plot
        evidence = to_evidence(load_events(session, ids))
    out = {}
    for record, body in evidence.typed("plot.map"):
        if body.plot == ids.get(record.id):
            out[body.plot] = PlotMap.from_record(record)
    return out


def lot_eudr(store: Store, lot: str, *, seen_by: frozenset[str] | None = None) -> EudrReport:
    """The EUDR report of ``lot`` in ``store``; raises ``LotNotFound`` for an unknown lot.

    ``seen_by``: the parties whose data the reader sees; customers are then only those of
    shipments signed by or addressed to one of them (None: every customer)."""
    from graph.ancestry import gather

    upstream = gather(store, lot)
    downstream = gather(store, lot, direction="downstream")
    if seen_by is not None:
        downstream = downstream.only(
            lambda r: r.type != "ship" or r.party in seen_by or r.body.get("to") in seen_by
        )
    plots = {body.plot for _, body in upstream.typed("harvest") if body.plot}
    return eudr_report(lot, upstream, current_maps(store, plots), downstream=downstream)
