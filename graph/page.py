"""The page model: everything a lot's public page says, computed from the ledger.

``page_model`` assembles it from the lot's origin verdict, its evidence and the store;
``api.pages`` renders it (HTML, JSON-LD, the static files of ``trazo publish``) and
queries nothing itself. Everything here is for the public, so it follows the privacy
rule of DESIGN.md: members appear only as counts, and a plot's location only as a cell
of 0.1° (about 10 km) shared with every other plot in it — never an exact coordinate,
never a member or plot id.
"""

from __future__ import annotations

import heapq
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

import networkx as nx
from sqlalchemy import select

from graph.ancestry import gather
from graph.evidence import CUSTODY_TYPES, Evidence, PartyFacts, Record
from graph.origin import OriginVerdict, origin_verdict
from graph.prices import PriceFigures
from ledger.errors import NotPublished
from ledger.log import latest_checkpoint
from ledger.schema import PlotRow
from ledger.store import Store

CELL = Decimal("0.1")
"""Public positions are rounded to 0.1° (about 11 km north–south): never finer."""

_CHUNK = 500


@dataclass(frozen=True)
class Party:
    id: str
    name: str
    country: str
    spo: bool


@dataclass(frozen=True)
class Shortfall:
    """Part of the lot that is not of certified small-producer origin, and why."""

    code: str
    percent: Decimal


@dataclass(frozen=True)
class Step:
    """One step of the journey, grouping the events of one kind by one party."""

    kind: str  # harvest | process | export | import | transfer
    party: Party
    first: date
    last: date
    events: int
    process: str | None = None
    other: Party | None = None
    members: int = 0
    areas: int = 0
    order: int = 0
    """Ledger index of the step's first event: the causal order of the steps."""


@dataclass(frozen=True)
class Area:
    """A cell of 0.1° where plots of this lot lie; counts only."""

    country: str
    lat: Decimal
    lon: Decimal
    plots: int
    members: int


@dataclass(frozen=True)
class Origin:
    """One country of origin: its organizations, member families, plots and areas."""

    country: str
    spos: tuple[Party, ...]
    members: int
    plots: int
    areas: tuple[Area, ...]
    unmapped_plots: int
    other_sources: tuple[Party, ...] = ()


@dataclass(frozen=True)
class Certificate:
    id: str
    scheme: str
    holder: Party
    issuer: str
    valid_from: date
    valid_until: date
    revoked_on: date | None
    status: str  # valid | expired | revoked | future, on the day the lot was made


@dataclass(frozen=True)
class FlowNode:
    id: str
    label: str
    layer: int
    value: Fraction
    kind: str  # source | party | lot
    certified: Fraction = Fraction(0)


@dataclass(frozen=True)
class FlowLink:
    source: str
    target: str
    value: Fraction


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: str
    note: str


@dataclass(frozen=True)
class PricePanel:
    """One cooperative's disclosed price figures, as the origin verdict computed them."""

    spo: Party
    figures: PriceFigures


@dataclass(frozen=True)
class Package:
    """A lot packed in retail units: one unit's net content, and how many units there are."""

    kg: Decimal
    units: int
    certified_kg: Decimal
    """What of one unit is of certified small-producer origin, rounded down to 0.1 g."""


@dataclass(frozen=True)
class Season:
    """When one source's harvests in this lot were delivered."""

    party: Party
    first: date
    last: date


@dataclass(frozen=True)
class PageModel:
    """Everything the public page of a lot says, with no personal data in it."""

    lot: str
    product: str
    form: str
    kg: Decimal
    brand: Party
    certified: bool
    certified_percent: Decimal
    certified_kg: Decimal
    shortfalls: tuple[Shortfall, ...]
    members: int
    plots: int
    spos: tuple[Party, ...]
    countries: tuple[str, ...]
    harvest_from: date | None
    harvest_until: date | None
    steps: tuple[Step, ...]
    origins: tuple[Origin, ...]
    certificates: tuple[Certificate, ...]
    flow_nodes: tuple[FlowNode, ...]
    flow_links: tuple[FlowLink, ...]
    checkpoint: Checkpoint | None
    log_key: str | None
    today: date
    prices: tuple[PricePanel, ...] = ()
    """What the lot's cooperatives were paid, where disclosed (``graph.prices``)."""
    certified_fraction: Fraction = Fraction(0)
    package: Package | None = None
    seasons: tuple[Season, ...] = ()
    tables_digest: str = ""

    @property
    def rest_percent(self) -> Decimal:
        return Decimal(100) - self.certified_percent

    @property
    def tone(self) -> str:
        if self.certified:
            return "full"
        return "partial" if self.certified_percent > 0 else "none"

    @property
    def areas(self) -> int:
        return sum(len(o.areas) for o in self.origins)


