"""EUDR readiness, the GeoJSON and due-diligence exports, and the traceability spreadsheet."""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook

from graph.ancestry import gather
from graph.eudr import dumps, feature_collection, lot_eudr, parse_dds
from graph.export_trace import COLUMNS, lot_trace_rows, to_csv, to_xlsx
from graph.trace import trace
from tests.graph import chains
from tests.graph.chains import COOP, COOP2, ESTATE, EXPORTER, P1, P2, ROASTER
from tests.ledger.test_geometry import square
from tests.support import World

POINT_P1 = {"type": "Point", "coordinates": ["-74.493612", "-11.429711"]}
POINT_P2 = {"type": "Point", "coordinates": ["-87.691234", "14.312345"]}
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")


# --- a strict GeoJSON check (RFC 7946 + the EU file description) --------------------------------


def check_geojson(text: str) -> dict[str, Any]:
    """Parse ``text`` and check it strictly; returns the parsed document (numbers as text)."""
    doc = json.loads(text, parse_float=str, parse_int=str)
    assert set(doc) == {"type", "features"}
    assert doc["type"] == "FeatureCollection"
    assert isinstance(doc["features"], list)
    for feature in doc["features"]:
        assert set(feature) == {"type", "geometry", "properties"}
        assert feature["type"] == "Feature"
        props = feature["properties"]
        assert isinstance(props, dict)
        assert set(props) <= {"ProducerName", "ProducerCountry", "ProductionPlace", "Area"}
        assert re.fullmatch(r"[A-Z]{2}", props["ProducerCountry"])
        assert isinstance(props["ProductionPlace"], str)
        assert _NUMBER.fullmatch(props["Area"]) and Decimal(props["Area"]) > 0
        g = feature["geometry"]
        assert set(g) == {"type", "coordinates"}
        if g["type"] == "Point":
            _position(g["coordinates"])
        elif g["type"] == "Polygon":
            _polygon(g["coordinates"])
        else:
            assert g["type"] == "MultiPolygon" and g["coordinates"]
            for p in g["coordinates"]:
                _polygon(p)
    # numbers really are JSON numbers in the text, not strings
    assert not re.search(r'"-?[0-9]+\.[0-9]+"', text)
    return doc


def _position(p: Any) -> None:
    assert isinstance(p, list) and len(p) == 2
    for value, limit in zip(p, (180, 90), strict=True):
        assert isinstance(value, str) and _NUMBER.fullmatch(value), value  # a JSON number
        assert len(value.partition(".")[2]) >= 6, f"{value} has fewer than 6 decimals"
        assert abs(Decimal(value)) <= limit


def _polygon(rings: Any) -> None:
    assert isinstance(rings, list) and rings
    for ring in rings:
        assert isinstance(ring, list) and len(ring) >= 4
        for p in ring:
            _position(p)
        assert ring[0] == ring[-1], "ring not closed"


# --- chains -------------------------------------------------------------------------------------


def _map(c: chains.Coffee, plot: str, geometry: dict[str, Any]) -> str:
    return c.append(
        plot.split(":")[0],
        {"type": "plot.map", "plot": plot, "method": "gps", "geometry": geometry},
    )


def _two_spos(c: chains.Coffee) -> str:
    h1 = c.harvest(COOP, f"{COOP}:h-1", "30", chains.M1, P1)
    h2 = c.harvest(COOP2, f"{COOP2}:h-1", "70", chains.M2, P2)
    r1 = chains.to_roaster(c, COOP, f"{COOP}:h-1", h1, "30")
    r2 = chains.to_roaster(c, COOP2, f"{COOP2}:h-1", h2, "70")
    return chains.roast_and_pack(c, [(f"{COOP}:h-1", r1, "30"), (f"{COOP2}:h-1", r2, "70")], "100")


@pytest.fixture
def mapped(world: World) -> tuple[chains.Coffee, str]:
    """SPP coffee from two SPOs, every plot mapped (P1 twice: the second map is current)."""
    c = chains.base(world)
    _map(c, P1, {"type": "Point", "coordinates": ["-74.5", "-11.4"]})
    _map(c, P1, POINT_P1)
    _map(c, P2, POINT_P2)
    return c, _two_spos(c)


