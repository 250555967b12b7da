"""Brand provenance publishing: the public page of a lot, its JSON-LD and its QR code.

One ``PageModel`` is assembled from a lot's origin verdict, its evidence and the store,
and rendered the same way by the ``/p/<lot>`` views (``api.pages``) and by
``trazo publish`` (static files). Everything here is for the public, so it follows the
privacy rule of DESIGN.md: members appear only as counts, and a plot's location only as
a cell of 0.1° (about 10 km) shared with every other plot in it — never an exact
coordinate, never a member or plot id.

Rendering is Jinja2 with one environment per language (the ``jinja2.ext.i18n`` extension
with a gettext catalog from ``api/pages/translations``), so no request ever swaps translations
under another. Numbers and dates are formatted with Babel; the certified share is shown
as the verdict states it (rounded down), never rounded up.
"""

from __future__ import annotations

import gettext
import heapq
import io
import json
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import networkx as nx
from babel import Locale
from babel.dates import format_date, format_skeleton
from babel.numbers import format_decimal, format_percent
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy import select

from graph.ancestry import gather
from graph.evidence import CUSTODY_TYPES, Evidence, PartyFacts, Record, created_lots
from graph.origin import OriginVerdict, origin_verdict
from ledger.errors import LotNotFound, NotPublished
from ledger.log import latest_checkpoint
from ledger.schema import PlotRow
from ledger.store import Store

LANGUAGES = ("es", "en", "pt", "fr")
"""Page languages: the producers speak the first three; many buyers the last two."""
DEFAULT_LANGUAGE = "en"
TRANSLATIONS = Path(__file__).parent / "translations"
DOMAIN = "messages"

CELL = Decimal("0.1")
"""Public positions are rounded to 0.1° (about 11 km north–south): never finer."""

CONSUMER_FORMS = frozenset({"roasted", "packed", "filtered", "panela"})
"""Forms a consumer buys: only lots in one of them get a public page."""

SCHEMA_ORG = "https://schema.org"

_CHUNK = 500


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated where it is rendered."""
    return message


PROCESS_LABELS = {
    "wet-mill": N_("Wet milling: pulped, fermented, washed and dried"),
    "dry-mill": N_("Dry milling: hulled, cleaned and graded for export"),
    "hull": N_("Hulling"),
    "roast": N_("Roasting"),
    "ferment": N_("Fermenting and drying"),
    "dry": N_("Drying"),
    "filter": N_("Filtering"),
    "mill": N_("Milling"),
    "blend": N_("Blending"),
    "split": N_("Splitting into lots"),
    "sort": N_("Sorting and grading"),
    "pack": N_("Packing"),
}
REASON_LABELS = {
    "non-member-source": N_(
        "not grown by members of a small producers' organization"
        " (for example a plantation or estate)"
    ),
    "certificate": N_("the organization's certificate did not cover the harvest date"),
    "oversize-plot": N_("grown on a plot above the small-producer size limit"),
    "not-enrolled": N_("the grower was not an enrolled member on the harvest date"),
    "uncertified-intermediary": N_("handled by a company without a valid certificate"),
    "voided-event": N_("a step in its record was withdrawn as erroneous"),
    "broken-link": N_("a link in its record is missing"),
}
FORM_LABELS = {
    "roasted": N_("roasted"),
    "packed": N_("packed"),
    "filtered": N_("filtered"),
    "panela": N_("panela"),
}
PRODUCT_LABELS = {
    "coffee": N_("Coffee"),
    "cacao": N_("Cacao"),
    "honey": N_("Honey"),
    "sugar": N_("Sugar"),
    "panela": N_("Panela"),
}


# --- the model -----------------------------------------------------------------------


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

    def to_jsonld(self, links: Links) -> dict[str, Any]:
        return jsonld(self, links)


@dataclass(frozen=True)
class Links:
    """Where the page's companions are, as seen from the page; ``page`` is absolute."""

    page: str
    bundle: str
    jsonld: str
    qr_svg: str
    qr_png: str
    languages: dict[str, str] = field(default_factory=dict)
    bundle_name: str = "bundle.json"
    absolute_bundle: str = ""

    @classmethod
    def served(cls, base_url: str, lot: str) -> Links:
        """Links of the pages the server serves at ``/p/<lot>``."""
        path = f"/p/{quote(lot, safe=':~.-_')}"
        base = base_url.rstrip("/")
        return cls(
            page=f"{base}{path}",
            bundle=f"{path}/bundle.json",
            jsonld=f"{path}.jsonld",
            qr_svg=f"{path}/qr.svg",
            qr_png=f"{path}/qr.png",
            languages={lang: f"{path}?lang={lang}" for lang in LANGUAGES},
            bundle_name=bundle_filename(lot),
            absolute_bundle=f"{base}{path}/bundle.json",
        )

    @classmethod
    def static(cls, page_url: str, lot: str) -> Links:
        """Links between the files ``trazo publish`` writes into one folder."""
        base = page_url.rsplit("/", 1)[0] if page_url.endswith(".html") else page_url.rstrip("/")
        return cls(
            page=page_url,
            bundle="bundle.json",
            jsonld="product.jsonld",
            qr_svg="qr.svg",
            qr_png="qr.png",
            languages={lang: f"{lang}.html" for lang in LANGUAGES},
            bundle_name=bundle_filename(lot),
            absolute_bundle=f"{base}/bundle.json",
        )


