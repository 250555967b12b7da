"""trazo trace / origin / bundle / verify from the command line, on a hand-built chain."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from api.cli.core import main
from tests.graph import chains
from tests.support import World


def _db(world: World) -> str:
    return world.store.url


def test_origin_trace_bundle_verify(sqlite_world: World, tmp_path: Path) -> None:
    bag = chains.blend_60_40(sqlite_world)
    runner = CliRunner()
    db = _db(sqlite_world)

    out = runner.invoke(main, ["origin", bag, "--db", db])
    assert out.exit_code == 0, out.output
    assert "60.00% of certified small-producer origin" in out.output
    assert "non-member" not in out.output or "NOT:" in out.output
    assert chains.ESTATE in out.output and "NOT:" in out.output

    out = runner.invoke(main, ["origin", bag, "--db", db, "--json"])
    assert json.loads(out.output)["certified_percent"] == "60.00"

    out = runner.invoke(main, ["trace", bag, "--db", db, "--json"])
    graph = json.loads(out.output)
    assert {n["kind"] for n in graph["nodes"]} == {"event", "lot"}
    assert sum(1 for n in graph["nodes"] if n.get("type") == "harvest") == 2

    out = runner.invoke(
        main, ["trace", f"{chains.ESTATE}:h-1", "--db", db, "--direction", "downstream"]
    )
    assert out.exit_code == 0 and "transform" in out.output

    bundle = tmp_path / "bag.json"
    out = runner.invoke(main, ["bundle", bag, "--db", db, "-o", str(bundle)])
    assert out.exit_code == 0, out.output
    pub = tmp_path / "log.pub"
    pub.write_bytes(
        chains.log_private()
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    out = runner.invoke(main, ["verify", str(bundle), "--log-key", str(pub)])
    assert out.exit_code == 0, out.output
    assert "bundle OK" in out.output and "60.00%" in out.output

    doc = json.loads(bundle.read_text())
    honest_kg = doc["verdict"]["certified_kg"]
    doc["verdict"]["certified_kg"] = "80.000"  # the claimed figure an operator changed
    bundle.write_text(json.dumps(doc))
    out = runner.invoke(main, ["verify", str(bundle), "--log-key", str(pub)])
    assert out.exit_code == 1 and "[verdict]" in out.output
    assert f'verdict.certified_kg: claimed "80.000", recomputed "{honest_kg}"' in out.output

    doc["verdict"]["certified_kg"] = honest_kg
    doc["verdict"]["certified_percent"] = "100.00"
    bundle.write_text(json.dumps(doc))
    out = runner.invoke(main, ["verify", str(bundle), "--log-key", str(pub)])
    assert out.exit_code == 1 and "verdict.certified_percent" in out.output

    other = tmp_path / "other.pub"  # a log key that did not sign the checkpoint
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    out = runner.invoke(main, ["verify", str(bundle), "--log-key", str(other)])
    assert out.exit_code == 1 and "[checkpoint]" in out.output
    assert "verdict:" not in out.output  # no figure is shown from an untrusted bundle

    # a key held twice: one reader would see the honest verdict, another the forged one
    text = bundle.read_text()
    honest = json.dumps(doc["verdict"] | {"certified_percent": "60.00"})
    bundle.write_text(text.replace('"verdict": ', f'"verdict": {honest}, "verdict": ', 1))
    out = runner.invoke(main, ["verify", str(bundle), "--log-key", str(pub)])
    assert out.exit_code == 1, out.output
    assert "duplicate key 'verdict'" in out.output and "Traceback" not in out.output


def test_unknown_lot_is_a_clear_error(sqlite_world: World) -> None:
    out = CliRunner().invoke(main, ["origin", "nobody:nothing", "--db", _db(sqlite_world)])
    assert out.exit_code == 1
    assert "no lot 'nobody:nothing'" in out.output