def page_model(
    store: Store, lot: str, *, log_key: str | None = None, today: date | None = None
) -> PageModel:
    """The public page of ``lot``; raises ``NotPublished`` when it has none."""
    if not is_published(store, lot):
        raise NotPublished(
            f"no public page: lot {lot!r} is not in the ledger, or was not published (a"
            " `lot.publish` signed by its creator or a holder)"
        )
    evidence = gather(store, lot)
    verdict = origin_verdict(lot, evidence)
    return build_page_model(verdict, evidence, store, log_key=log_key, today=today)


def is_published(store: Store, lot: str) -> bool:
    """Whether ``lot`` is public — a page, JSON-LD, QR codes, a bundle: its creator or a
    holder signed a ``lot.publish`` of it (and did not void it), and the lot itself was
    not voided."""
    from ledger.schema import LotRow, PublicationRow

    with store.reading() as session:
        row = session.get(PublicationRow, lot)
        found = session.get(LotRow, lot) if row is not None else None
        return found is not None and found.voided_by is None


def build_page_model(
    verdict: OriginVerdict,
    evidence: Evidence,
    store: Store,
    *,
    log_key: str | None = None,
    today: date | None = None,
) -> PageModel:
    today = today or date.today()
    parties = _Parties(evidence.parties())
    creator = evidence.creator(verdict.lot)
    assert creator is not None
    known = [s for s in verdict.shares if s.harvest]
    spo_ids = sorted({s.source for s in known if s.member and s.source})
    dates = sorted(date.fromisoformat(s.harvest_date) for s in known if s.harvest_date)
    origins = _origins(verdict, store, parties)
    areas_by_source: dict[str, int] = defaultdict(int)
    for origin in origins:
        for spo in origin.spos:
            areas_by_source[spo.id] = len(origin.areas)
    nodes, links = _flow(verdict, evidence, parties)
    return PageModel(
        lot=verdict.lot,
        product=verdict.product,
        form=verdict.form,
        kg=verdict.kg,
        brand=parties[creator.party],
        certified=bool(verdict),
        certified_percent=verdict.certified_percent,
        certified_kg=verdict.certified_kg,
        shortfalls=_shortfalls(verdict),
        members=len({s.member for s in known if s.member}),
        plots=len({s.plot for s in known if s.plot}),
        spos=tuple(parties[p] for p in spo_ids),
        countries=tuple(sorted({s.country for s in known if s.country})),
        harvest_from=dates[0] if dates else None,
        harvest_until=dates[-1] if dates else None,
        steps=tuple(_journey(evidence, verdict, parties, origins)),
        origins=origins,
        certificates=_certificates(evidence, verdict, parties, creator.day),
        flow_nodes=nodes,
        flow_links=links,
        checkpoint=_checkpoint(store),
        log_key=log_key,
        today=today,
        prices=tuple(PricePanel(parties[f.spo], f) for f in verdict.prices.figures),
        certified_fraction=verdict.certified_fraction,
        package=_package(verdict, creator),
        seasons=_seasons(verdict, parties),
        tables_digest=verdict.tables_digest,
    )


_TENTH_GRAM = Decimal("0.0001")


