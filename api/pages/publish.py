"""Brand provenance publishing: the public page of a lot, its JSON-LD and its QR code.

One ``graph.page.PageModel`` (what the page says, computed from the ledger) is rendered
here the same way for the ``/p/<lot>`` views (``api.pages``) and for ``trazo publish``
(static files): the flow picture and map as SVG, JSON-LD, QR codes, the HTML in four
languages. Nothing here reads the ledger.

Rendering is Jinja2 with one environment per language (the ``jinja2.ext.i18n`` extension
with a gettext catalog from ``api/pages/translations``), so no request ever swaps translations
under another. Numbers and dates are formatted with Babel; the certified share is shown
as the verdict states it (rounded down), never rounded up.
"""

from __future__ import annotations

import gettext
import io
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from babel import Locale
from babel.dates import format_date, format_skeleton
from babel.numbers import format_currency, format_decimal, format_percent
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from graph.page import CELL, Area, FlowLink, FlowNode, Origin, PageModel

LANGUAGES = ("es", "en", "pt", "fr")
"""Page languages: the producers speak the first three; many buyers the last two."""
DEFAULT_LANGUAGE = "en"
TRANSLATIONS = Path(__file__).parent / "translations"
DOMAIN = "messages"

SCHEMA_ORG = "https://schema.org"
STATIC = Path(__file__).parent.parent / "static"
SCRIPTS = (
    "dsse.js",
    "proof.js",
    "exact.js",
    "prices.js",
    "fields.js",
    "verify.js",
    "page-verify.js",
)
"""The in-browser verifier: ES modules served at ``/static/js/`` and copied by ``publish``."""


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
    events: str = ""
    """Where one event is read (``/api/v1/events/``); empty for static files."""

    def event_href(self, event_id: str) -> str:
        """A link to the signed event: the API's, or the bundle that carries it."""
        return f"{self.events}{event_id}" if self.events else self.bundle

    script: str = ""
    """The in-browser verifier's entry module (``api/static/js/page-verify.js``)."""

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
            events="/api/v1/events/",
            script="/static/js/page-verify.js",
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
            script="js/page-verify.js",
        )


def bundle_filename(lot: str) -> str:
    return lot.replace(":", "_") + ".bundle.json"


def page_url(base_url: str, lot: str) -> str:
    """The page a QR code points at: ``<TRAZO_PUBLIC_URL>/p/<lot>``."""
    return Links.served(base_url, lot).page


# --- assembling the model ------------------------------------------------------------


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
    country: str = ""
    """SVG path of the country's outline (Natural Earth, simplified, 0.1° grid)."""
    neighbours: str = ""
    """SVG path of the other countries in view."""
    zoom: bool = False
    """A closer map of the areas (the country's whole map comes before it)."""
    mark: Box | None = None
    """Where the closer map that follows lies on this one."""


MAP_WIDTH = 360
_MAP_MAX_HEIGHT = 300
_MAP_PAD = 10
OUTLINES = Path(__file__).parent / "data" / "outlines.json"

_Ring = list[tuple[float, float]]


@cache
def outlines() -> dict[str, list[_Ring]]:
    """Country outlines by ISO code: rings of (lon, lat) on the 0.1° grid (package data,
    from Natural Earth; see ``data/make_outlines.py``)."""
    document = json.loads(OUTLINES.read_text("utf-8"))
    out: dict[str, list[_Ring]] = {}
    for code, rings in document["countries"].items():
        for r in rings:
            ring = [(r[i] / 10, r[i + 1] / 10) for i in range(0, len(r), 2)]
            west, _s, east, _n = _bbox(ring)
            if east - west < 180:  # a ring across the antimeridian (Fiji, Russia): not drawn
                out.setdefault(code, []).append(ring)
    return out


def _bbox(points: list[tuple[float, float]]) -> tuple[float, float, float, float]:
    lons = [p[0] for p in points]
    lats = [p[1] for p in points]
    return min(lons), min(lats), max(lons), max(lats)