def bundle_filename(lot: str) -> str:
    return lot.replace(":", "_") + ".bundle.json"


def page_url(base_url: str, lot: str) -> str:
    """The page a QR code points at: ``<TRAZO_PUBLIC_URL>/p/<lot>``."""
    return Links.served(base_url, lot).page


# --- assembling the model ------------------------------------------------------------


def page_model(
    store: Store, lot: str, *, log_key: str | None = None, today: date | None = None
) -> PageModel:
    """The public page of ``lot``; raises ``NotPublished`` when it has none."""
    try:
        evidence = gather(store, lot)
    except LotNotFound as e:
        raise NotPublished(str(e)) from e
    creator = evidence.creator(lot)
    if creator is None or created_lots(creator)[lot].form not in CONSUMER_FORMS:
        raise NotPublished(f"lot {lot!r} is not in a form sold to consumers")
    verdict = origin_verdict(lot, evidence)
    return build_page_model(verdict, evidence, store, log_key=log_key, today=today)


def is_published(store: Store, lot: str) -> bool:
    """Whether ``lot`` has a public page: it is in the ledger, in a consumer-facing form."""
    from ledger.schema import LotRow

    with store.reading() as session:
        row = session.get(LotRow, lot)
        return row is not None and row.form in CONSUMER_FORMS


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


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class PlacedNode:
    node: FlowNode
    box: Box
    certified_width: float
    label: str
    anchor: str  # start | middle
    label_x: float
    label_y: float


@dataclass(frozen=True)
class FlowPicture:
    width: int
    height: int
    nodes: list[PlacedNode]
    bands: list[tuple[FlowLink, str]]  # link, SVG path


FLOW_WIDTH = 360
_BAR = 14
_BANDS = 40
_GAP = 10
_SIDE = 12
_LABEL = 14
_CHAR = 6.0
_LABEL_CHARS = 44