def _package(verdict: OriginVerdict, creator: Record) -> Package | None:
    """The retail unit of a packed lot, from the ``package`` its creating transform signed."""
    if creator.type != "transform":
        return None
    output = next((o for o in creator.typed.outputs if o.lot == verdict.lot), None)
    if output is None or output.package is None:
        return None
    unit = output.package.kg
    share = verdict.certified_fraction * Fraction(unit) / Fraction(_TENTH_GRAM)
    return Package(
        kg=unit,
        units=int(verdict.kg / unit),
        certified_kg=Decimal(share.numerator // share.denominator) * _TENTH_GRAM,
    )


def _seasons(verdict: OriginVerdict, parties: _Parties) -> tuple[Season, ...]:
    """Each source's own harvest dates: in a blend, each season is credited to its grower."""
    days: dict[str, list[date]] = defaultdict(list)
    for s in verdict.shares:
        if s.harvest and s.source and s.harvest_date:
            days[s.source].append(date.fromisoformat(s.harvest_date))
    return tuple(
        sorted(
            (Season(parties[p], min(d), max(d)) for p, d in days.items()),
            key=lambda s: (not s.party.spo, s.first, s.party.name),
        )
    )


class _Parties:
    def __init__(self, facts: dict[str, PartyFacts]) -> None:
        self.facts = facts

    def __getitem__(self, pid: str) -> Party:
        f = self.facts.get(pid)
        if f is None:
            return Party(pid, pid, "ZZ", False)
        return Party(f.id, f.name, f.country, "spo" in f.roles)


def _shortfalls(verdict: OriginVerdict) -> tuple[Shortfall, ...]:
    by_code: dict[str, Fraction] = defaultdict(Fraction)
    for share in verdict.shares:
        for code in {r.code for r in share.reasons}:
            by_code[code] += share.fraction
    out = [Shortfall(code, _quantize(f * 100, Decimal("0.01"))) for code, f in by_code.items()]
    return tuple(sorted(out, key=lambda s: (-s.percent, s.code)))


def _quantize(value: Fraction, quantum: Decimal) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(
        quantum, rounding=ROUND_HALF_EVEN
    )


def _checkpoint(store: Store) -> Checkpoint | None:
    row = latest_checkpoint(store)
    if row is None:
        return None
    lines = row.note.split("\n")
    return Checkpoint(
        origin=lines[0], size=row.size, root=lines[2] if len(lines) > 2 else "", note=row.note
    )


# --- where it was grown --------------------------------------------------------------


def coarse_position(geometry: dict[str, Any]) -> tuple[Decimal, Decimal] | None:
    """(lat, lon) of a plot's geometry, rounded to the 0.1° cell; None if unreadable."""
    try:
        kind = geometry["type"]
        if kind == "Point":
            points = [geometry["coordinates"]]
        elif kind == "Polygon":
            points = geometry["coordinates"][0][:-1]
        elif kind == "MultiPolygon":
            points = [p for polygon in geometry["coordinates"] for p in polygon[0][:-1]]
        else:
            return None
        lons = [Decimal(str(p[0])) for p in points]
        lats = [Decimal(str(p[1])) for p in points]
    except (KeyError, IndexError, TypeError, ArithmeticError, ValueError):
        return None
    if not points:
        return None
    lat = sum(lats, Decimal(0)) / len(lats)
    lon = sum(lons, Decimal(0)) / len(lons)
    return lat.quantize(CELL, rounding=ROUND_HALF_UP), lon.quantize(CELL, rounding=ROUND_HALF_UP)


def _plot_cells(store: Store, plots: Iterable[str]) -> dict[str, tuple[Decimal, Decimal]]:
    ordered = sorted(plots)
    out = {}
    with store.reading() as session:
        for i in range(0, len(ordered), _CHUNK):
            rows = session.execute(
                select(PlotRow.id, PlotRow.geometry).where(PlotRow.id.in_(ordered[i : i + _CHUNK]))
            )
            for plot, geometry in rows:
                if not geometry:
                    continue
                try:
                    cell = coarse_position(json.loads(geometry))
                except ValueError:
                    cell = None
                if cell is not None:
                    out[plot] = cell
    return out


def _origins(verdict: OriginVerdict, store: Store, parties: _Parties) -> tuple[Origin, ...]:
    known = [s for s in verdict.shares if s.harvest and s.source]
    plot_member = {s.plot: s.member for s in known if s.plot and s.member}
    cells = _plot_cells(store, plot_member)
    by_country: dict[str, dict[str, Any]] = defaultdict(
        lambda: {
            "spos": set(),
            "others": set(),
            "members": set(),
            "plots": set(),
            "unmapped": set(),
            "cells": defaultdict(lambda: (set(), set())),
        }
    )
    for s in known:
        country = s.country or "ZZ"
        entry = by_country[country]
        if not s.member:
            entry["others"].add(s.source)
            continue
        entry["spos"].add(s.source)
        entry["members"].add(s.member)
        if s.plot:
            entry["plots"].add(s.plot)
            cell = cells.get(s.plot)
            if cell is None:
                entry["unmapped"].add(s.plot)
            else:
                plots, members = entry["cells"][cell]
                plots.add(s.plot)
                members.add(s.member)
    out = []
    for country in sorted(by_country):
        e = by_country[country]
        areas = tuple(
            Area(country, lat, lon, len(p), len(m))
            for (lat, lon), (p, m) in sorted(
                e["cells"].items(), key=lambda kv: (-kv[0][0], kv[0][1])
            )
        )
        out.append(
            Origin(
                country=country,
                spos=tuple(parties[p] for p in sorted(e["spos"])),
                members=len(e["members"]),
                plots=len(e["plots"]),
                areas=areas,
                unmapped_plots=len(e["unmapped"]),
                other_sources=tuple(parties[p] for p in sorted(e["others"])),
            )
        )
    return tuple(out)


# --- the journey ---------------------------------------------------------------------


def _journey(
    evidence: Evidence, verdict: OriginVerdict, parties: _Parties, origins: tuple[Origin, ...]
) -> list[Step]:
    voided = evidence.voided()
    custody = [r for r in evidence if r.type in CUSTODY_TYPES and r.id not in voided]
    members: dict[str, set[str]] = defaultdict(set)
    for s in verdict.shares:
        if s.source and s.member:
            members[s.source].add(s.member)
    areas = {spo.id: len(o.areas) for o in origins for spo in o.spos}
    groups: dict[tuple[str, ...], list[Record]] = defaultdict(list)
    for r in custody:
        if r.type == "harvest":
            groups[("harvest", r.party)].append(r)
        elif r.type == "transform":
            groups[("process", r.party, r.typed.process)].append(r)
        elif r.type == "ship":
            to = r.typed.to
            if parties[r.party].country != parties[to].country:
                groups[("export", r.party, to)].append(r)
        elif r.type == "receive":
            shipment = evidence.get(r.typed.shipment)
            sender = shipment.party if shipment else ""
            kind = "import" if parties[sender].country != parties[r.party].country else "transfer"
            groups[(kind, r.party, sender)].append(r)
    steps = []
    for key, records in groups.items():
        kind, party = key[0], parties[key[1]]
        days = sorted(r.day for r in records)
        common: dict[str, Any] = {
            "first": days[0],
            "last": days[-1],
            "events": len(records),
            "order": min(r.index for r in records),
        }
        if kind == "harvest":
            steps.append(
                Step(
                    "harvest",
                    party,
                    members=len(members.get(party.id, ())),
                    areas=areas.get(party.id, 0),
                    **common,
                )
            )
        elif kind == "process":
            steps.append(Step("process", party, process=key[2], **common))
        else:
            steps.append(Step(kind, party, other=parties[key[2]], **common))
    return sorted(steps, key=lambda s: (s.kind != "harvest", s.order, _KIND_ORDER[s.kind]))


_KIND_ORDER = {"harvest": 0, "process": 1, "transfer": 2, "export": 3, "import": 4}


# --- certificates --------------------------------------------------------------------


def _certificates(
    evidence: Evidence, verdict: OriginVerdict, parties: _Parties, made: date
) -> tuple[Certificate, ...]:
    """The certificates of the parties on the lot's path, judged on the day it was made.

    Whether each one covered each harvest and handover is the verdict's job; the page
    shows their validity and the status on the lot's own date (not today's: a bag on a
    shelf outlives its roaster's certificate without its origin changing).
    """
    out = []
    today = made
    for c in evidence.certificates():
        if verdict.product not in c.products:
            continue
        if c.revoked_at is not None and c.revoked_at.date() <= today:
            status = "revoked"
        elif c.valid_until < today:
            status = "expired"
        elif c.valid_from > today:
            status = "future"
        else:
            status = "valid"
        holder = parties[c.subject]
        out.append(
            Certificate(
                id=c.id,
                scheme=c.scheme,
                holder=holder,
                issuer=parties[c.certifier].name,
                valid_from=c.valid_from,
                valid_until=c.valid_until,
                revoked_on=c.revoked_at.date() if c.revoked_at else None,
                status=status,
            )
        )
    return tuple(
        sorted(
            out,
            key=lambda c: (c.scheme != "SPP", not c.holder.spo, c.holder.name, c.valid_from, c.id),
        )
    )


# --- the mass flow -------------------------------------------------------------------


def _flow(
    verdict: OriginVerdict, evidence: Evidence, parties: _Parties
) -> tuple[tuple[FlowNode, ...], tuple[FlowLink, ...]]:
    """Party-to-party flows of this lot's mass, from its sources down to the lot.

    Mass is propagated backwards from the lot through every custody reference in
    proportion to the kilograms consumed, as the attribution does; a reference between
    two parties' events adds its share to the flow between those parties.
    """
    lot_node = "lot:" + verdict.lot
    creator = evidence.creator(verdict.lot)
    assert creator is not None
    weights: dict[tuple[str, str], Fraction] = {(creator.id, verdict.lot): Fraction(1)}
    heap = [(-creator.index, creator.id, verdict.lot)]
    flows: dict[tuple[str, str], Fraction] = defaultdict(Fraction)
    flows[(creator.party, lot_node)] = Fraction(1)
    sources: dict[str, Fraction] = defaultdict(Fraction)
    while heap:
        _, event_id, lot = heapq.heappop(heap)
        weight = weights.pop((event_id, lot))
        record = evidence.get(event_id)
        if record is None:
            continue
        if record.type == "harvest":
            sources[record.party] += weight
            continue
        refs = evidence.references(record)
        if record.type != "transform":
            refs = [r for r in refs if r.lot == lot]
        total = sum((Fraction(r.kg) for r in refs), Fraction(0))
        if total == 0:
            continue
        for ref in refs:
            parent = evidence.get(ref.parent)
            if parent is None:
                continue
            part = weight * Fraction(ref.kg) / total
            if parent.party != record.party:
                flows[(parent.party, record.party)] += part
            key = (ref.parent, ref.lot)
            if key not in weights:
                weights[key] = Fraction(0)
                heapq.heappush(heap, (-parent.index, ref.parent, ref.lot))
            weights[key] += part
    certified: dict[str, Fraction] = defaultdict(Fraction)
    for s in verdict.shares:
        if s.certified and s.source:
            certified[s.source] += s.fraction
    graph: nx.DiGraph[str] = nx.DiGraph()
    for (a, b), value in flows.items():
        graph.add_edge(a, b, value=value)
    if not nx.is_directed_acyclic_graph(graph):  # goods went back and forth: sources only
        graph = nx.DiGraph()
        for source, value in sources.items():
            graph.add_edge(source, lot_node, value=value)
    layers: dict[str, int] = {}
    for node in nx.topological_sort(graph):
        preds = list(graph.predecessors(node))
        layers[node] = max((layers[p] + 1 for p in preds), default=0)
    depth = layers[lot_node]
    nodes = []
    for node in graph.nodes:
        inflow = sum((d["value"] for _, _, d in graph.in_edges(node, data=True)), Fraction(0))
        outflow = sum((d["value"] for _, _, d in graph.out_edges(node, data=True)), Fraction(0))
        if node == lot_node:
            nodes.append(
                FlowNode(node, verdict.lot, depth, Fraction(1), "lot", verdict.certified_fraction)
            )
        elif node in sources:
            nodes.append(
                FlowNode(
                    node,
                    parties[node].name,
                    layers[node],
                    max(sources[node], inflow, outflow),
                    "source",
                    certified[node],
                )
            )
        else:
            nodes.append(
                FlowNode(node, parties[node].name, layers[node], max(inflow, outflow), "party")
            )
    links = [FlowLink(a, b, d["value"]) for a, b, d in graph.edges(data=True)]
    order = {
        n.id: i
        for i, n in enumerate(
            sorted(
                nodes,
                key=lambda n: (
                    n.layer,
                    n.kind != "source" or n.certified < n.value,
                    -n.value,
                    n.label,
                ),
            )
        )
    }
    return (
        tuple(sorted(nodes, key=lambda n: order[n.id])),
        tuple(sorted(links, key=lambda lk: (order[lk.source], order[lk.target]))),
    )


# --- pictures: geometry for the SVG templates ---------------------------------------
