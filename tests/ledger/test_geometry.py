"""Plot geometry: validity, geodesic area, and the area rule at ``plot.map``."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest

from ledger import geometry
from ledger.errors import InvalidEvent
from ledger.geometry import GeometryError, area_m2, check_area, parse_geometry
from ledger.schema import PlotRow
from tests.graph import chains
from tests.support import World

D = Decimal
LAT, LON = -11.429711, -74.493612


def square(hectares: float, lat: float = LAT, lon: float = LON) -> list[list[str]]:
    """A closed, counter-clockwise square ring of about ``hectares``, 6-decimal strings."""
    side = math.sqrt(hectares * 10_000)
    dlat = side / 110_600
    dlon = side / (111_320 * math.cos(math.radians(lat)))
    corners = [(lon, lat), (lon + dlon, lat), (lon + dlon, lat + dlat), (lon, lat + dlat)]
    ring = [[f"{x:.6f}", f"{y:.6f}"] for x, y in corners]
    return [*ring, ring[0]]


def polygon(*rings: list[list[Any]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": list(rings)}


POINT = {"type": "Point", "coordinates": ["-74.493612", "-11.429711"]}


# --- validity ---------------------------------------------------------------------------------


def test_a_valid_point() -> None:
    g = parse_geometry(POINT)
    assert g.point == (D("-74.493612"), D("-11.429711"))
    assert area_m2(g) == 0
    check_area(g, D("2.4"))


def test_a_valid_polygon() -> None:
    g = parse_geometry(polygon(square(6)))
    assert g.type == "Polygon" and len(g.polygons[0][0]) == 5
    assert abs(area_m2(g) / 10_000 - 6) < 0.01
    check_area(g, D("6"))


def test_a_valid_multipolygon_and_a_polygon_with_a_hole() -> None:
    far = square(3, lat=LAT + 0.01)
    g = parse_geometry({"type": "MultiPolygon", "coordinates": [[square(3)], [far]]})
    assert abs(area_m2(g) / 10_000 - 6) < 0.01
    outer = [[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]]
    hole = [[1, 1], [1, 2], [2, 2], [2, 1], [1, 1]]
    with_hole = parse_geometry(polygon(outer, hole))
    without = parse_geometry(polygon(outer))
    assert area_m2(with_hole) < area_m2(without)


INVALID = [
    (
        "open ring",
        polygon([["0", "0"], ["0.001", "0"], ["0.001", "0.001"], ["0", "0.001"]]),
        "geometry.coordinates[0]",
        "closed",
    ),
    (
        "self-intersecting ring (a bow tie)",
        polygon([["0", "0"], ["0.001", "0.001"], ["0.001", "0"], ["0", "0.001"], ["0", "0"]]),
        "geometry.coordinates[0]",
        "intersects itself",
    ),
    (
        "ring touching itself at a vertex",
        polygon([[0, 0], [2, 0], [2, 2], [1, 0], [0, 2], [0, 0]]),
        "geometry.coordinates[0]",
        "intersects itself",
    ),
    (
        "ring folding back on itself",
        polygon([[0, 0], [1, 0], [2, 0], [1, 0], [0, 0]]),
        "geometry.coordinates[0]",
        "folds back",
    ),
    (
        "longitude out of range",
        {"type": "Point", "coordinates": ["-190.5", "0"]},
        "geometry.coordinates[0]",
        "±180",
    ),
    (
        "latitude out of range",
        {"type": "Point", "coordinates": ["10", "91"]},
        "geometry.coordinates[1]",
        "±90",
    ),
    (
        "latitude out of range in a ring",
        polygon([[0, 89], [1, 89], [1, 95], [0, 89]]),
        "geometry.coordinates[0][2][1]",
        "±90",
    ),
    (
        "float coordinate",
        {"type": "Point", "coordinates": [-74.5, -11.4]},
        "geometry.coordinates[0]",
        "decimal string",
    ),
    (
        "line string",
        {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
        "geometry.type",
        "one of",
    ),
    (
        "hole outside the exterior",
        polygon([[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]], [[5, 5], [5, 6], [6, 6], [6, 5], [5, 5]]),
        "geometry.coordinates[1]",
        "inside the exterior",
    ),
    (
        "rings crossing each other",
        polygon([[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]], [[3, 3], [3, 5], [5, 5], [5, 3], [3, 3]]),
        "geometry.coordinates",
        "touch or cross",
    ),
]


@pytest.mark.parametrize(("case", "value", "field", "words"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_geometries_name_the_problem(
    case: str, value: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(GeometryError) as info:
        parse_geometry(value)
    assert info.value.field == field
    assert words in info.value.message


def test_too_many_vertices() -> None:
    ring = [
        [f"{math.cos(2 * math.pi * k / 6000):.6f}", f"{math.sin(2 * math.pi * k / 6000):.6f}"]
        for k in range(6000)
    ]
    with pytest.raises(GeometryError, match="at most 5000"):
        parse_geometry(polygon([*ring, ring[0]]))


def test_a_large_plot_ring_is_validated_quickly() -> None:
    n = 4000  # a fine-grained GPS walk
    ring = [
        [
            f"{LON + 0.002 * math.cos(2 * math.pi * k / n):.9f}",
            f"{LAT + 0.002 * math.sin(2 * math.pi * k / n):.9f}",
        ]
        for k in range(n)
    ]
    g = parse_geometry(polygon([*ring, ring[0]]))
    assert g.type == "Polygon"


# --- area ------------------------------------------------------------------------------------


def test_geodesic_area_of_a_degree_cell_matches_the_ellipsoid() -> None:
    # exact WGS 84 area between the equator and 1°N over 1° of longitude: 12 308.46 km²
    cell = parse_geometry(polygon([[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]))
    assert area_m2(cell) / 1e6 == pytest.approx(12_308.46, abs=0.01)
    # orientation does not matter
    reverse = parse_geometry(polygon([[0, 0], [0, 1], [1, 1], [1, 0], [0, 0]]))
    assert area_m2(reverse) == pytest.approx(area_m2(cell))


def test_a_polygon_far_larger_than_its_declared_area() -> None:
    g = parse_geometry(polygon(square(60)))
    with pytest.raises(GeometryError) as info:
        check_area(g, D("2.4"))
    assert "enrolled with 2.4 ha" in info.value.message
    assert "geodesic area is 60" in info.value.message


def test_area_tolerance_is_25_percent_plus_a_tenth_of_a_hectare() -> None:
    check_area(parse_geometry(polygon(square(7.4))), D("6"))  # +23 %
    check_area(parse_geometry(polygon(square(4.6))), D("6"))  # -23 %
    with pytest.raises(GeometryError):
        check_area(parse_geometry(polygon(square(7.8))), D("6"))  # +30 %
    check_area(parse_geometry(polygon(square(0.3))), D("0.2"))  # small: the 0.1 ha slack


def test_a_six_hectare_plot_given_as_a_point() -> None:
    with pytest.raises(GeometryError) as info:
        check_area(parse_geometry(POINT), D("6"))
    assert info.value.field == "geometry.type"
    assert "Polygon" in info.value.message and "6 ha" in info.value.message


def test_decimals_are_counted() -> None:
    assert geometry.decimals(parse_geometry(POINT)) == 6
    assert geometry.decimals(parse_geometry({"type": "Point", "coordinates": ["-74.49", 3]})) == 0


# --- at plot.map -------------------------------------------------------------------------------


BIG_MEMBER, BIG_PLOT = f"{chains.COOP}:m-6", f"{chains.COOP}:p-6"


@pytest.fixture
def coffee(sqlite_world: World) -> chains.Coffee:
    c = chains.base(sqlite_world)
    c.enroll(chains.COOP, BIG_MEMBER, BIG_PLOT, "6")
    return c


def _plot_map(plot: str, geometry_: dict[str, Any]) -> dict[str, Any]:
    return {"type": "plot.map", "plot": plot, "method": "gps-walk", "geometry": geometry_}


def test_plot_map_accepts_a_point_and_a_matching_polygon(coffee: chains.Coffee) -> None:
    point = coffee.append(chains.COOP, _plot_map(chains.P1, POINT))
    poly = coffee.append(chains.COOP, _plot_map(BIG_PLOT, polygon(square(6.2))))
    with coffee.store.reading() as session:
        assert session.get(PlotRow, chains.P1).map_event == point
        assert session.get(PlotRow, BIG_PLOT).map_event == poly


@pytest.mark.parametrize(
    ("plot", "value", "field", "words"),
    [
        (BIG_PLOT, POINT, "geometry.type", "must be mapped as a Polygon"),
        (chains.P1, polygon(square(60)), "geometry.coordinates", "enrolled with 2.4 ha"),
        (
            chains.P1,
            polygon([["0", "0"], ["0.001", "0.001"], ["0.001", "0"], ["0", "0.001"], ["0", "0"]]),
            "geometry.coordinates[0]",
            "intersects itself",
        ),
        (
            chains.P1,
            {"type": "Point", "coordinates": ["-74.49", "-91"]},
            "geometry.coordinates[1]",
            "±90",
        ),
    ],
    ids=["6 ha as a point", "far too large", "self-intersecting", "out of range"],
)
def test_plot_map_rejects_invalid_geometry_naming_the_plot(
    coffee: chains.Coffee, plot: str, value: dict[str, Any], field: str, words: str
) -> None:
    size = coffee.store.size()
    chain = coffee.world.chains[chains.COOP]
    seq, prev = chain.seq, chain.prev
    with pytest.raises(InvalidEvent) as info:
        coffee.append(chains.COOP, _plot_map(plot, value))
    chain.seq, chain.prev = seq, prev
    assert coffee.store.size() == size
    assert info.value.field == field
    assert f"plot {plot!r}" in info.value.message and words in info.value.message


def test_an_edge_across_the_antimeridian_is_refused() -> None:
    from ledger.geometry import GeometryError, parse_geometry

    ring = [
        ["179.999", "-17.0"],
        ["-179.999", "-17.0"],
        ["-179.999", "-17.001"],
        ["179.999", "-17.001"],
        ["179.999", "-17.0"],
    ]
    with pytest.raises(GeometryError, match="antimeridian"):
        parse_geometry({"type": "Polygon", "coordinates": [ring]})
