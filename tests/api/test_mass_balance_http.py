"""The mass-balance report over HTTP: JSON, CSV and the auditor's HTML page."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.api.conftest import OPERATOR, assert_problem
from tests.graph import chains
from tests.graph.chains import COOP, EXPORTER, M1, P1, ROASTER
from tests.support import World

URL = f"/api/v1/parties/{EXPORTER}/mass-balance"


@pytest.fixture
def mb_app(app: Flask) -> Flask:
    """The app, with the mass-balance blueprint registered if the factory does not yet."""
    assert "mass_balance" in app.blueprints and "audit" in app.blueprints
    return app


@pytest.fixture
def mb_client(mb_app: Flask) -> FlaskClient:
    """The operator's client: a party's report is private (``test_access`` covers who)."""
    operator = mb_app.test_client()
    operator.environ_base["HTTP_AUTHORIZATION"] = OPERATOR["Authorization"]
    return operator


def oversold(world: World) -> dict[str, str]:
    """Exporter buys 10 t SPP green, sells 10 t as SPP and then 500 kg more: 500 kg short."""
    c = chains.base(world)
    h = c.harvest(COOP, f"{COOP}:h-1", "10000", M1, P1)
    rec = c.move(COOP, EXPORTER, f"{COOP}:h-1", h, "10000")
    first = c.ship(EXPORTER, ROASTER, [(f"{COOP}:h-1", rec, "9500")])
    h2 = c.harvest(COOP, f"{COOP}:h-2", "1000", M1, P1)
    rec2 = c.receive(
        EXPORTER,
        c.append(
            COOP,
            {
                "type": "ship",
                "to": EXPORTER,
                "claims": [],
                "lots": [{"lot": f"{COOP}:h-2", "event": h2, "quantity": "1000", "unit": "kg"}],
            },
        ),
        [(f"{COOP}:h-2", "1000")],
    )
    second = c.ship(EXPORTER, ROASTER, [(f"{COOP}:h-2", rec2, "1000")])
    return {"rec": rec, "first": first, "second": second}


def test_json_report(world: World, mb_client: FlaskClient) -> None:
    ids = oversold(world)
    r = mb_client.get(
        URL,
        query_string={
            "product": "coffee",
            "scheme": "SPP",
            "from": "2026-03-01",
            "until": "2026-03-31",
        },
    )
    assert r.status_code == 200, r.get_data(as_text=True)
    body: dict[str, Any] = r.get_json()
    assert body["party"] == EXPORTER and body["reference_form"] == "green"
    assert body["period"]["from"] == "2026-03-01" and body["period"]["until"] == "2026-03-31"
    assert body["totals"]["certified_in"] == "10000.000"
    assert body["totals"]["certified_out"] == "10500.000"
    assert body["totals"]["non_certified_in"] == "1000.000"
    assert body["closing_balance"] == "-500.000" and body["in_deficit"] is True
    (deficit,) = body["deficits"]
    assert deficit["started_by"] == ids["second"] and deficit["oversold_kg"] == "500.000"
    assert [line["event"] for line in body["lines"]] == [
        ids["rec"],
        ids["first"],
        line_of(body, "receive", 1),
        ids["second"],
    ]
    assert body["factors"] == [
        {"form": "green", "factor": "1", "rule": "the reference form (green): factor 1"}
    ]


def line_of(body: dict[str, Any], kind: str, nth: int) -> str:
    return [x["event"] for x in body["lines"] if x["type"] == kind][nth]


def test_period_preset_and_csv(world: World, mb_client: FlaskClient) -> None:
    ids = oversold(world)
    r = mb_client.get(
        URL,
        query_string={"product": "coffee", "scheme": "SPP", "period": "2026-Q1"},
        headers={"Accept": "text/csv"},
    )
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert [row["event"] for row in rows][:2] == [ids["rec"], ids["first"]]
    assert rows[-1]["balance"] == "-500.000" and rows[-1]["certified"] == "true"
    assert rows[2]["certified"] == "false" and "does not claim SPP" in rows[2]["reason"]
    assert "attachment" in r.headers["Content-Disposition"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"product": "coffee", "scheme": "SPP"}, "period"),
        ({"product": "coffee", "scheme": "SPP", "period": "2026", "from": "2026-01-01"}, "period"),
        ({"product": "coffee", "scheme": "SPP", "period": "2026-Q7"}, "period"),
        ({"product": "tea", "scheme": "SPP", "period": "2026"}, "product"),
        ({"product": "coffee", "scheme": "SPP", "period": "2026", "colour": "red"}, "colour"),
    ],
)
def test_bad_queries_are_problems(
    world: World, mb_client: FlaskClient, query: dict[str, str], field: str
) -> None:
    oversold(world)  # a registered party: an unknown one is a 404 before any check
    body = assert_problem(mb_client.get(URL, query_string=query), 422)
    assert field in {e["field"] for e in body["errors"]}


def test_unknown_party_is_404(world: World, mb_client: FlaskClient) -> None:
    r = mb_client.get(
        "/api/v1/parties/nobody/mass-balance",
        query_string={"product": "coffee", "scheme": "SPP", "period": "2026"},
    )
    assert_problem(r, 404)


def test_audit_page_has_inline_svg_and_no_external_assets(
    world: World, mb_client: FlaskClient
) -> None:
    ids = oversold(world)
    r = mb_client.get(
        f"/audit/{EXPORTER}/mass-balance",
        query_string={"product": "coffee", "scheme": "SPP", "period": "2026-03"},
    )
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert "<svg" in html and "clip-path" in html
    assert "Overselling" in html and "500.000" in html
    for event in ids.values():
        assert event in html
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    # nothing fetched from anywhere: no scripts, no external links or sources
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["'](https?:)?//""", html)
    assert "@import" not in html and "url(http" not in html


