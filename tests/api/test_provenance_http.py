"""/api/v1/lots/{lot}/trace|origin|bundle over HTTP."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient

from graph.verify import verify_bundle
from ledger.checkpoint import LogKey
from tests.api.conftest import assert_problem
from tests.graph import chains
from tests.support import World


def test_trace_origin_bundle(world: World, client: FlaskClient, keys_dir: Path) -> None:
    bag = chains.blend_60_40(world)

    origin = client.get(f"/api/v1/lots/{bag}/origin")
    assert origin.status_code == 200
    body = origin.get_json()
    assert body["certified_percent"] == "60.00" and body["certified"] is False
    assert len(body["shares"]) == 2

    graph = client.get(f"/api/v1/lots/{bag}/trace").get_json()
    assert graph["direction"] == "upstream"
    assert sum(1 for n in graph["nodes"] if n.get("type") == "harvest") == 2
    down = client.get(
        f"/api/v1/lots/{chains.ESTATE}:h-1/trace", query_string={"direction": "downstream"}
    ).get_json()
    assert any(n.get("id") == bag for n in down["nodes"])

    bundle = client.get(f"/api/v1/lots/{bag}/bundle").get_json()
    trusted = LogKey(chains.log_private().public_key().public_bytes_raw())
    report = verify_bundle(bundle, trusted)
    assert report.ok, report.findings


def test_unknown_lot_and_bad_direction(world: World, client: FlaskClient) -> None:
    for path in ("origin", "trace", "bundle"):
        assert_problem(client.get(f"/api/v1/lots/nobody:nothing/{path}"), 404)
    assert_problem(client.get("/api/v1/lots/x:y/trace", query_string={"direction": "up"}), 422)
