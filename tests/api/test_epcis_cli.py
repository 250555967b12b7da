"""``trazo epcis import|export`` end to end: a trader's EPCIS document becomes events
signed with the trader's own key, checked by the custody rules before anything is queued;
the GS1 example documents import or are refused with a documented reason; a lot's
journey exports as a document the EPCIS 2.0.1 schema accepts."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from api.cli import main
from graph.epcis.document import load, schema_problems
from graph.epcis.hashing import event_hash
from graph.epcis.importer import REASONS
from graph.epcis.mapping import CONTEXT, business_content
from ledger.envelope import Envelope, keyid_of
from ledger.keys import write_keypair
from ledger.outbox import PENDING, Outbox
from ledger.payload import loads_strict
from ledger.query import list_events
from ledger.store import Store
from tests.graph import chains
from tests.graph.chains import COOP, EXPORTER, M1, P1, ROASTER
from tests.support import World, seeded_key

BASE = "https://ledger.example"
EXAMPLES = Path(__file__).parent.parent / "vectors" / "epcis" / "examples"
LOT = f"{COOP}:h-1"


def _party(party: str) -> str:
    return f"{BASE}/api/v1/parties/{party}"


def _parties(party: str, key: str) -> list[dict[str, str]]:
    return [{"type": kind, key: _party(party)} for kind in ("owning_party", "possessing_party")]


def _event(time: str, step: str, kg: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventTime": time,
        "eventTimeZoneOffset": time[-6:],
        "quantityList": [{"epcClass": f"{BASE}/api/v1/lots/{LOT}", "quantity": kg, "uom": "KGM"}],
        "action": "OBSERVE",
        "bizStep": step,
        "disposition": {"receiving": "in_progress", "shipping": "in_transit"}[step],
        **extra,
    }


class Trader:
    """A ledger where coop-pangoa shipped 100 kg to andes-trading, and andes-trading's
    key file, as the trader holds them."""

    def __init__(self, tmp_path: Path) -> None:
        self.db = f"sqlite:///{tmp_path / 'ledger.db'}"
        store = Store(self.db)
        store.migrate()
        self.world = World.create(store)
        self.store = store
        c = chains.base(self.world)
        harvest = c.harvest(COOP, LOT, "100", M1, P1)
        self.shipment = c.ship(COOP, EXPORTER, [(LOT, harvest, "100")])
        self.key = write_keypair(tmp_path, EXPORTER, seeded_key(EXPORTER)).private_path
        self.tmp = tmp_path

    def document(self, *events: dict[str, Any]) -> Path:
        path = self.tmp / f"doc-{len(list(self.tmp.glob('doc-*')))}.jsonld"
        document = {
            "@context": CONTEXT,
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": "2026-03-02T10:00:00Z",
            "epcisBody": {"eventList": list(events)},
        }
        path.write_text(json.dumps(document))
        return path

    def erp_events(self) -> list[dict[str, Any]]:
        """What the trader's ERP exports: the receipt, then 60 kg on to the roaster."""
        received = _event(
            self.world.tick(),
            "receiving",
            100,
            bizLocation={"id": _party(EXPORTER)},
            sourceList=_parties(COOP, "source"),
            destinationList=_parties(EXPORTER, "destination"),
        )
        shipped = _event(
            self.world.tick(),
            "shipping",
            60,
            bizLocation={"id": _party(EXPORTER)},
            bizTransactionList=[{"type": "po", "bizTransaction": f"{_party(EXPORTER)}#bt:PO-77"}],
            sourceList=_parties(EXPORTER, "source"),
            destinationList=_parties(ROASTER, "destination"),
        )
        return [received, shipped]

    def run(self, *args: str) -> Result:
        return CliRunner().invoke(
            main, [*args, "--db", self.db], catch_exceptions=False, env={"TRAZO_PUBLIC_URL": BASE}
        )

    def pending(self) -> list[dict[str, Any]]:
        with Outbox(self.key) as box:
            return [
                loads_strict(Envelope.from_json(e.envelope).payload) for e in box.entries(PENDING)
            ]


@pytest.fixture
def trader(tmp_path: Path) -> Trader:
    return Trader(tmp_path)


