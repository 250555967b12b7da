"""The EUDR and trace export endpoints: JSON, GeoJSON (read token only), CSV and XLSX."""

from __future__ import annotations

import csv
import io

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook

from api.http import eudr as eudr_views
from tests.api.conftest import READ_TOKEN, assert_problem
from tests.graph import chains
from tests.graph.test_eudr import (
    POINT_P1,
    POINT_P2,
    _map,
    _trace_events,
    _two_spos,
    check_geojson,
)
from tests.support import World

AUTH = {"Authorization": f"Bearer {READ_TOKEN}"}


@pytest.fixture
def eudr_client(app: Flask) -> FlaskClient:
    """The app, with the EUDR blueprint registered if the factory does not do it yet."""
    if eudr_views.blp.name not in app.blueprints:
        app.register_blueprint(eudr_views.blp)
    return app.test_client()


@pytest.fixture
def operator(eudr_client: FlaskClient) -> FlaskClient:
    eudr_client.environ_base["HTTP_AUTHORIZATION"] = AUTH["Authorization"]
    return eudr_client


@pytest.fixture
def bag(world: World) -> str:
    c = chains.base(world)
    _map(c, chains.P1, POINT_P1)
    _map(c, chains.P2, POINT_P2)
    return _two_spos(c)


def test_eudr_report(operator: FlaskClient, bag: str) -> None:
    response = operator.get(f"/api/v1/lots/{bag}/eudr")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["eudr_ready"] is True and body["geolocated_percent"] == "100.00"
    assert body["countries_of_production"] == ["HN", "PE"]
    assert "coordinates" not in response.get_data(as_text=True)


def test_geojson_is_only_for_readers_of_the_spos(eudr_client: FlaskClient, bag: str) -> None:
    url = f"/api/v1/lots/{bag}/eudr.geojson"
    assert_problem(eudr_client.get(url), 404)
    assert_problem(eudr_client.get(url, headers={"Authorization": "Bearer wrong"}), 401)
    response = eudr_client.get(url, headers=AUTH)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/geo+json"
    doc = check_geojson(response.get_data(as_text=True))
    assert sorted(f["properties"]["ProductionPlace"] for f in doc["features"]) == sorted(
        [chains.P1, chains.P2]
    )


def test_trace_csv_and_xlsx(operator: FlaskClient, bag: str, world: World) -> None:
    eudr_client = operator
    expected = _trace_events(world.store, bag)
    response = eudr_client.get(f"/api/v1/lots/{bag}/trace.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True), newline="")))
    assert [r["event_id"] for r in rows] == expected
    response = eudr_client.get(f"/api/v1/lots/{bag}/trace.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.get_data()), read_only=True)["trace"]
    table = list(sheet.iter_rows(values_only=True))
    ids = [r[table[0].index("event_id")] for r in table[1:]]
    assert ids == expected


@pytest.mark.parametrize("suffix", ["eudr", "eudr.geojson", "trace.csv", "trace.xlsx"])
def test_unknown_lot_is_a_404_problem(eudr_client: FlaskClient, world: World, suffix: str) -> None:
    assert_problem(eudr_client.get(f"/api/v1/lots/nobody:lot-1/{suffix}", headers=AUTH), 404)
