"""Build ``outlines.json`` (country outlines for the page's maps) from Natural Earth.

Source: Natural Earth 1:50m Admin 0 countries, version 4.1.0 (public domain,
naturalearthdata.com), as redistributed in TopoJSON by the npm package ``world-atlas``
2.0.2 (ISC licence), file ``countries-50m.json``. Fetch it with ``npm pack world-atlas@2.0.2``
and run::

    python api/pages/data/make_outlines.py package/countries-50m.json > api/pages/data/outlines.json

Each country becomes its rings (outer rings only, no holes) simplified with
Douglas-Peucker at 0.05° and rounded to 0.1°: the same coarse grid as the page's positions,
so an outline never carries more precision than the page shows. Coordinates are stored as
integers in tenths of a degree, ``[lon, lat, lon, lat, …]`` per ring. Countries are keyed by
ISO 3166-1 alpha-2 code, matched by their English names (Babel's CLDR names plus the
abbreviations Natural Earth uses); territories that match no code are left out.
Not imported by trazo: a build step kept beside its output.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from babel import Locale

ALIASES = {
    "United States of America": "US",
    "Dominican Rep.": "DO",
    "Dem. Rep. Congo": "CD",
    "Congo": "CG",
    "Central African Rep.": "CF",
    "Eq. Guinea": "GQ",
    "S. Sudan": "SS",
    "Bosnia and Herz.": "BA",
    "Czechia": "CZ",
    "Macedonia": "MK",
    "eSwatini": "SZ",
    "Côte d'Ivoire": "CI",
    "Solomon Is.": "SB",
    "Timor-Leste": "TL",
    "Myanmar": "MM",
    "Laos": "LA",
    "Vietnam": "VN",
    "Russia": "RU",
    "Syria": "SY",
    "Iran": "IR",
    "South Korea": "KR",
    "North Korea": "KP",
    "Taiwan": "TW",
    "Tanzania": "TZ",
    "Bolivia": "BO",
    "Venezuela": "VE",
    "Moldova": "MD",
    "Brunei": "BN",
    "Cabo Verde": "CV",
    "São Tomé and Principe": "ST",
    "Palestine": "PS",
    "W. Sahara": "EH",
    "Falkland Is.": "FK",
    "Trinidad and Tobago": "TT",
    "Turkey": "TR",
    "Micronesia": "FM",
    "Puerto Rico": "PR",
    "Antigua and Barb.": "AG",
    "St. Kitts and Nevis": "KN",
    "St. Vin. and Gren.": "VC",
    "Saint Lucia": "LC",
    "Fr. Polynesia": "PF",
    "New Caledonia": "NC",
    "Greenland": "GL",
}


def decode(topology: dict[str, Any]) -> dict[str, list[list[tuple[float, float]]]]:
    sx, sy = topology["transform"]["scale"]
    tx, ty = topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x += dx
            y += dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)

    def ring(indexes: list[int]) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        for i in indexes:
            points = arcs[i] if i >= 0 else arcs[~i][::-1]
            out.extend(points if not out else points[1:])
        return out

    names = {v: k for k, v in Locale("en").territories.items() if len(k) == 2}
    countries: dict[str, list[list[tuple[float, float]]]] = {}
    for geometry in topology["objects"]["countries"]["geometries"]:
        name = geometry["properties"]["name"]
        code = ALIASES.get(name) or names.get(name)
        if code is None or geometry.get("type") not in ("Polygon", "MultiPolygon"):
            continue
        polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
        countries.setdefault(code, []).extend(ring(polygon[0]) for polygon in polygons)
    return countries


def simplify(points: list[tuple[float, float]], tolerance: float) -> list[tuple[float, float]]:
    if len(points) < 3:
        return points
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        a, b = stack.pop()
        (x1, y1), (x2, y2) = points[a], points[b]
        best, at = 0.0, -1
        for i in range(a + 1, b):
            x0, y0 = points[i]
            dx, dy = x2 - x1, y2 - y1
            length = (dx * dx + dy * dy) ** 0.5
            d = (
                abs(dy * x0 - dx * y0 + x2 * y1 - y2 * x1) / length
                if length
                else ((x0 - x1) ** 2 + (y0 - y1) ** 2) ** 0.5
            )
            if d > best:
                best, at = d, i
        if best > tolerance:
            keep[at] = True
            stack.extend([(a, at), (at, b)])
    return [p for p, k in zip(points, keep, strict=True) if k]


def main(path: str) -> None:
    with open(path, encoding="utf-8") as f:
        topology = json.load(f)
    out: dict[str, list[list[int]]] = {}
    for code, rings in sorted(decode(topology).items()):
        for ring in rings:
            tenths: list[tuple[int, int]] = []
            for lon, lat in simplify(ring, 0.05):
                point = (round(lon * 10), round(lat * 10))
                if not tenths or tenths[-1] != point:
                    tenths.append(point)
            if len(set(tenths)) >= 3:
                out.setdefault(code, []).append([v for p in tenths for v in p])
    document = {
        "source": "Natural Earth 1:50m Admin 0 countries v4.1.0 (public domain), via the npm"
        " package world-atlas 2.0.2; simplified at 0.05 degree and rounded to 0.1 degree by"
        " api/pages/data/make_outlines.py",
        "unit": "tenths of a degree, [lon, lat, lon, lat, ...] per outer ring",
        "countries": out,
    }
    json.dump(document, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
