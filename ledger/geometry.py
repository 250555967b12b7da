"""Plot geometry: validation and geodesic area of a GeoJSON Point, Polygon or MultiPolygon.

Pure and typed: values in, a :class:`Geometry` or a :class:`GeometryError` out. The
``plot.map`` rule calls it on append and the EUDR export reads geometries through it.

**What a valid geometry is** (RFC 7946 positions in WGS 84, as the EU information system
for the EUDR accepts them):

- a ``Point``, ``Polygon`` or ``MultiPolygon``; a position is ``[longitude, latitude]``
  (an optional third member, the altitude, is allowed and ignored), longitude within
  ±180 and latitude within ±90 degrees;
- payloads carry no floating-point numbers, so a coordinate is a JSON integer or a
  decimal string such as ``"-74.493612"`` (at most 15 decimals);
- a linear ring has at least 4 positions, ends where it starts, has at least 3 distinct
  vertices, and does not intersect itself: no two of its edges cross or touch except
  neighbouring edges at their shared vertex, and no edge folds back onto the previous
  one. Repeated consecutive positions (a GPS receiver standing still) are tolerated and
  ignored. The rings of one polygon must not touch or cross each other, and each hole
  must lie inside the exterior ring. (Overlaps between the polygons of a MultiPolygon
  are not checked.)
- at most :data:`MAX_VERTICES` positions in all.

Intersection tests are exact: coordinates are scaled to integers (10^15 per degree) and
orientations computed in integer arithmetic, so no epsilon decides validity. A sweep over
the edges sorted by longitude keeps the test near O(n log n) for plot-shaped rings
(O(n²) at worst).

**Area.** :func:`area_m2` is the area on the WGS 84 ellipsoid, computed by mapping each
vertex to its authalic latitude (the sphere of radius R_q = 6 371 007.2 m that has the
ellipsoid's area and an equal-area correspondence with it) and integrating
``A = a²/2 · ∮ q(φ) dλ`` edge by edge with the trapezoid rule. The only approximation
is the edge path (a straight line in (λ, sin β) instead of the ellipsoidal geodesic);
for plot-sized polygons (edges under a few kilometres) its relative error is below
1e-6, far below GPS error. Edges along a meridian or a parallel are integrated exactly,
so a 1° × 1° cell at the equator comes out at its exact ellipsoidal area, 12 308.46 km².

**Area rule** (:func:`check_area`): a plot enrolled with :data:`POLYGON_FROM_HA` (4 ha)
or more must be mapped as a polygon (EUDR Art. 2(28)); a polygon's area must agree with
the enrolled area within ``AREA_TOLERANCE × enrolled + AREA_SLACK_HA`` — 25 % plus
0.1 ha. The 25 % covers a GPS walk's error (5 m of receiver error along the perimeter
of a 4 ha plot is about 10 % of its area) plus the rounding of enrolled areas, which
cooperatives record to a tenth of a hectare or from the farmer's own estimate; the
0.1 ha keeps small plots (under 1 ha, where GPS error dominates) from failing on noise.
A polygon several times larger than the enrolled plot is what the rule is for: it means
the wrong plot, the wrong units, or an area declared small to pass as a smallholding.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = [
    "AREA_SLACK_HA",
    "AREA_TOLERANCE",
    "AUTHALIC_RADIUS_M",
    "GEOMETRY_TYPES",
    "MAX_VERTICES",
    "POLYGON_FROM_HA",
    "Geometry",
    "GeometryError",
    "Position",
    "area_ha",
    "area_m2",
    "check_area",
    "decimals",
    "parse_geometry",
]

GEOMETRY_TYPES = ("Point", "Polygon", "MultiPolygon")
MAX_VERTICES = 5_000
POLYGON_FROM_HA = Decimal("4")
AREA_TOLERANCE = Decimal("0.25")
AREA_SLACK_HA = Decimal("0.1")

# WGS 84
_A = 6_378_137.0
_F = 1 / 298.257223563
_E2 = _F * (2 - _F)
_E = math.sqrt(_E2)
AUTHALIC_RADIUS_M = 6_371_007.2
"""R_q of WGS 84, quoted for the documentation; the area formula uses a and e directly."""

_COORDINATE = re.compile(r"-?(?:0|[1-9][0-9]{0,2})(?:\.[0-9]{1,15})?")
_SCALE = Decimal(10) ** 15

Position = tuple[Decimal, Decimal]
"""(longitude, latitude) in degrees, exactly as signed."""
Ring = tuple[Position, ...]
Polygon = tuple[Ring, ...]


class GeometryError(ValueError):
    """A geometry that is not valid; ``field`` is the path of the offending member."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Geometry:
    """A validated geometry: a point, or polygons (a Polygon is one of them)."""

    type: str
    point: Position | None
    polygons: tuple[Polygon, ...]

    @property
    def is_point(self) -> bool:
        return self.point is not None

    def positions(self) -> list[Position]:
        if self.point is not None:
            return [self.point]
        return [p for polygon in self.polygons for ring in polygon for p in ring]