def test_audit_page_of_a_clean_party(world: World, mb_client: FlaskClient) -> None:
    oversold(world)
    r = mb_client.get(
        f"/audit/{COOP}/mass-balance",
        query_string={
            "product": "coffee",
            "scheme": "SPP",
            "from": "2026-01-01",
            "until": "2026-12-31",
        },
    )
    assert r.status_code == 200
    assert "No overselling" in r.get_data(as_text=True)
    # a mistyped query is a readable page, not JSON with a Python dict in it
    bad = mb_client.get(f"/audit/{COOP}/mass-balance", query_string={"product": "coffee"})
    assert bad.status_code == 422 and bad.mimetype == "text/html"
    page = bad.get_data(as_text=True)
    assert "<li>" in page and "period" in page and "{'" not in page
    unknown = mb_client.get(
        "/audit/nobody/mass-balance",
        query_string={"product": "coffee", "scheme": "SPP", "period": "2026"},
    )
    assert unknown.status_code == 404 and "nobody" in unknown.get_data(as_text=True)
    assert unknown.mimetype == "text/html"


def test_the_openapi_document_describes_the_json_route(mb_client: FlaskClient) -> None:
    spec = mb_client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/parties/{party_id}/mass-balance" in spec["paths"]
    assert not any(p.startswith("/audit") for p in spec["paths"])


def test_the_api_and_the_cli_share_their_defaults(world: World, mb_client: FlaskClient) -> None:
    """No product or scheme: the report `trazo mass-balance` gives by default."""
    from click.testing import CliRunner

    from api.cli import main
    from graph import DEFAULT_PRODUCT, DEFAULT_SCHEME

    oversold(world)
    defaulted = mb_client.get(URL, query_string={"period": "2026-03"})
    named = mb_client.get(
        URL,
        query_string={"product": DEFAULT_PRODUCT, "scheme": DEFAULT_SCHEME, "period": "2026-03"},
    )
    assert defaulted.status_code == 200 and defaulted.get_json() == named.get_json()
    cli = CliRunner().invoke(
        main, ["mass-balance", EXPORTER, "--period", "2026-03", "--json", "--db", world.store.url]
    )
    assert cli.exit_code == 3, cli.output  # 3: the report found overselling
    assert json.loads(cli.output)["closing_balance"] == named.get_json()["closing_balance"]