def test_an_erp_document_arrives_signed_by_the_trader(trader: Trader) -> None:
    events = trader.erp_events()
    doc = trader.document(*events)
    result = trader.run("epcis", "import", str(doc), "--key", str(trader.key))
    assert result.exit_code == 0, result.output
    queued = [line.split("\t") for line in result.stdout.splitlines()]
    assert [q[2] for q in queued] == ["queued", "queued"]
    # the CBV 2.0 hash of each source event, as the trader's own system would compute it
    assert [q[3] for q in queued] == [event_hash(e, CONTEXT) for e in events]
    pending = trader.pending()
    assert [p["type"] for p in pending] == ["receive", "ship"]
    assert pending[0]["shipment"] == trader.shipment
    assert pending[1]["lots"][0]["event"] == queued[0][1]  # the holding the receipt gave
    assert pending[1]["transactions"] == [{"type": "po", "id": "PO-77"}]
    keyid = keyid_of(seeded_key(EXPORTER).public_key())
    assert {p["party"] for p in pending} == {EXPORTER} and {p["key"] for p in pending} == {keyid}

    sent = trader.run("append", "--key", str(trader.key))
    assert sent.exit_code == 0, sent.output
    stored = [r for r in list_events(trader.store, party=EXPORTER, limit=100)]
    assert [r.type for r in stored][-2:] == ["receive", "ship"]

    # exported again, each event keeps the hash of what the ERP sent (business content)
    out = trader.tmp / "lot.jsonld"
    exported = trader.run("epcis", "export", LOT, "-o", str(out))
    assert exported.exit_code == 0, exported.output
    document = load(out.read_text())
    assert schema_problems(document) == []
    by_event = {e["trazo:event"]: e for e in document["epcisBody"]["eventList"]}
    for _, trazo_id, _, source_hash in queued:
        again = business_content(by_event[trazo_id])
        assert event_hash(again, document["@context"]) == source_hash
        assert by_event[trazo_id]["trazo:party"] == EXPORTER
        assert by_event[trazo_id]["eventID"] == event_hash(by_event[trazo_id], CONTEXT)

    # the same document again: every event is a duplicate, nothing is queued
    again_run = trader.run("epcis", "import", str(doc), "--key", str(trader.key))
    assert again_run.exit_code == 0, again_run.output
    assert [line.split("\t")[2] for line in again_run.stdout.splitlines()] == ["duplicate"] * 2
    assert trader.pending() == []


def test_a_refused_event_leaves_nothing_half_imported(trader: Trader) -> None:
    received, shipped = trader.erp_events()
    shipped["quantityList"][0]["quantity"] = 160  # more than was received
    doc = trader.document(received, shipped)
    result = trader.run("epcis", "import", str(doc), "--key", str(trader.key))
    assert result.exit_code == 1
    assert "event 1" in result.stderr and "no-holding" in result.stderr
    assert "nothing queued" in result.stderr
    assert trader.pending() == []
    # --partial queues the receipt alone (no TRAZO_PUBLIC_URL: the base URL is the one the
    # document's own lot and party URIs use)
    partial = CliRunner().invoke(
        main,
        ["epcis", "import", str(doc), "--key", str(trader.key), "--partial", "--db", trader.db],
        env={},
    )
    assert partial.exit_code == 1
    assert [p["type"] for p in trader.pending()] == ["receive"]


def test_the_custody_rules_judge_before_anything_is_queued(trader: Trader) -> None:
    received, shipped = trader.erp_events()
    received["quantityList"][0]["quantity"] = 120  # more than the shipment carried
    shipped["quantityList"][0]["quantity"] = 10
    doc = trader.document(received, shipped)
    result = trader.run("epcis", "import", str(doc), "--key", str(trader.key))
    assert result.exit_code == 1, result.output
    assert "event 0" in result.stderr and "refused" in result.stderr
    assert "ReceiptExceedsShipment" in result.stderr or "carried" in result.stderr
    assert trader.pending() == []


def test_another_partys_event_is_not_signed(trader: Trader) -> None:
    received, _ = trader.erp_events()
    forged = copy.deepcopy(received)
    forged["destinationList"] = _parties(ROASTER, "destination")
    forged["bizLocation"] = {"id": _party(ROASTER)}
    doc = trader.document(forged)
    result = trader.run("epcis", "import", str(doc), "--key", str(trader.key))
    assert result.exit_code == 1 and "not-the-signer" in result.stderr
    assert trader.pending() == []