def map_panels(model: PageModel) -> list[MapPanel]:
    """Maps of each country of origin, inline SVG (no tiles, no other host): the country's
    outline and its neighbours' with the areas of about 10 km where its plots lie; and,
    when those areas are small on the country's scale, a closer map of them."""
    panels: list[MapPanel] = []
    shapes = outlines()
    for origin in model.origins:
        rings = shapes.get(origin.country, [])
        if not rings and not origin.areas:
            continue
        spots = [(float(a.lon), float(a.lat)) for a in origin.areas]
        main = max(rings, key=_area) if rings else []
        whole = _padded(_bbox(main + spots))
        near = _padded(_bbox(spots), minimum=0.5) if spots else None
        if near is not None and (near[2] - near[0]) >= 0.3 * (whole[2] - whole[0]):
            near = None  # the areas read well on the country's own map
        panels.append(_panel(len(panels) + 1, origin, whole, shapes, mark=near))
        if near is not None:
            panels.append(_panel(len(panels) + 1, origin, near, shapes, zoom=True))
    return panels


def _padded(
    box: tuple[float, float, float, float], minimum: float = 0.6
) -> tuple[float, float, float, float]:
    west, south, east, north = box
    grow_x = max(minimum - (east - west), 0) / 2
    grow_y = max(minimum - (north - south), 0) / 2
    pad = max(east - west, north - south, minimum) * 0.06 + 0.1
    return west - grow_x - pad, south - grow_y - pad, east + grow_x + pad, north + grow_y + pad


def _panel(
    index: int,
    origin: Origin,
    view: tuple[float, float, float, float],
    shapes: dict[str, list[_Ring]],
    *,
    zoom: bool = False,
    mark: tuple[float, float, float, float] | None = None,
) -> MapPanel:
    west, south, east, north = view
    kx = math.cos(math.radians((south + north) / 2))
    k = min(
        (MAP_WIDTH - 2 * _MAP_PAD) / ((east - west) * kx),
        (_MAP_MAX_HEIGHT - 2 * _MAP_PAD) / (north - south),
    )
    height = int((north - south) * k + 2 * _MAP_PAD)
    left = (MAP_WIDTH - (east - west) * kx * k) / 2

    def x_of(lon: float) -> float:
        return left + (lon - west) * kx * k

    def y_of(lat: float) -> float:
        return _MAP_PAD + (north - lat) * k

    def path(rings: list[_Ring]) -> str:
        return "".join(
            "M" + " ".join(f"{x_of(lon):.1f} {y_of(lat):.1f}" for lon, lat in ring) + "Z"
            for ring in rings
        )

    others = [
        ring
        for code, rings in shapes.items()
        if code != origin.country
        for ring in rings
        if _overlaps(_bbox(ring), view)
    ]
    most = max((a.plots for a in origin.areas), default=1)
    largest = max(6.0, min(16.0, 0.5 * float(CELL) * k))
    dots = [
        (
            a,
            x_of(float(a.lon)),
            y_of(float(a.lat)),
            max(4.0 if not zoom else 7.0, largest * math.sqrt(a.plots / most)),
        )
        for a in origin.areas
    ]
    span = max(east - west, north - south)
    step = next(s for s in (0.5, 1, 2, 5, 10, 20, 40) if span / s <= 5)
    lines = []
    value = math.ceil(south / step) * step
    while value <= north:
        lines.append(("h", y_of(value), _degrees(value, "N", "S")))
        value += step
    value = math.ceil(west / step) * step
    while value <= east:
        lines.append(("v", x_of(value), _degrees(value, "E", "W")))
        value += step
    own = [r for r in shapes.get(origin.country, []) if _overlaps(_bbox(r), view)]
    return MapPanel(
        index,
        origin,
        MAP_WIDTH,
        height,
        dots,
        lines,
        country=path(own),
        neighbours=path(others),
        zoom=zoom,
        mark=None
        if mark is None
        else Box(
            x_of(mark[0]), y_of(mark[3]), (mark[2] - mark[0]) * kx * k, (mark[3] - mark[1]) * k
        ),
    )


def _area(ring: _Ring) -> float:
    return abs(
        sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True))
    )