def flow_picture(model: PageModel) -> FlowPicture:
    """Layout of the flow: one row per stage, bars as wide as the mass through them."""
    rows: dict[int, list[FlowNode]] = defaultdict(list)
    for node in model.flow_nodes:
        rows[node.layer].append(node)
    usable = FLOW_WIDTH - 2 * _SIDE
    scale = min(
        (usable - _GAP * (len(r) - 1)) / float(sum(n.value for n in r) or 1) for r in rows.values()
    )
    boxes: dict[str, Box] = {}
    placed = []
    y = 6.0
    for layer in sorted(rows):
        row = rows[layer]
        widths = [max(2.0, float(n.value) * scale) for n in row]
        total = sum(widths) + _GAP * (len(row) - 1)
        x = (FLOW_WIDTH - total) / 2
        y += _LABEL * len(row)  # one label line per bar, so that no two labels overlap
        for i, (node, w) in enumerate(zip(row, widths, strict=True)):
            boxes[node.id] = Box(x, y, w, _BAR)
            share = float(node.certified / node.value) if node.value else 0.0
            label = _shorten(node.label, _LABEL_CHARS)
            if len(row) == 1:
                anchor, lx = "middle", FLOW_WIDTH / 2
            else:
                guess = (len(label) + 12) * _CHAR
                anchor, lx = "start", max(4.0, min(x, FLOW_WIDTH - 4.0 - guess))
            placed.append(
                PlacedNode(
                    node,
                    boxes[node.id],
                    w * share,
                    label,
                    anchor,
                    lx,
                    y - 5 - _LABEL * (len(row) - 1 - i),
                )
            )
            x += w + _GAP
        y += _BAR + _BANDS
    out_used: dict[str, float] = defaultdict(float)
    in_used: dict[str, float] = defaultdict(float)
    bands = []
    for link in model.flow_links:
        a, b = boxes[link.source], boxes[link.target]
        w = max(1.0, float(link.value) * scale)
        x0 = a.x + out_used[link.source]
        x1 = b.x + in_used[link.target]
        out_used[link.source] += w
        in_used[link.target] += w
        y0, y1 = a.y + a.h, b.y
        mid = (y0 + y1) / 2
        bands.append(
            (
                link,
                (
                    f"M{x0:.1f} {y0:.1f}C{x0:.1f} {mid:.1f} {x1:.1f} {mid:.1f} {x1:.1f} {y1:.1f}"
                    f"L{x1 + w:.1f} {y1:.1f}C{x1 + w:.1f} {mid:.1f} {x0 + w:.1f} {mid:.1f}"
                    f" {x0 + w:.1f} {y0:.1f}Z"
                ),
            )
        )
    return FlowPicture(FLOW_WIDTH, int(y - _BANDS + 24), placed, bands)


def _shorten(text: str, chars: int) -> str:
    chars = max(chars, 6)
    return text if len(text) <= chars else text[: chars - 1].rstrip() + "…"


@dataclass(frozen=True)
class MapPanel:
    index: int
    origin: Origin
    width: int
    height: int
    dots: list[tuple[Area, float, float, float]]  # area, x, y, radius
    lines: list[tuple[str, float, str]]  # "h" or "v", position, label


MAP_WIDTH = 360
_MAP_MAX_HEIGHT = 240
_MAP_PAD = 26


def map_panels(model: PageModel) -> list[MapPanel]:
    """One equirectangular panel per country, fitted to its areas; no tiles, no borders."""
    panels: list[MapPanel] = []
    for origin in model.origins:
        if not origin.areas:
            continue
        lats = [float(a.lat) for a in origin.areas]
        lons = [float(a.lon) for a in origin.areas]
        mid = (min(lats) + max(lats)) / 2
        kx = math.cos(math.radians(mid))
        span_lat = max(max(lats) - min(lats), 0.4) + 0.3
        span_lon = max(max(lons) - min(lons), 0.4 / kx) + 0.3 / kx
        lat0 = (min(lats) + max(lats)) / 2 + span_lat / 2
        lon0 = (min(lons) + max(lons)) / 2 - span_lon / 2
        inner = MAP_WIDTH - 2 * _MAP_PAD
        k = min(inner / (span_lon * kx), (_MAP_MAX_HEIGHT - 2 * _MAP_PAD) / span_lat)
        width = MAP_WIDTH
        height = int(span_lat * k + 2 * _MAP_PAD)
        left = (MAP_WIDTH - span_lon * kx * k) / 2

        def x_of(
            lon: float, left: float = left, lon0: float = lon0, k: float = k, kx: float = kx
        ) -> float:
            return left + (lon - lon0) * kx * k

        def y_of(lat: float, lat0: float = lat0, k: float = k) -> float:
            return _MAP_PAD + (lat0 - lat) * k

        most = max(a.plots for a in origin.areas)
        largest = max(6.0, min(18.0, 0.5 * float(CELL) * k))  # neighbours do not overlap
        dots = [
            (
                a,
                x_of(float(a.lon)),
                y_of(float(a.lat)),
                max(7.0, largest * math.sqrt(a.plots / most)),
            )
            for a in origin.areas
        ]
        step = next(s for s in (0.5, 1, 2, 5, 10, 20) if max(span_lat, span_lon) / s <= 5)
        lines = []
        value = math.ceil((lat0 - span_lat) / step) * step
        while value <= lat0:
            lines.append(("h", y_of(value), _degrees(value, "N", "S")))
            value += step
        value = math.ceil(lon0 / step) * step
        while value <= lon0 + span_lon:
            lines.append(("v", x_of(value), _degrees(value, "E", "W")))
            value += step
        panels.append(MapPanel(len(panels) + 1, origin, width, height, dots, lines))
    return panels