# --- parsing ------------------------------------------------------------------------------


def parse_geometry(value: Any, name: str = "geometry") -> Geometry:
    """Check ``value`` (a GeoJSON geometry object from a payload) and return it parsed.

    Raises :class:`GeometryError` naming the first offending member (``name`` is the
    path prefix, e.g. ``geometry``).
    """
    if not isinstance(value, dict):
        raise GeometryError("a geometry is a GeoJSON object {type, coordinates}", name)
    unknown = sorted(set(value) - {"type", "coordinates"})
    if unknown:
        raise GeometryError(
            "unknown field; allowed here: coordinates, type", f"{name}.{unknown[0]}"
        )
    kind = value.get("type")
    if kind not in GEOMETRY_TYPES:
        raise GeometryError(
            f"geometry type must be one of {', '.join(GEOMETRY_TYPES)}, got {kind!r}",
            f"{name}.type",
        )
    if "coordinates" not in value:
        raise GeometryError("missing field", f"{name}.coordinates")
    coordinates = value["coordinates"]
    where = f"{name}.coordinates"
    if kind == "Point":
        return Geometry("Point", _position(coordinates, where), ())
    polygons: tuple[Polygon, ...]
    if kind == "Polygon":
        polygons = (_polygon(coordinates, where),)
    else:
        if not isinstance(coordinates, list) or not coordinates:
            raise GeometryError("a MultiPolygon is a non-empty array of polygons", where)
        polygons = tuple(_polygon(p, f"{where}[{i}]") for i, p in enumerate(coordinates))
    count = sum(len(ring) for polygon in polygons for ring in polygon)
    if count > MAX_VERTICES:
        raise GeometryError(
            f"{count} positions; a plot geometry holds at most {MAX_VERTICES}", where
        )
    for i, polygon in enumerate(polygons):
        _check_polygon(polygon, where if kind == "Polygon" else f"{where}[{i}]")
    return Geometry(str(kind), None, polygons)


def _coordinate(value: Any, *, limit: int, field: str) -> Decimal:
    integer = isinstance(value, int) and not isinstance(value, bool)
    if integer or (isinstance(value, str) and _COORDINATE.fullmatch(value)):
        number = Decimal(value)
    else:
        raise GeometryError(
            f'a coordinate is an integer or a decimal string such as "-74.493612", got {value!r}',
            field,
        )
    if abs(number) > limit:
        raise GeometryError(f"must lie within ±{limit} degrees, got {value}", field)
    return number


def _position(value: Any, field: str) -> Position:
    if not isinstance(value, list) or len(value) not in (2, 3):
        raise GeometryError("a position is [longitude, latitude] (WGS 84)", field)
    if len(value) == 3:
        _altitude(value[2], f"{field}[2]")
    return (
        _coordinate(value[0], limit=180, field=f"{field}[0]"),
        _coordinate(value[1], limit=90, field=f"{field}[1]"),
    )


def _altitude(value: Any, field: str) -> None:
    integer = isinstance(value, int) and not isinstance(value, bool)
    if not integer and not (
        isinstance(value, str) and re.fullmatch(r"-?(?:0|[1-9][0-9]{0,4})(?:\.[0-9]{1,6})?", value)
    ):
        raise GeometryError("an altitude is an integer or a decimal string (metres)", field)


def _polygon(value: Any, field: str) -> Polygon:
    if not isinstance(value, list) or not value:
        raise GeometryError("a polygon is a non-empty array of linear rings", field)
    rings = []
    for r, ring in enumerate(value):
        where = f"{field}[{r}]"
        if not isinstance(ring, list) or len(ring) < 4:
            raise GeometryError("a linear ring has at least 4 positions", where)
        positions = tuple(_position(p, f"{where}[{i}]") for i, p in enumerate(ring))
        if positions[0] != positions[-1]:
            raise GeometryError(
                "a linear ring must be closed: its last position must repeat the first", where
            )
        if len(set(positions)) < 3:
            raise GeometryError("a linear ring needs at least 3 distinct positions", where)
        for i in range(len(positions) - 1):
            if abs(positions[i + 1][0] - positions[i][0]) > 180:
                raise GeometryError(
                    "an edge crosses the antimeridian (longitude ±180°): split the plot"
                    " into a MultiPolygon on each side (RFC 7946 §3.1.9)",
                    f"{where}[{i + 1}]",
                )
        rings.append(positions)
    return tuple(rings)