def test_fully_mapped_spp_coffee_is_eudr_ready(mapped: tuple[chains.Coffee, str]) -> None:
    c, bag = mapped
    report = lot_eudr(c.store, bag)
    assert report and report.ready
    data = report.to_dict()
    assert data["eudr_ready"] is True
    assert data["geolocated_percent"] == "100.00"
    assert data["not_geolocated"] == []
    assert data["countries_of_production"] == ["HN", "PE"]
    assert data["commodity"] == "coffee" and data["form"] == "packed"
    assert data["hs_code"] == "090121"
    assert data["quantity"] == {"net_mass_kg": "80"}
    assert data["harvest_period"]["from"] is not None
    assert data["harvest_period"]["from"] <= data["harvest_period"]["until"]
    assert [p["plot"] for p in data["plots"]] == sorted([P1, P2])
    assert {p["plot"]: p["area_ha"] for p in data["plots"]} == {P1: "2.4", P2: "3.0"}
    assert all(p["member_since_before_cutoff"] for p in data["plots"])
    assert [p["id"] for p in data["producers"]] == [COOP2, COOP]
    assert [p["id"] for p in data["suppliers"]] == [ROASTER]  # shipped to the brand
    assert "coordinates" not in json.dumps(data)  # the report carries no geometry


def test_geojson_export_holds_exactly_the_contributing_plots(
    mapped: tuple[chains.Coffee, str],
) -> None:
    c, bag = mapped
    c.enroll(COOP, f"{COOP}:m-x", f"{COOP}:p-x", "1.0")  # mapped, but not in this lot
    _map(c, f"{COOP}:p-x", {"type": "Point", "coordinates": ["-74.4", "-11.3"]})
    text = dumps(feature_collection(lot_eudr(c.store, bag)))
    doc = check_geojson(text)
    places = sorted(f["properties"]["ProductionPlace"] for f in doc["features"])
    assert places == sorted([P1, P2])
    by_plot = {f["properties"]["ProductionPlace"]: f for f in doc["features"]}
    assert by_plot[P1]["geometry"] == {"type": "Point", "coordinates": ["-74.493612", "-11.429711"]}
    assert by_plot[P1]["properties"]["ProducerCountry"] == "PE"
    assert by_plot[P2]["properties"]["ProducerCountry"] == "HN"
    assert by_plot[P1]["properties"]["Area"] == "2.4"
    assert "m-1" not in text and "m-7" not in text  # no member ids


def test_geojson_polygon_and_padded_decimals(world: World) -> None:
    c = chains.base(world)
    c.enroll(COOP, f"{COOP}:m-6", f"{COOP}:p-6", "6")
    _map(c, f"{COOP}:p-6", {"type": "Polygon", "coordinates": [square(6)]})
    _map(c, P1, {"type": "Point", "coordinates": ["-74.49", "-11"]})  # few decimals
    h1 = c.harvest(COOP, f"{COOP}:h-1", "50", chains.M1, P1)
    h2 = c.harvest(COOP, f"{COOP}:h-6", "50", f"{COOP}:m-6", f"{COOP}:p-6")
    blend = c.transform(
        COOP,
        "blend",
        [(f"{COOP}:h-1", h1, "50"), (f"{COOP}:h-6", h2, "50")],
        [(f"{COOP}:blend-1", "green", "100")],
    )
    assert blend
    report = lot_eudr(c.store, f"{COOP}:blend-1")
    assert report.ready
    doc = check_geojson(dumps(feature_collection(report), indent=2))
    kinds = {f["properties"]["ProductionPlace"]: f["geometry"]["type"] for f in doc["features"]}
    assert kinds == {P1: "Point", f"{COOP}:p-6": "Polygon"}
    point = next(f for f in doc["features"] if f["geometry"]["type"] == "Point")
    assert point["geometry"]["coordinates"] == ["-74.490000", "-11.000000"]
    assert any("6 decimals" in w and P1 in w for w in report.warnings())


def test_a_blend_with_an_unmapped_share_is_not_ready_and_names_it(world: World) -> None:
    c = chains.base(world)
    _map(c, P1, POINT_P1)  # P2 (coop-marcala) is never mapped
    bag = _two_spos(c)
    report = lot_eudr(c.store, bag)
    assert not report
    data = report.to_dict()
    assert data["eudr_ready"] is False
    assert data["geolocated_percent"] == "30.00"
    [missing] = data["not_geolocated"]
    assert missing["plot"] == P2 and missing["source"] == COOP2
    assert missing["harvest_lot"] == f"{COOP2}:h-1"
    assert missing["percent"] == "70.00" and missing["kg"] == "56.000"
    assert missing["problem"]["code"] == "unmapped"
    assert P2 in missing["problem"]["message"]
    assert [p["plot"] for p in data["plots"]] == [P1]
    doc = check_geojson(dumps(feature_collection(report)))
    assert [f["properties"]["ProductionPlace"] for f in doc["features"]] == [P1]