def _degrees(value: float, positive: str, negative: str) -> str:
    hemisphere = positive if value >= 0 else negative
    text = f"{abs(value):.1f}".rstrip("0").rstrip(".")
    return f"{text}° {hemisphere}"


def cell_label(area: Area) -> str:
    return f"{_degrees(float(area.lat), 'N', 'S')}, {_degrees(float(area.lon), 'E', 'W')}"


# --- JSON-LD -------------------------------------------------------------------------


def jsonld(model: PageModel, links: Links) -> dict[str, Any]:
    """schema.org ``Product``: the lot, its origin facts, certificates and proof bundle."""

    def prop(pid: str, value: Any, unit: str | None = None) -> dict[str, Any]:
        item = {"@type": "PropertyValue", "propertyID": pid, "value": value}
        if unit:
            item["unitText"] = unit
        return item

    properties = [
        prop("certifiedSmallProducerShare", str(model.certified_percent), "percent"),
        prop("certifiedSmallProducerKg", str(model.certified_kg), "kg"),
        prop("certificationScheme", "SPP"),
        prop("memberFamilies", model.members),
        prop("plots", model.plots),
        prop("originAreas", model.areas, "cells of 0.1 degree"),
    ]
    if model.harvest_from and model.harvest_until:
        properties.append(
            prop(
                "harvestPeriod",
                f"{model.harvest_from.isoformat()}/{model.harvest_until.isoformat()}",
            )
        )
    for short in model.shortfalls:
        properties.append(prop(f"notCertified:{short.code}", str(short.percent), "percent"))
    doc: dict[str, Any] = {
        "@context": SCHEMA_ORG,
        "@type": "Product",
        "@id": links.page,
        "url": links.page,
        "name": f"{PRODUCT_LABELS.get(model.product, model.product)} ({model.form}) — {model.lot}",
        "sku": model.lot,
        "category": model.product,
        "brand": {"@type": "Brand", "name": model.brand.name},
        "weight": {"@type": "QuantitativeValue", "value": str(model.kg), "unitCode": "KGM"},
        "countryOfOrigin": [{"@type": "Country", "identifier": c} for c in model.countries],
        "producer": [
            {
                "@type": "Organization",
                "name": p.name,
                "address": {"@type": "PostalAddress", "addressCountry": p.country},
            }
            for p in model.spos
        ],
        "hasCertification": [
            {
                "@type": "Certification",
                "name": f"{c.scheme} {c.id}",
                "identifier": c.id,
                "certificationIdentification": c.scheme,
                "about": {"@type": "Organization", "name": c.holder.name},
                "issuedBy": {"@type": "Organization", "name": c.issuer},
                "validFrom": c.valid_from.isoformat(),
                "expires": c.valid_until.isoformat(),
                "certificationStatus": c.status,
            }
            for c in model.certificates
        ],
        "additionalProperty": properties,
        "subjectOf": {
            "@type": "DigitalDocument",
            "name": "trazo proof bundle",
            "encodingFormat": "application/json",
            "url": links.absolute_bundle or links.bundle,
            "description": "Verify offline with: trazo verify BUNDLE --log-key KEY",
        },
    }
    return doc