# --- validity: self-intersection ----------------------------------------------------------

_Point = tuple[int, int]
_Edge = tuple[_Point, _Point, int, int]  # a, b, ring number, edge number in the ring


def _scaled(p: Position) -> _Point:
    return (int(p[0] * _SCALE), int(p[1] * _SCALE))


def _vertices(ring: Ring) -> tuple[list[_Point], list[int]]:
    """The ring's distinct consecutive vertices, scaled, and their positions in the ring.

    The closing repeat and consecutive repeats are dropped.
    """
    out: list[_Point] = []
    where: list[int] = []
    for i, p in enumerate(ring[:-1]):
        s = _scaled(p)
        if not out or out[-1] != s:
            out.append(s)
            where.append(i)
    while len(out) > 1 and out[-1] == out[0]:
        out.pop()
        where.pop()
    return out, where


def _check_polygon(polygon: Polygon, field: str) -> None:
    edges: list[_Edge] = []
    rings = []
    starts = []
    for r, ring in enumerate(polygon):
        vertices, where = _vertices(ring)
        starts.append(where)
        if len(vertices) < 3:
            raise GeometryError(
                "a linear ring needs at least 3 distinct positions", f"{field}[{r}]"
            )
        rings.append(vertices)
        n = len(vertices)
        for i in range(n):
            edges.append((vertices[i], vertices[(i + 1) % n], r, i))
    for r, vertices in enumerate(rings):
        _check_folds(vertices, starts[r], f"{field}[{r}]")
    crossing = _first_crossing(edges, [len(v) for v in rings])
    if crossing is not None:
        e, f = crossing
        if e[2] == f[2]:
            raise GeometryError(
                f"the ring intersects itself: the edge from position {starts[e[2]][e[3]]}"
                f" crosses or touches the edge from position {starts[f[2]][f[3]]}",
                f"{field}[{e[2]}]",
            )
        raise GeometryError(f"ring {e[2]} and ring {f[2]} of the polygon touch or cross", field)
    for r in range(1, len(rings)):
        if not _inside(rings[r][0], rings[0]):
            raise GeometryError(
                "a hole (inner ring) must lie inside the exterior ring", f"{field}[{r}]"
            )


def _orient(a: _Point, b: _Point, c: _Point) -> int:
    v = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    return (v > 0) - (v < 0)


def _on_segment(a: _Point, b: _Point, p: _Point) -> bool:
    """``p`` (collinear with a–b) lies within the segment's bounding box."""
    return min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])


def _segments_meet(a: _Point, b: _Point, c: _Point, d: _Point) -> bool:
    """Closed segments a–b and c–d share at least one point (exact)."""
    o1, o2, o3, o4 = _orient(a, b, c), _orient(a, b, d), _orient(c, d, a), _orient(c, d, b)
    if o1 != o2 and o3 != o4 and 0 not in (o1, o2, o3, o4):
        return True
    return (
        (o1 == 0 and _on_segment(a, b, c))
        or (o2 == 0 and _on_segment(a, b, d))
        or (o3 == 0 and _on_segment(c, d, a))
        or (o4 == 0 and _on_segment(c, d, b))
    )


def _check_folds(vertices: list[_Point], starts: list[int], field: str) -> None:
    """Neighbouring edges may share their vertex, but not run back over each other."""
    n = len(vertices)
    for i in range(n):
        p, q, r = vertices[i - 1], vertices[i], vertices[(i + 1) % n]
        if (
            _orient(p, q, r) == 0
            and ((p[0] - q[0]) * (r[0] - q[0]) + (p[1] - q[1]) * (r[1] - q[1])) > 0
        ):
            raise GeometryError(
                f"the ring folds back on itself at position {starts[i]} (a spike: two edges"
                " overlap)",
                field,
            )


def _adjacent(e: _Edge, f: _Edge, sizes: Sequence[int]) -> bool:
    if e[2] != f[2]:
        return False
    n = sizes[e[2]]
    return (e[3] + 1) % n == f[3] or (f[3] + 1) % n == e[3]