def test_a_document_failing_the_schema_is_refused_whole(trader: Trader) -> None:
    received, shipped = trader.erp_events()
    shipped["bizLocation"] = {"id": "not a uri"}
    doc = trader.document(received, shipped)
    result = trader.run("epcis", "import", str(doc), "--key", str(trader.key))
    assert result.exit_code == 1
    assert "EPCIS 2.0.1 JSON schema" in result.stderr and "not a 'uri'" in result.stderr
    assert trader.pending() == []


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.jsonld")), ids=lambda p: p.stem)
def test_every_gs1_example_event_imports_or_is_refused_with_a_documented_reason(
    trader: Trader, example: Path
) -> None:
    result = trader.run("epcis", "import", str(example), "--key", str(trader.key), "--partial")
    assert "Traceback" not in result.output and "unexpected" not in result.output
    document = json.loads(example.read_text())
    count = len(document["epcisBody"]["eventList"])
    answered: dict[int, str] = {}
    for line in result.stdout.splitlines():
        index, _, status, _ = line.split("\t")
        answered[int(index)] = status
    for line in result.stderr.splitlines():
        m = re.match(r"error: event (\d+)(?: \((.*)\))?: ([a-z-]+): .+", line)
        if m:
            assert m.group(3) in REASONS, line
            answered[int(m.group(1))] = m.group(3)
    assert sorted(answered) == list(range(count)), result.output


def test_a_foreign_certification_reference_is_refused_not_dropped(trader: Trader) -> None:
    received, _ = trader.erp_events()
    received["certificationInfo"] = "https://accreditation-council.example.org/certificate/ABC"
    result = trader.run("epcis", "import", str(trader.document(received)), "--key", str(trader.key))
    assert result.exit_code == 1 and "unsupported-field: certificationInfo" in result.stderr
    assert trader.pending() == []


def test_a_replay_with_new_ids_is_still_a_duplicate(trader: Trader) -> None:
    """What the hash leaves out (eventID, recordTime, the document around it) cannot make
    the same event new again; a changed quantity does."""
    events = trader.erp_events()
    first = trader.run("epcis", "import", str(trader.document(*events)), "--key", str(trader.key))
    assert first.exit_code == 0, first.output
    replay = copy.deepcopy(events)
    for n, event in enumerate(replay):
        event["eventID"] = f"urn:uuid:00000000-0000-4000-8000-00000000000{n}"
        event["recordTime"] = "2026-12-01T00:00:00Z"
        event["eventTime"] = event["eventTime"].replace("-05:00", "-05:00")  # same instant
    again = trader.run("epcis", "import", str(trader.document(*replay)), "--key", str(trader.key))
    assert [line.split("\t")[2] for line in again.stdout.splitlines()] == ["duplicate"] * 2
    assert len(trader.pending()) == 2
    changed = copy.deepcopy(events[1])
    changed["quantityList"][0]["quantity"] = 30
    other = trader.run("epcis", "import", str(trader.document(changed)), "--key", str(trader.key))
    assert other.exit_code == 0, other.output
    assert [line.split("\t")[2] for line in other.stdout.splitlines()] == ["queued"]


def test_ordinary_mistakes_are_one_line(trader: Trader) -> None:
    broken = trader.tmp / "broken.jsonld"
    broken.write_text('{"type": "EPCISDocument", "type": "twice"}')
    result = trader.run("epcis", "import", str(broken), "--key", str(trader.key))
    assert result.exit_code == 1 and "DocumentError" in result.stderr
    assert "Traceback" not in result.output
    missing = trader.run("epcis", "export", "nobody:nothing")
    assert missing.exit_code != 0 and "LotNotFound" in missing.stderr
    no_base = CliRunner().invoke(main, ["epcis", "export", LOT, "--db", trader.db], env={})
    assert no_base.exit_code == 2 and "--base-url" in no_base.stderr


def test_an_error_declaration_voids_the_event_imported_from_it(trader: Trader) -> None:
    received, shipped = trader.erp_events()
    first = trader.run("epcis", "import", str(trader.document(received, shipped)), "--key",
                       str(trader.key))  # fmt: skip
    assert first.exit_code == 0, first.output
    ship_id = first.stdout.splitlines()[1].split("\t")[1]
    declared = {
        **shipped,
        "errorDeclaration": {"declarationTime": trader.world.tick(), "reason": "incorrect_data"},
    }
    result = trader.run("epcis", "import", str(trader.document(declared)), "--key", str(trader.key))
    assert result.exit_code == 0, result.output
    assert [p["type"] for p in trader.pending()] == ["receive", "ship", "void"]
    void = trader.pending()[2]
    assert void["event"] == ship_id and "incorrect_data" in void["reason"]
    sent = trader.run("append", "--key", str(trader.key))
    assert sent.exit_code == 0, sent.output
    # exported, the void is the shipment with its error declaration, under the same hash
    document = load(trader.run("epcis", "export", LOT).stdout)
    pair = [e for e in document["epcisBody"]["eventList"] if e["trazo:event"] == ship_id]
    assert len(pair) == 2 and pair[0]["eventID"] == pair[1]["eventID"]
    assert "errorDeclaration" in pair[1] and "errorDeclaration" not in pair[0]


