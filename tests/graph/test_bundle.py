"""Proof bundles: built from the ledger, verified offline, and every tampering named."""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
from typing import Any

import pytest

from graph.bundle import build_bundle
from graph.verify import verify_bundle
from ledger.checkpoint import LogKey, NoteSigner, sign_checkpoint
from ledger.envelope import raw_public_key
from tests.graph import chains
from tests.support import World, seeded_key

TRUSTED = LogKey(raw_public_key(chains.log_private().public_key()))


def checks(report: Any) -> set[str]:
    return {f.check for f in report.findings}


@pytest.fixture
def blended(sqlite_world: World) -> tuple[World, str, dict[str, Any]]:
    bag = chains.blend_60_40(sqlite_world)
    return sqlite_world, bag, build_bundle(sqlite_world.store, bag)


def test_bundle_verifies_offline(blended: tuple[World, str, dict[str, Any]]) -> None:
    _, _, bundle = blended
    report = verify_bundle(json.loads(json.dumps(bundle)), TRUSTED)
    assert report.ok, [str(f) for f in report.findings]
    assert report.verdict is not None and str(report.verdict.certified_percent) == "60.00"
    assert report.tables_match
    assert bundle["verdict"]["certified_percent"] == "60.00"


def test_bundle_holds_no_plot_location(sqlite_world: World) -> None:
    c = chains.base(sqlite_world)
    point = {"type": "Point", "coordinates": ["-74.493612", "-11.429711"]}
    c.append(
        chains.COOP,
        {"type": "plot.map", "plot": chains.P1, "method": "gps-point", "geometry": point},
    )
    h = c.harvest(chains.COOP, f"{chains.COOP}:h-1", "100", chains.M1, chains.P1)
    rec = chains.to_roaster(c, chains.COOP, f"{chains.COOP}:h-1", h, "100")
    bag = chains.roast_and_pack(c, [(f"{chains.COOP}:h-1", rec, "100")], "100")
    bundle = build_bundle(sqlite_world.store, bag)
    text = json.dumps(bundle)
    payloads = [base64.b64decode(e["envelope"]["payload"]) for e in bundle["events"]]
    assert not any(b'"plot.map"' in p for p in payloads)
    assert "-74.493612" not in text and "coordinates" not in text
    assert not any(b"coordinates" in p for p in payloads)
    assert verify_bundle(bundle, TRUSTED).ok