def _first_crossing(edges: list[_Edge], sizes: Sequence[int]) -> tuple[_Edge, _Edge] | None:
    """Two non-neighbouring edges that meet, by a sweep along the longitude axis."""
    order = sorted(edges, key=lambda e: min(e[0][0], e[1][0]))
    active: list[_Edge] = []
    for edge in order:
        xmin = min(edge[0][0], edge[1][0])
        active = [a for a in active if max(a[0][0], a[1][0]) >= xmin]
        ylo, yhi = sorted((edge[0][1], edge[1][1]))
        for other in active:
            if max(other[0][1], other[1][1]) < ylo or min(other[0][1], other[1][1]) > yhi:
                continue
            if _adjacent(edge, other, sizes):
                continue  # shares its vertex; folds are checked apart
            if _segments_meet(edge[0], edge[1], other[0], other[1]):
                first, second = sorted((edge, other), key=lambda e: (e[2], e[3]))
                return first, second
        active.append(edge)
    return None


def _inside(p: _Point, ring: list[_Point]) -> bool:
    """Even-odd rule; ``p`` is known not to lie on the ring (the rings do not touch)."""
    inside = False
    n = len(ring)
    for i in range(n):
        a, b = ring[i], ring[(i + 1) % n]
        if (a[1] > p[1]) != (b[1] > p[1]):
            # x of the edge at p's latitude, compared without division
            lhs = (p[0] - a[0]) * (b[1] - a[1])
            rhs = (b[0] - a[0]) * (p[1] - a[1])
            if (lhs < rhs) == (b[1] > a[1]):
                inside = not inside
    return inside


# --- area --------------------------------------------------------------------------------


def _q(lat_deg: float) -> float:
    """Snyder's q(φ) for WGS 84 (authalic latitude: sin β = q / q_p)."""
    s = math.sin(math.radians(lat_deg))
    return (1 - _E2) * (
        s / (1 - _E2 * s * s) - (1 / (2 * _E)) * math.log((1 - _E * s) / (1 + _E * s))
    )


def _ring_area_m2(ring: Ring) -> float:
    lons = [float(lon) for lon, _ in ring]
    qs = [_q(float(lat)) for _, lat in ring]
    q0 = qs[0]  # Σ Δλ = 0, so subtracting q0 changes nothing but the rounding error
    total = 0.0
    for i in range(len(ring) - 1):
        dlon = lons[i + 1] - lons[i]  # no edge crosses the antimeridian (refused above)
        total += math.radians(dlon) * ((qs[i] - q0) + (qs[i + 1] - q0)) / 2
    return abs(total) * _A * _A / 2


def area_m2(geometry: Geometry) -> float:
    """The geometry's area on the WGS 84 ellipsoid in m² (0 for a point); holes subtract."""
    total = 0.0
    for polygon in geometry.polygons:
        outer, *holes = polygon
        total += _ring_area_m2(outer) - sum(_ring_area_m2(h) for h in holes)
    return total


def area_ha(geometry: Geometry) -> Decimal:
    """:func:`area_m2` in hectares, to 4 decimals (1 m²)."""
    return Decimal(repr(area_m2(geometry) / 10_000)).quantize(Decimal("0.0001"))


def check_area(geometry: Geometry, enrolled_ha: Decimal, name: str = "geometry") -> None:
    """The area rule: a polygon from 4 ha; a polygon's area agrees with the enrolled area.

    Raises :class:`GeometryError` with the numbers that disagree.
    """
    if geometry.is_point:
        if enrolled_ha >= POLYGON_FROM_HA:
            raise GeometryError(
                f"the plot is enrolled with {enrolled_ha} ha: a plot of {POLYGON_FROM_HA} ha"
                " or more must be mapped as a Polygon or MultiPolygon of its perimeter,"
                " not a Point (EUDR Art. 2(28))",
                f"{name}.type",
            )
        return
    measured = area_ha(geometry)
    allowed = enrolled_ha * AREA_TOLERANCE + AREA_SLACK_HA
    if abs(measured - enrolled_ha) > allowed:
        raise GeometryError(
            f"the polygon's geodesic area is {measured.normalize():f} ha but the plot is"
            f" enrolled with {enrolled_ha} ha: they may differ by at most"
            f" {allowed.normalize():f} ha ({AREA_TOLERANCE * 100:.0f} % + {AREA_SLACK_HA}"
            " ha)",
            f"{name}.coordinates",
        )


def decimals(geometry: Geometry) -> int:
    """The fewest decimals any coordinate of the geometry is given to."""
    fewest = 15
    for lon, lat in geometry.positions():
        for c in (lon, lat):
            exponent = c.as_tuple().exponent
            assert isinstance(exponent, int)
            fewest = min(fewest, max(0, -exponent))
    return fewest