def test_an_event_trazo_would_write_differently_is_refused(trader: Trader) -> None:
    """Taking it would sign something whose EPCIS hash is not the trader's: refused."""
    received, _ = trader.erp_events()
    del received["bizLocation"]
    result = trader.run("epcis", "import", str(trader.document(received)), "--key", str(trader.key))
    assert result.exit_code == 1
    assert "not-canonical" in result.stderr and "bizLocation" in result.stderr
    assert trader.pending() == []


@pytest.mark.slow
def test_the_trader_imports_against_a_server_it_signs_in_to(trader: Trader) -> None:
    """A trader's machine has no ledger database: `--server` asks a real `trazo serve`
    (a session opened with the key) and its dry run; `trazo submit` sends the outbox."""
    from tests.api.test_serve import run_trazo, start_server, stop, wait_for_url

    keys = trader.tmp / "server-keys"
    write_keypair(keys, "log", chains.log_private())
    log = (trader.tmp / "server.log").open("w")
    server = start_server(trader.db, keys, log)
    try:
        url = wait_for_url(server)
        doc = trader.document(*trader.erp_events())
        imported = run_trazo("epcis", "import", str(doc), "--key", str(trader.key), "--server", url)
        assert imported.returncode == 0, imported.stderr
        assert [line.split("\t")[2] for line in imported.stdout.splitlines()] == ["queued"] * 2
        sent = run_trazo("submit", "--key", str(trader.key), "--server", url)
        assert sent.returncode == 0, sent.stderr
        stored = list_events(trader.store, party=EXPORTER, limit=100)
        assert [r.type for r in stored][-2:] == ["receive", "ship"]
        again = run_trazo("epcis", "import", str(doc), "--key", str(trader.key), "--server", url)
        assert again.returncode == 0, again.stderr
        assert [line.split("\t")[2] for line in again.stdout.splitlines()] == ["duplicate"] * 2
        # the server's own export (its URIs): the events the trader reads are known by
        # their tags, each checked against the server's export of the event it names;
        # the cooperative's harvest, which the trader does not read, is not its to sign
        out = trader.tmp / "lot.jsonld"
        base = url.rstrip("/").removesuffix("/api/v1")
        exported = CliRunner().invoke(
            main, ["epcis", "export", LOT, "--db", trader.db, "--base-url", base, "-o", str(out)]
        )
        assert exported.exit_code == 0, exported.output
        own = run_trazo(
            "epcis", "import", str(out), "--key", str(trader.key), "--server", url, "--partial"
        )
        lines = [line.split("\t") for line in own.stdout.splitlines()]
        assert {line[2] for line in lines} == {"duplicate"}, own.stdout + own.stderr
        assert {line[1] for line in lines} == {trader.shipment, *(r.id for r in stored[-2:])}
        assert "not-the-signer" in own.stderr and trader.pending() == []
    finally:
        stop(server)
        log.close()