def test_a_share_of_unknown_origin_blocks_readiness(world: World) -> None:
    c = chains.base(world)
    _map(c, P1, POINT_P1)
    h = c.harvest(COOP, f"{COOP}:h-1", "60", chains.M1, P1)
    e = c.harvest(ESTATE, f"{ESTATE}:h-1", "40")  # an estate harvest naming no plot
    r1 = chains.to_roaster(c, COOP, f"{COOP}:h-1", h, "60")
    r2 = c.move(ESTATE, ROASTER, f"{ESTATE}:h-1", e, "40")
    bag = chains.roast_and_pack(c, [(f"{COOP}:h-1", r1, "60"), (f"{ESTATE}:h-1", r2, "40")], "100")
    report = lot_eudr(c.store, bag)
    assert not report
    [missing] = report.not_geolocated()
    assert missing.problem is not None and missing.problem.code == "no-plot"
    assert missing.share.source == ESTATE and missing.share.percent == Decimal("40.00")
    assert report.to_dict()["countries_of_production"] == ["PE"]


def test_upstream_statement_references_are_listed(world: World) -> None:
    c = chains.base(world)
    _map(c, P1, POINT_P1)
    h = c.harvest(COOP, f"{COOP}:h-1", "100", chains.M1, P1)
    at_exporter = c.move(COOP, EXPORTER, f"{COOP}:h-1", h, "100")
    ship = c.append(
        EXPORTER,
        {
            "type": "ship",
            "to": ROASTER,
            "lots": [{"lot": f"{COOP}:h-1", "event": at_exporter, "quantity": "100", "unit": "kg"}],
            "transactions": [
                {"type": "po", "id": "PO-77"},
                {"type": "eudr-dds", "id": "25PEXW2QF3A1:KZ9T4R2M"},
                {"type": "eudr-dds", "id": "25PEOTHER"},
            ],
        },
    )
    rec = c.receive(ROASTER, ship, [(f"{COOP}:h-1", "100")])
    bag = chains.roast_and_pack(c, [(f"{COOP}:h-1", rec, "100")], "100")
    data = lot_eudr(c.store, bag).to_dict()
    statements = {s["reference"]: s for s in data["upstream_statements"]}
    assert set(statements) == {"25PEXW2QF3A1", "25PEOTHER"}
    good = statements["25PEXW2QF3A1"]
    assert good["verification"] == "KZ9T4R2M" and good["problem"] is None
    assert good["ship_event"] == ship and good["shipper"] == EXPORTER
    assert good["lots"] == [f"{COOP}:h-1"]
    assert "no verification number" in statements["25PEOTHER"]["problem"]
    assert any("25PEOTHER" in w for w in data["warnings"])


def test_customers_are_the_receivers_of_the_lot(world: World) -> None:
    c = chains.base(world)
    _map(c, P1, POINT_P1)
    h = c.harvest(COOP, f"{COOP}:h-1", "100", chains.M1, P1)
    c.move(COOP, EXPORTER, f"{COOP}:h-1", h, "100")
    data = lot_eudr(c.store, f"{COOP}:h-1").to_dict()
    assert data["eudr_ready"] and data["hs_code"] == "090111"
    assert [(x["id"], x["kg"], x["country"]) for x in data["customers"]] == [
        (EXPORTER, "100", "PE")
    ]
    assert data["suppliers"] == []  # the SPO is the producer
    assert data["holder"] == COOP


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("25PEXW2QF3A1:KZ9T4R2M", ("25PEXW2QF3A1", "KZ9T4R2M", None)),
        ("25PEXW2QF3A1", ("25PEXW2QF3A1", None, "no verification number")),
        ("25PE XW", ("25PE XW", None, "not a DDS reference")),
        ("25PE:K Z", ("25PE", None, "verification number")),
    ],
)
def test_dds_transaction_ids(value: str, expected: tuple[Any, ...]) -> None:
    reference, verification, problem = parse_dds(value)
    assert (reference, verification) == expected[:2]
    assert (problem is None) if expected[2] is None else (expected[2] in (problem or ""))


# --- traceability spreadsheet -----------------------------------------------------------------


def _trace_events(store: Any, lot: str) -> list[str]:
    ids: dict[str, int] = {}
    for direction in ("upstream", "downstream"):
        for node in trace(store, lot, direction)["nodes"]:
            if node["kind"] == "event":
                ids[node["id"]] = node["index"]
    return sorted(ids, key=ids.__getitem__)