def _edit_payload(event: dict[str, Any], change: Any) -> None:
    payload = json.loads(base64.b64decode(event["envelope"]["payload"]))
    change(payload)
    event["envelope"]["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()


def _custody(bundle: dict[str, Any], kind: str) -> dict[str, Any]:
    for event in bundle["events"]:
        if json.loads(base64.b64decode(event["envelope"]["payload"]))["type"] == kind:
            return event
    raise AssertionError(kind)


def test_changed_quantity_is_caught(blended: tuple[World, str, dict[str, Any]]) -> None:
    _, _, bundle = blended
    forged = copy.deepcopy(bundle)
    _edit_payload(_custody(forged, "harvest"), lambda p: p.update(quantity="600"))
    found = checks(verify_bundle(forged, TRUSTED))
    assert {"signatures", "inclusion"} <= found


def test_dropped_event_is_caught(blended: tuple[World, str, dict[str, Any]]) -> None:
    _, _, bundle = blended
    forged = copy.deepcopy(bundle)
    forged["events"].remove(_custody(forged, "receive"))
    report = verify_bundle(forged, TRUSTED)
    assert "references" in checks(report)
    assert any("not in the bundle" in f.message for f in report.findings)


def test_added_event_is_caught(blended: tuple[World, str, dict[str, Any]]) -> None:
    world, bag, _ = blended
    c = chains.Coffee(world)
    c.harvest(chains.COOP, f"{chains.COOP}:h-extra", "5", chains.M1, chains.P1)
    extra = build_bundle(world.store, f"{chains.COOP}:h-extra")
    harvest = _custody(extra, "harvest")
    forged = copy.deepcopy(extra)
    forged["lot"] = bag
    forged["events"] = sorted(
        [e for e in build_bundle(world.store, bag)["events"]] + [harvest], key=lambda e: e["index"]
    )
    forged["verdict"] = build_bundle(world.store, bag)["verdict"]
    report = verify_bundle(forged, TRUSTED)
    assert any("added" in f.message for f in report.findings), report.findings


def test_swapped_public_key_is_caught(blended: tuple[World, str, dict[str, Any]]) -> None:
    _, _, bundle = blended
    forged = copy.deepcopy(bundle)
    registration = forged["events"][1]
    other = base64.b64encode(raw_public_key(seeded_key("mallory").public_key())).decode()
    _edit_payload(registration, lambda p: p.update(public_key=other))
    assert {"signatures", "inclusion"} <= checks(verify_bundle(forged, TRUSTED))


def test_forged_checkpoint_is_caught(blended: tuple[World, str, dict[str, Any]]) -> None:
    _, _, bundle = blended
    forged = copy.deepcopy(bundle)
    cp = TRUSTED.open(bundle["checkpoint"])
    forged["checkpoint"] = sign_checkpoint(cp, NoteSigner(cp.origin, seeded_key("mallory")))
    report = verify_bundle(forged, TRUSTED)
    assert "checkpoint" in checks(report)


def test_stale_checkpoint_is_caught(blended: tuple[World, str, dict[str, Any]]) -> None:
    world, _, bundle = blended
    from ledger.log import checkpoint_at

    old = checkpoint_at(world.store, 5)
    assert old is not None
    forged = dict(bundle, checkpoint=old.note)
    report = verify_bundle(forged, TRUSTED)
    assert "inclusion" in checks(report)


def test_altered_verdict_is_caught(blended: tuple[World, str, dict[str, Any]]) -> None:
    _, _, bundle = blended
    forged = copy.deepcopy(bundle)
    forged["verdict"]["certified_percent"] = "100.00"
    report = verify_bundle(forged, TRUSTED)
    assert checks(report) == {"verdict"}


def test_wrong_inclusion_proof_is_caught(blended: tuple[World, str, dict[str, Any]]) -> None:
    _, _, bundle = blended
    forged = copy.deepcopy(bundle)
    proof = forged["events"][3]["inclusion"]
    proof[0] = ("0" if proof[0][0] != "0" else "1") + proof[0][1:]
    assert checks(verify_bundle(forged, TRUSTED)) == {"inclusion"}


def test_wrong_log_key_rejects_the_checkpoint(blended: tuple[World, str, dict[str, Any]]) -> None:
    _, _, bundle = blended
    other = LogKey(raw_public_key(seeded_key("mallory").public_key()))
    assert "checkpoint" in checks(verify_bundle(bundle, other))


def test_verifier_needs_no_database_and_no_api(
    blended: tuple[World, str, dict[str, Any]], tmp_path: Any
) -> None:
    """Run the verifier in a fresh interpreter where the store and the API cannot load."""
    _, _, bundle = blended
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    pub = tmp_path / "log.pub"
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    pub.write_bytes(
        chains.log_private()
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    script = (
        "import sys, json\n"
        "for name in ('sqlalchemy', 'psycopg', 'flask', 'api', 'sqlite3'):\n"
        "    sys.modules[name] = None\n"
        "from graph.verify import verify_bundle\n"
        "from ledger.checkpoint import LogKey\n"
        f"report = verify_bundle(json.load(open({str(path)!r})), LogKey.load({str(pub)!r}))\n"
        "assert report.ok, report.findings\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('api', 'sqlalchemy')]\n"
        "assert not [m for m in loaded if sys.modules[m] is not None], loaded\n"
        "print('verified', report.events)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=str(__import__("pathlib").Path(__file__).parents[2]),
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("verified")


def test_bundle_matches_its_json_schema(blended: tuple[World, str, dict[str, Any]]) -> None:
    from pathlib import Path

    import jsonschema

    schema_file = Path(__file__).parents[2] / "graph" / "data" / "bundle.schema.json"
    schema = json.loads(schema_file.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    _, _, bundle = blended
    jsonschema.validate(json.loads(json.dumps(bundle)), schema, cls=jsonschema.Draft202012Validator)
    broken = copy.deepcopy(bundle)
    broken["verdict"]["certified_percent"] = 60.0
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema, cls=jsonschema.Draft202012Validator)


def test_bundle_cannot_loosen_its_own_tables(sqlite_world: World) -> None:
    bag = chains.oversize_plot(sqlite_world)
    bundle = build_bundle(sqlite_world.store, bag)
    assert bundle["verdict"]["certified_percent"] == "50.00"
    forged = copy.deepcopy(bundle)
    forged["tables"]["products"]["products"]["coffee"]["area_limit_ha"] = "100"
    report = verify_bundle(forged, TRUSTED)
    assert "tables" in checks(report)


def test_malformed_event_is_a_finding_not_a_crash(
    blended: tuple[World, str, dict[str, Any]],
) -> None:
    _, _, bundle = blended
    forged = copy.deepcopy(bundle)
    _edit_payload(_custody(forged, "ship"), lambda p: p["lots"][0].pop("event"))
    report = verify_bundle(forged, TRUSTED)
    assert not report.ok and report.findings


def test_fork_in_a_bundle_is_named(blended: tuple[World, str, dict[str, Any]]) -> None:
    """The signer itself signs a second event at a seq it already used (a fork)."""
    world, _, bundle = blended
    forged = copy.deepcopy(bundle)
    twin = copy.deepcopy(_custody(forged, "harvest"))
    _edit_payload(twin, lambda p: p.update(lot=p["lot"] + "-twin"))
    _resign(world, twin)
    twin["index"] = max(e["index"] for e in forged["events"]) + 1
    forged["events"].append(twin)
    report = verify_bundle(forged, TRUSTED)
    assert any(
        f.check == "chains" and "does not extend the chain" in f.message for f in report.findings
    ), [str(f) for f in report.findings]


def _resign(world: World, event: dict[str, Any]) -> None:
    """Sign an edited payload again with the key that signed it (the signer forging)."""
    from ledger.envelope import sign

    payload = base64.b64decode(event["envelope"]["payload"])
    keyid = json.loads(payload)["key"]
    chain = next(c for c in [world.operator, *world.chains.values()] if c.keyid == keyid)
    event["envelope"] = sign(payload, chain.private_key).to_dict()


def _ledger_evidence(world: World, *extra: Any) -> Any:
    """Every stored event of ``world`` as evidence, then ``extra`` envelopes after them."""
    from sqlalchemy import select

    from graph.evidence import Evidence
    from ledger.envelope import Envelope
    from ledger.schema import EventRow

    with world.store.reading() as session:
        stored = [
            (i, Envelope.from_json(e))
            for i, e in session.execute(
                select(EventRow.index, EventRow.envelope).order_by(EventRow.index)
            )
        ]
    size = len(stored)
    return Evidence.from_envelopes([*stored, *((size + n, e) for n, e in enumerate(extra))])


# --- issue 22, hole 7: the bundle's JSON Schema is checked before anything else -------------


def test_a_top_level_plots_array_is_a_schema_finding(
    blended: tuple[World, str, dict[str, Any]],
) -> None:
    _, _, bundle = blended
    forged = dict(bundle, plots=[{"plot": "coop:p-1", "coordinates": [-74.49, -11.42]}])
    report = verify_bundle(forged, TRUSTED)
    assert "schema" in checks(report)
    assert any("plots" in f.message for f in report.findings)


def test_a_payload_decoded_beside_an_envelope_is_a_schema_finding(
    blended: tuple[World, str, dict[str, Any]],
) -> None:
    _, _, bundle = blended
    forged = copy.deepcopy(bundle)
    forged["events"][2]["payload_decoded"] = {"quantity": "999999"}
    report = verify_bundle(forged, TRUSTED)
    assert any(f.check == "schema" and f.message.startswith("events[2]") for f in report.findings)


def _findings_of(step: Any, *args: Any) -> list[tuple[str, str, str | None]]:
    found: list[tuple[str, str, str | None]] = []
    step(*args, lambda check, message, event=None: found.append((check, message, event)))
    return found


def test_the_privacy_step_finds_a_plot_map(sqlite_world: World) -> None:
    """A bundle that carries a plot.map (a farm's location) fails the privacy step."""
    from graph.evidence import Evidence
    from graph.verify import _privacy

    c = chains.base(sqlite_world)
    envelope = sqlite_world.sign(
        chains.COOP,
        {
            "type": "plot.map",
            "plot": chains.P1,
            "method": "gps-point",
            "geometry": {"type": "Point", "coordinates": ["-74.49", "-11.42"]},
        },
    )
    evidence = Evidence.from_envelopes([(c.store.size(), envelope)])
    assert _findings_of(_privacy, evidence) == [
        ("privacy", "a published bundle must not carry a plot's location", envelope.id)
    ]


def test_the_conservation_step_finds_a_transform_beyond_its_yield(sqlite_world: World) -> None:
    """Signed by the holder, never appended (the ledger refuses it): the verifier must too."""
    from graph.verify import _rules

    chains.base(sqlite_world)
    world = sqlite_world
    lot = f"{chains.COOP}:h-x"
    harvest = world.sign(
        chains.COOP,
        {
            "type": "harvest",
            "lot": lot,
            "product": "coffee",
            "form": "parchment",
            "quantity": "100",
            "unit": "kg",
            "member": chains.M1,
            "plot": chains.P1,
        },
    )
    milled = world.sign(
        chains.COOP,
        {
            "type": "transform",
            "process": "dry-mill",
            "inputs": [{"lot": lot, "event": harvest.id, "quantity": "100", "unit": "kg"}],
            "outputs": [
                {
                    "lot": f"{chains.COOP}:g-x",
                    "product": "coffee",
                    "form": "green",
                    "quantity": "95",
                    "unit": "kg",
                }
            ],
        },
    )
    found = _findings_of(_rules, _ledger_evidence(world, harvest, milled))
    assert [(check, event) for check, _, event in found] == [("conservation", milled.id)]
    assert "YieldExceeded" in found[0][1]


# --- issue 22, hole 1: every event of a bundle names the bundle's genesis --------------------


def test_a_bundle_without_its_genesis_is_a_ledger_finding(
    blended: tuple[World, str, dict[str, Any]],
) -> None:
    _, _, bundle = blended
    forged = copy.deepcopy(bundle)
    forged["events"] = [e for e in forged["events"] if e["index"] != 0]
    report = verify_bundle(forged, TRUSTED)
    assert any(f.check == "ledger" and "no genesis" in f.message for f in report.findings)


def test_the_ledger_step_finds_an_event_signed_for_another_ledger(
    sqlite_world: World, tmp_path: Any
) -> None:
    """An event of this ledger's operator, signed for another ledger, spliced in."""
    from graph.verify import _rules
    from tests.conftest import make_store

    other = World.create(make_store("sqlite", tmp_path / "other"), operator="operator-2")
    sqlite_world.operator.ledger = other.ledger  # the same key, bound to the other ledger
    spliced = sqlite_world.register_envelope("coop-x", ["spo"])
    found = _findings_of(_rules, _ledger_evidence(sqlite_world, spliced))
    assert [(check, event) for check, _, event in found] == [("ledger", spliced.id)]
    assert str(sqlite_world.ledger) in found[0][1]