def test_every_rejection_reason_is_documented() -> None:
    table = (Path(__file__).parent.parent.parent / "docs" / "epcis.md").read_text("utf-8")
    missing = [reason for reason in REASONS if f"| `{reason}` |" not in table]
    assert not missing, missing


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("an integer of 5,000 digits", '{"type": "EPCISDocument", "n": ' + "9" * 5000 + "}"),
        ("nesting 100,000 deep", "[" * 100_000 + "]" * 100_000),
        ("nesting 985 deep", '{"type": "EPCISDocument", "x": ' + "[" * 985 + "]" * 985 + "}"),
        ("NaN", "NaN"),
        ("Infinity", "-Infinity"),
        ("a quantity of 10^999999", "1e999999"),
        ("a quantity of 10^-999999 (a million digits written out)", "1e-999999"),
        ("a quantity of 30 digits", "123456789012345678901234567890.5"),
        ("a zero of a million decimals", "0e-999999"),
    ],
)
def test_a_crafted_document_is_refused_in_one_line(trader: Trader, name: str, text: str) -> None:
    """Adversarial: JSON that Python's reader chokes on (or reads as a float no EPCIS
    quantity can be) is a DocumentError, never a traceback, and nothing is queued."""
    (received,) = trader.erp_events()[:1]
    path = trader.document(received)
    if not text.startswith(("{", "[")):  # the received quantity, as a crafted ERP writes it
        path.write_text(path.read_text().replace('"quantity": 100', f'"quantity": {text}'))
        assert text in path.read_text()
    else:
        path.write_text(text)
    result = CliRunner().invoke(
        main,
        ["epcis", "import", str(path), "--key", str(trader.key), "--db", trader.db],
        env={"TRAZO_PUBLIC_URL": BASE},
    )
    assert result.exit_code == 1, (name, result.output, result.exception)
    assert "DocumentError" in result.stderr and "Traceback" not in result.output
    assert trader.pending() == []


def test_an_event_naming_another_trazo_event_is_no_duplicate(trader: Trader) -> None:
    """Adversarial: a document tags a new shipment with ``trazo:event`` naming an event
    already in the ledger (here the cooperative's shipment). trazo's own exports carry
    that tag, so the import took it as one and skipped the shipment as a "duplicate":
    a document half-imported on a false report. A tag counts only when the event is
    that ledger event's export (same CBV 2.0 hash)."""
    received, shipped = trader.erp_events()
    tagged = {**shipped, "trazo:event": trader.shipment}
    result = trader.run("epcis", "import", str(trader.document(received, tagged)), "--key",
                        str(trader.key))  # fmt: skip
    assert "duplicate" not in result.stdout, result.output
    assert [line.split("\t")[2] for line in result.stdout.splitlines()] == ["queued", "queued"]
    assert [p["type"] for p in trader.pending()] == ["receive", "ship"]


def test_trazos_own_export_imported_back_is_all_duplicates(trader: Trader) -> None:
    """The other side of the tag: a document trazo exported names each event's trazo
    event, and each is that event's export (same hash): nothing is imported twice."""
    out = trader.tmp / "lot.jsonld"
    assert trader.run("epcis", "export", LOT, "-o", str(out)).exit_code == 0
    result = trader.run("epcis", "import", str(out), "--key", str(trader.key))
    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert lines and {line[2] for line in lines} == {"duplicate"}
    assert trader.pending() == []


def test_an_error_declaration_voids_only_the_event_it_declares(trader: Trader) -> None:
    """Adversarial: an error declaration on an event never imported (30 kg shipped)
    tagged ``trazo:event`` with the trader's real shipment: the document declares one
    event erroneous and the import signed the void of another. The tag must name the
    event whose export has the declaration's hash; else it is refused, nothing signed."""
    received, shipped = trader.erp_events()
    first = trader.run("epcis", "import", str(trader.document(received, shipped)), "--key",
                       str(trader.key))  # fmt: skip
    assert first.exit_code == 0, first.output
    assert trader.run("append", "--key", str(trader.key)).exit_code == 0
    ship_id = first.stdout.splitlines()[1].split("\t")[1]
    other = copy.deepcopy(shipped)
    other["quantityList"][0]["quantity"] = 30
    declared = {
        **other,
        "trazo:event": ship_id,
        "errorDeclaration": {"declarationTime": trader.world.tick(), "reason": "incorrect_data"},
    }
    result = trader.run("epcis", "import", str(trader.document(declared)), "--key", str(trader.key))
    assert result.exit_code == 1, result.output
    assert "unknown-voided-event" in result.stderr
    assert trader.pending() == []
    # the declaration of the shipment as it was exported (its hash) still voids it
    exported = load(trader.run("epcis", "export", LOT).stdout)["epcisBody"]["eventList"]
    (mine,) = [e for e in exported if e["trazo:event"] == ship_id]
    declared = {
        **mine,
        "errorDeclaration": {"declarationTime": trader.world.tick(), "reason": "incorrect_data"},
    }
    declared.pop("certificationInfo", None)
    result = trader.run("epcis", "import", str(trader.document(declared)), "--key", str(trader.key))
    assert result.exit_code == 0, result.output
    assert [(p["type"], p["event"]) for p in trader.pending()] == [("void", ship_id)]