def test_trace_rows_match_the_trace_event_by_event(mapped: tuple[chains.Coffee, str]) -> None:
    c, _bag = mapped
    lot = f"{ROASTER}:bag-roasted"  # has both an upstream and a downstream
    rows = lot_trace_rows(c.store, lot)
    assert [r.event_id for r in rows] == _trace_events(c.store, lot)
    evidence = {r.id: r for r in gather(c.store, lot)} | {
        r.id: r for r in gather(c.store, lot, direction="downstream")
    }
    for row in rows:
        v = row.values
        record = evidence[v["event_id"]]
        assert v["event_type"] == record.type and v["event_index"] == record.index
        assert v["event_date"] == record.time.isoformat()
    directions = {r.values["event_type"]: r.values["direction"] for r in rows}
    assert directions["transform"] in ("lot", "downstream")
    assert {r.values["direction"] for r in rows} == {"lot", "upstream", "downstream"}
    harvests = [r.values for r in rows if r.values["event_type"] == "harvest"]
    assert {h["plot"] for h in harvests} == {P1, P2}
    assert {(h["from_party"], h["from_country"]) for h in harvests} == {(COOP, "PE"), (COOP2, "HN")}
    ships = [r.values for r in rows if r.values["event_type"] == "ship"]
    assert all(s["to_party"] and s["from_party"] != s["to_party"] for s in ships)
    roast = next(r.values for r in rows if r.values["lot"] == lot)
    assert roast["process"] == "roast" and roast["quantity"] == "80" and roast["unit"] == "kg"
    assert roast["product"] == "coffee" and roast["form"] == "roasted"
    assert f"{COOP}:h-1 (30 kg)" in roast["input_lots"]


def test_csv_and_xlsx_parse_and_hold_the_same_rows(mapped: tuple[chains.Coffee, str]) -> None:
    c, bag = mapped
    rows = lot_trace_rows(c.store, bag)
    expected = _trace_events(c.store, bag)
    parsed = list(csv.DictReader(io.StringIO(to_csv(rows), newline="")))
    assert [p["event_id"] for p in parsed] == expected
    assert list(parsed[0]) == list(COLUMNS)
    book = load_workbook(io.BytesIO(to_xlsx(rows, bag)), read_only=True)
    sheet = book["trace"]
    table = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert tuple(table[0]) == COLUMNS
    assert [r[COLUMNS.index("event_id")] for r in table[1:]] == expected
    assert [r[COLUMNS.index("event_index")] for r in table[1:]] == [
        int(p["event_index"]) for p in parsed
    ]
    for xrow, crow in zip(table[1:], parsed, strict=True):
        assert [("" if v is None else str(v)) for v in xrow] == [crow[k] for k in COLUMNS]


def test_formula_like_text_is_neutralized() -> None:
    """Ids cannot start a formula, but free text (party names, reasons) can."""
    from graph.export_trace import TraceRow

    row = TraceRow({"event_id": "sha256:x", "from_name": '=HYPERLINK("x")', "event_index": 1})
    text = to_csv([row])
    assert "'=HYPERLINK" in text
    cell = load_workbook(io.BytesIO(to_xlsx([row], "l"))).active.cell(
        row=2, column=COLUMNS.index("from_name") + 1
    )
    assert cell.data_type == "s" and cell.value == '=HYPERLINK("x")'


# --- the command line ---------------------------------------------------------------------------


def test_cli_eudr_and_export_trace(sqlite_world: World, tmp_path: Any) -> None:
    from click.testing import CliRunner

    from api.cli.core import main

    c = chains.base(sqlite_world)
    _map(c, P1, POINT_P1)
    bag = _two_spos(c)  # P2 unmapped: not ready
    db = ["--db", sqlite_world.store.url]
    runner = CliRunner()
    out, geo = tmp_path / "dds.json", tmp_path / "plots.geojson"
    result = runner.invoke(main, ["eudr", bag, *db, "-o", str(out), "--geojson", str(geo)])
    assert result.exit_code == 1, result.output
    assert "NOT EUDR-ready" in result.output and P2 in result.output
    assert json.loads(out.read_text())["not_geolocated"][0]["plot"] == P2
    assert len(check_geojson(geo.read_text())["features"]) == 1
    result = runner.invoke(main, ["export-trace", bag, *db, "--format", "csv"])
    assert result.exit_code == 0, result.output
    ids = [r["event_id"] for r in csv.DictReader(io.StringIO(result.stdout))]
    assert ids == _trace_events(c.store, bag)
    xlsx = tmp_path / "trace.xlsx"
    result = runner.invoke(main, ["export-trace", bag, *db, "--format", "xlsx", "-o", str(xlsx)])
    assert result.exit_code == 0, result.output
    assert load_workbook(xlsx, read_only=True)["trace"].max_row == len(ids) + 1