def jsonld_text(model: PageModel, links: Links) -> str:
    return json.dumps(jsonld(model, links), ensure_ascii=False, indent=1) + "\n"


# --- QR codes ------------------------------------------------------------------------


def qr_svg(url: str) -> bytes:
    import segno

    buffer = io.BytesIO()
    segno.make(url, error="m", micro=False).save(
        buffer, kind="svg", scale=8, border=4, title=url, svgclass=None, lineclass=None
    )
    return buffer.getvalue()


def qr_png(url: str) -> bytes:
    import segno

    buffer = io.BytesIO()
    segno.make(url, error="m", micro=False).save(buffer, kind="png", scale=8, border=4)
    return buffer.getvalue()


# --- rendering -----------------------------------------------------------------------


def negotiate(requested: str | None, accept: Any = None) -> str:
    """``?lang=`` when it is one of ours, else the best of Accept-Language, else English."""
    if requested:
        code = requested.strip().lower().split("-")[0]
        if code in LANGUAGES:
            return code
    if accept is not None:
        found = accept.best_match(LANGUAGES)
        if found:
            return str(found).split("-")[0]
    return DEFAULT_LANGUAGE


@cache
def translations(lang: str) -> gettext.NullTranslations:
    if lang == "en":
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, localedir=str(TRANSLATIONS), languages=[lang])


@cache
def environment(lang: str) -> Environment:
    env = Environment(
        loader=PackageLoader("api.pages", "templates"),
        autoescape=select_autoescape(["html", "svg"], default=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    locale = Locale.parse(lang)
    env.filters.update(
        percent=lambda v: format_percent(
            Decimal(v).normalize() / 100, locale=locale, decimal_quantization=False
        ),
        fraction_percent=lambda f: format_percent(
            _floor_percent(f) / 100, locale=locale, decimal_quantization=False
        ),
        number=lambda v: format_decimal(
            Decimal(v).normalize(), locale=locale, decimal_quantization=False
        ),
        day=lambda d: format_date(d, "medium", locale=locale),
        month=lambda d: format_skeleton("yMMMM", d, locale=locale),
        country=lambda code: locale.territories.get(code, code),
        cell=cell_label,
        num=lambda v: f"{v:.1f}",
    )
    env.globals.update(
        lang=lang,
        languages=LANGUAGES,
        process_labels=PROCESS_LABELS,
        reason_labels=REASON_LABELS,
        form_labels=FORM_LABELS,
        product_labels=PRODUCT_LABELS,
        language_names={code: Locale.parse(code).get_display_name(code) for code in LANGUAGES},
    )
    return env


def _floor_percent(value: Fraction) -> Decimal:
    hundredths = value * 10_000
    return (Decimal(hundredths.numerator // hundredths.denominator) / 100).normalize()


def render_page(model: PageModel, lang: str, links: Links) -> str:
    env = environment(lang)
    ld = jsonld_text(model, links).replace("<", "\\u003c").replace(">", "\\u003e")
    return env.get_template("page/lot.html").render(
        m=model, links=links, flow=flow_picture(model), maps=map_panels(model), jsonld=Markup(ld)
    )


def render_not_found(lot: str, lang: str, languages: dict[str, str] | None = None) -> str:
    return (
        environment(lang)
        .get_template("page/not_found.html")
        .render(lot=lot, lang_links=languages or {})
    )


def publish(
    model: PageModel,
    links: Links,
    bundle: dict[str, Any],
    out: Path,
    *,
    default_lang: str = DEFAULT_LANGUAGE,
) -> list[Path]:
    """Write the page in every language, its JSON-LD, QR codes and bundle into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []

    def write(name: str, data: str | bytes) -> None:
        path = out / name
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_bytes(data)
        written.append(path)

    for lang in LANGUAGES:
        write(f"{lang}.html", render_page(model, lang, links))
    write("index.html", render_page(model, default_lang, links))
    write("product.jsonld", jsonld_text(model, links))
    write("qr.svg", qr_svg(links.page))
    write("qr.png", qr_png(links.page))
    write("bundle.json", json.dumps(bundle, indent=1) + "\n")
    return written