def _overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


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
    weight = model.kg
    if model.package is not None:  # the product is the unit in the hand; the lot is its batch
        weight = model.package.kg
        properties.append(prop("lotKg", str(model.kg), "kg"))
        properties.append(prop("unitsInLot", model.package.units))
        properties.append(
            prop("certifiedSmallProducerKgPerUnit", str(model.package.certified_kg), "kg")
        )
    doc: dict[str, Any] = {
        "@context": SCHEMA_ORG,
        "@type": "Product",
        "@id": links.page,
        "url": links.page,
        "name": f"{PRODUCT_LABELS.get(model.product, model.product)} ({model.form}) — {model.lot}",
        "sku": model.lot,
        "category": model.product,
        "brand": {"@type": "Brand", "name": model.brand.name},
        "weight": {"@type": "QuantitativeValue", "value": str(weight), "unitCode": "KGM"},
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


def qr_inline(url: str) -> Markup:
    """The QR code as an SVG element to put in the page itself (shown, and printed)."""
    import segno

    buffer = io.BytesIO()
    segno.make(url, error="m", micro=False).save(
        buffer,
        kind="svg",
        scale=4,
        border=4,
        xmldecl=False,
        svgns=False,
        title=url,
        svgclass="qr",
        lineclass=None,
        omitsize=True,
    )
    return Markup(buffer.getvalue().decode("utf-8"))


def qr_png(url: str) -> bytes:
    import segno

    buffer = io.BytesIO()
    segno.make(url, error="m", micro=False).save(buffer, kind="png", scale=8, border=4)
    return buffer.getvalue()


# --- rendering -----------------------------------------------------------------------


DEFAULT_LOCALES = {"es": "es_419", "en": "en", "pt": "pt", "fr": "fr"}
"""How numbers and dates are written when the reader names no region: a bare ``es`` is
Latin American Spanish (``es_419``: 2,109.562), where most of the producers and many of
the readers are; ``es-ES`` asks for 2.109,562."""


def number_locale(lang: str, accept: Any = None) -> str:
    """The locale numbers and dates are written in: the reader's own region of ``lang``
    from Accept-Language (``es-MX``, ``es-PE``, ``es-ES``), else ``DEFAULT_LOCALES``."""
    for value, _quality in accept or ():
        tag = str(value).replace("-", "_")
        if tag.split("_")[0].lower() != lang or "_" not in tag:
            continue
        try:
            return str(Locale.parse(tag))
        except (ValueError, LookupError):
            continue
    return DEFAULT_LOCALES.get(lang, lang)


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


@lru_cache(maxsize=64)
def environment(lang: str, locale_id: str | None = None) -> Environment:
    """The templates in ``lang``, numbers and dates written as in ``locale_id``."""
    env = Environment(
        loader=PackageLoader("api.pages", "templates"),
        autoescape=select_autoescape(["html", "svg"], default=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    locale = Locale.parse(locale_id or DEFAULT_LOCALES.get(lang, lang))
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
        money=lambda v, currency: _money(Decimal(v), currency, locale),
        day=lambda d: format_date(d, "medium", locale=locale),
        month=lambda d: format_skeleton("yMMMM", d, locale=locale),
        country=lambda code: locale.territories.get(code, code),
        cell=cell_label,
        num=lambda v: f"{v:.1f}",
        mass=lambda kg: _mass(Decimal(kg), locale),
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


def _mass(kg: Decimal, locale: Locale) -> str:
    """A retail unit's mass as a reader says it: "250 g", "187.5 g", "1 kg"."""
    value, unit = ((kg * 1000), "g") if kg < 1 else (kg, "kg")
    number = format_decimal(value.normalize(), locale=locale, decimal_quantization=False)
    return f"{number}\xa0{unit}"  # never "250" at a line's end and "g" on the next


def _money(value: Decimal, currency: str, locale: Locale) -> str:
    """An amount as the reader's locale writes it, a currency code kept apart from its
    number: Latin American Spanish writes "USD3.05", which reads as one word; "USD 3.05"
    (with a no-break space, so the two never part at a line's end) reads as money."""
    text = format_currency(value, currency, locale=locale)
    return _GLUED.sub("\xa0", text)


_GLUED = re.compile(r"(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])")


def _floor_percent(value: Fraction) -> Decimal:
    hundredths = value * 10_000
    return (Decimal(hundredths.numerator // hundredths.denominator) / 100).normalize()


def render_page(
    model: PageModel,
    lang: str,
    links: Links,
    locale: str | None = None,
    witnesses: tuple[str, ...] = (),
) -> str:
    """The page in ``lang``, numbers as in ``locale``; ``witnesses`` are the cosigner keys
    the in-browser check counts on the checkpoint."""
    env = environment(lang, locale)
    ld = jsonld_text(model, links).replace("<", "\\u003c").replace(">", "\\u003e")
    return env.get_template("page/lot.html").render(
        m=model,
        links=links,
        flow=flow_picture(model),
        maps=map_panels(model),
        jsonld=Markup(ld),
        qr=qr_inline(links.page),
        verify_text=Markup(_json_in_html(verify_texts(lang))),
        witnesses=" ".join(witnesses),
        certified_fraction=f"{model.certified_fraction.numerator}/"
        f"{model.certified_fraction.denominator}",
    )


def witness_keys(specs: str | Iterable[str]) -> tuple[str, ...]:
    """The cosigner verifier keys of witness specs (``URL=VKEY`` or ``VKEY``; a string of
    them separated by spaces, as ``TRAZO_WITNESSES``)."""
    from graph.verify import WitnessPolicy  # the one reading of a witness spec

    items = specs.split() if isinstance(specs, str) else [str(v) for v in specs]
    return tuple(k.verifier_key() for k in WitnessPolicy.parse(items).witnesses)


def _json_in_html(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")


VERIFY_STEPS = {
    "format": N_("The bundle is a trazo proof bundle"),
    "checkpoint": N_("The ledger's log signed its checkpoint (the key shown below)"),
    "witnesses": N_("Witnesses cosigned the checkpoint"),
    "tables": N_("The rule tables are the ones this page uses"),
    "envelopes": N_("Every record's fingerprint matches its content"),
    "inclusion": N_("Every record is in the log under the checkpoint"),
    "ledger": N_("Every record belongs to this ledger"),
    "signatures": N_("Every record is signed by a key its party holds"),
    "references": N_("Every step builds on an earlier record in the bundle"),
    "privacy": N_("No farm location is in the bundle"),
    "verdict": N_("The certified share, recomputed from the records, matches this page"),
    "prices": N_("The price figures, recomputed from the disclosed payments, match the bundle"),
}
VERIFY_MESSAGES = {
    "running": N_("Checking…"),
    "ok": N_("The proof checks out: every signature, every step and the share above."),
    "failed": N_("The proof does NOT check out. What failed:"),
    "fetch": N_("Could not load the proof bundle. Choose the file you downloaded:"),
    "unknown": N_(
        "Record types this check does not know the rules of (their signatures, chains and"
        " log entries were checked):"
    ),
    "limits": N_("Not checked in the browser (the trazo command checks them):"),
}


NOT_CHECKED_IN_BROWSER = (
    N_("the bundle's JSON Schema beyond its members (each value's type and form)"),
    N_(
        "the value of every field of every event type (this check refuses a field its type does"
        " not define and reads the values the custody and price rules use)"
    ),
    N_(
        "the wording of the verdict's reasons (the shares, fractions and certified parts are"
        " compared)"
    ),
)
"""What ``trazo verify`` checks and the browser does not: verify.js's ``NOT_CHECKED``, in
the page's language (a test holds the two lists together)."""


def verify_texts(lang: str) -> dict[str, Any]:
    """The in-browser check's words in ``lang``, handed to its script as JSON."""
    t = translations(lang).gettext
    return {
        "steps": {k: t(v) for k, v in VERIFY_STEPS.items()},
        **{k: t(v) for k, v in VERIFY_MESSAGES.items()},
        "not_checked": [t(v) for v in NOT_CHECKED_IN_BROWSER],
    }


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
    witnesses: tuple[str, ...] = (),
) -> list[Path]:
    """Write the page in every language, its JSON-LD, QR codes, bundle and in-browser check
    into ``out``; ``witnesses`` are the cosigner keys the check counts."""
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
        write(f"{lang}.html", render_page(model, lang, links, witnesses=witnesses))
    write("index.html", render_page(model, default_lang, links, witnesses=witnesses))
    (out / "js").mkdir(exist_ok=True)
    for script in SCRIPTS:
        write(f"js/{script}", (STATIC / "js" / script).read_bytes())
    write("product.jsonld", jsonld_text(model, links))
    write("qr.svg", qr_svg(links.page))
    write("qr.png", qr_png(links.page))
    write("bundle.json", json.dumps(bundle, indent=1) + "\n")
    return written
