"""The README's walk-through, with the CLI only: init, keygen, sign offline, append, and
``trazo lots`` — from harvest to a retail pack, then ``trazo rebuild``."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from api.cli.core import main
from ledger.envelope import raw_public_key
from ledger.keys import load_private_key

COOP, ROASTER = "coop-pangoa", "tostaduria"


class Cli:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.db = f"sqlite:///{tmp / 'ledger.db'}"
        self.keys = tmp / "trazo-keys"
        self.runner = CliRunner()
        self.ledger: str | None = None  # the genesis id, once `trazo init` printed it

    def run(self, *args: str) -> str:
        result = self.runner.invoke(
            main, [*args], catch_exceptions=False, env={"TRAZO_LEDGER": self.ledger}
        )
        assert result.exit_code == 0, result.output
        return result.output

    def record(self, key: Path, body: dict[str, Any], *extra: str) -> str:
        """``trazo sign`` a payload file into the key's outbox, ``trazo append --key`` it;
        return the event id."""
        payload = self.tmp / "payload.json"
        payload.write_text(json.dumps(body), "utf-8")
        self.run("sign", str(payload), "--key", str(key), *extra)
        out = self.run("append", "--key", str(key), "--db", self.db, "--keys", str(self.keys))
        row = next(r for r in out.splitlines() if r.count("\t") == 2)
        _index, event_id, status = row.split("\t")
        assert status == "sent"
        return event_id


def _public(key: Path) -> str:
    return base64.b64encode(raw_public_key(load_private_key(key).public_key())).decode()


def test_walkthrough_from_harvest_to_retail_pack(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    keys = cli.keys
    out = cli.run("init", "--db", cli.db, "--keys", str(keys))
    genesis = out.strip().splitlines()[-1].split()[-1]
    cli.ledger = genesis  # as the README's `export TRAZO_LEDGER=…`
    printed = {}  # the public key as `trazo keygen` prints it (no openssl needed)
    for party in (COOP, ROASTER):
        out = cli.run("keygen", party, "--dir", str(tmp_path))
        printed[party] = next(
            line.split()[1] for line in out.splitlines() if line.startswith("public_key ")
        )
    coop, roaster, operator = (
        tmp_path / f"{COOP}.key",
        tmp_path / f"{ROASTER}.key",
        keys / "operator.key",
    )
    assert printed[COOP] == _public(coop) and printed[ROASTER] == _public(roaster)

    def register(party: str, roles: list[str], key: Path, *extra: str) -> str:
        return cli.record(
            operator,
            {
                "type": "party.register",
                "party": "operator",
                "subject": party,
                "name": party,
                "roles": roles,
                "country": "PE",
                "public_key": printed[party],
            },
            *extra,
        )

    register(COOP, ["spo"], coop, "--seq", "1", "--prev", genesis)
    register(ROASTER, ["roaster"], roaster)
    cli.record(
        coop,
        {
            "type": "member.enroll",
            "party": COOP,
            "member": f"{COOP}:m-0042",
            "products": ["coffee"],
            "since": "2019-05-01",
            "plots": [{"plot": f"{COOP}:p-0042-1", "area_ha": "2.4"}],
        },
    )
    h = cli.record(
        coop,
        {
            "type": "harvest",
            "lot": f"{COOP}:h-1",
            "product": "coffee",
            "form": "cherry",
            "quantity": "10",
            "unit": "quintal",
            "member": f"{COOP}:m-0042",
            "plot": f"{COOP}:p-0042-1",
        },
    )
    wet = cli.record(
        coop,
        {
            "type": "transform",
            "process": "wet-mill",
            "inputs": [{"lot": f"{COOP}:h-1", "event": h, "quantity": "460", "unit": "kg"}],
            "outputs": [
                {
                    "lot": f"{COOP}:pg-1",
                    "product": "coffee",
                    "form": "parchment",
                    "quantity": "100",
                    "unit": "kg",
                }
            ],
        },
    )
    dry = cli.record(
        coop,
        {
            "type": "transform",
            "process": "dry-mill",
            "inputs": [{"lot": f"{COOP}:pg-1", "event": wet, "quantity": "100", "unit": "kg"}],
            "outputs": [
                {
                    "lot": f"{COOP}:g-1",
                    "product": "coffee",
                    "form": "green",
                    "quantity": "80",
                    "unit": "kg",
                }
            ],
        },
    )
    ship = cli.record(
        coop,
        {
            "type": "ship",
            "to": ROASTER,
            "lots": [{"lot": f"{COOP}:g-1", "event": dry, "quantity": "80", "unit": "kg"}],
        },
    )
    got = cli.record(
        roaster,
        {
            "type": "receive",
            "party": ROASTER,
            "shipment": ship,
            "lots": [{"lot": f"{COOP}:g-1", "quantity": "79.5", "unit": "kg"}],
        },
    )
    roast = cli.record(
        roaster,
        {
            "type": "transform",
            "process": "roast",
            "inputs": [{"lot": f"{COOP}:g-1", "event": got, "quantity": "79.5", "unit": "kg"}],
            "outputs": [
                {
                    "lot": f"{ROASTER}:r-1",
                    "product": "coffee",
                    "form": "roasted",
                    "quantity": "68",
                    "unit": "kg",
                }
            ],
        },
    )
    pack = cli.record(
        roaster,
        {
            "type": "transform",
            "process": "pack",
            "inputs": [{"lot": f"{ROASTER}:r-1", "event": roast, "quantity": "68", "unit": "kg"}],
            "outputs": [
                {
                    "lot": f"{ROASTER}:pk-1",
                    "product": "coffee",
                    "form": "packed",
                    "quantity": "150",
                    "unit": "lb",
                }
            ],
        },
    )  # 68.04 kg, within the 0.5 % tolerance

    shown = json.loads(cli.run("lots", f"{ROASTER}:pk-1", "--db", cli.db, "--json"))
    assert shown["created_by"]["event"] == pack and shown["form"] == "packed"
    assert shown["holders"] == [{"party": ROASTER, "via": pack, "kg": "68.0388555"}]
    cli.run("rebuild", "--db", cli.db)
    assert json.loads(cli.run("lots", f"{ROASTER}:pk-1", "--db", cli.db, "--json")) == shown

    # --- the README's "When the ledger refuses an event": set aside, fixed, sent ----------
    def delivery(lot: str, unit: str) -> Path:
        path = tmp_path / f"{lot.rsplit(':', 1)[1]}.json"
        body = {
            "type": "harvest",
            "lot": lot,
            "product": "coffee",
            "form": "cherry",
            "quantity": "3",
            "unit": unit,
            "member": f"{COOP}:m-0042",
            "plot": f"{COOP}:p-0042-1",
        }
        path.write_text(json.dumps(body), "utf-8")
        return path

    offline = [
        delivery(f"{COOP}:h-2", "quintal"),
        delivery(f"{COOP}:h-3", "qq"),
        delivery(f"{COOP}:h-4", "quintal"),
    ]
    for path in offline:  # signed at the collection centre, no connection
        cli.run("sign", str(path), "--key", str(coop))
    listed = cli.run("outbox", "--key", str(coop))
    assert listed.count("pending") == 3
    refused = cli.runner.invoke(
        main,
        ["append", "--key", str(coop), "--db", cli.db, "--keys", str(keys)],
        env={"TRAZO_LEDGER": cli.ledger},
    )
    assert refused.exit_code == 1 and "set aside" in refused.output
    assert refused.output.count("\tsent") == 2  # h-2 and h-4 landed, h-3 did not wedge them
    listed = cli.run("outbox", "--key", str(coop))
    assert "set aside" in listed and "unknown unit 'qq'" in listed and "replace" in listed
    shown_id = next(w for w in listed.split() if w.startswith("sha256:")).rstrip("…")
    fixed = tmp_path / "h-3-fixed.json"
    fixed.write_text(offline[1].read_text().replace('"qq"', '"quintal"'), "utf-8")
    cli.run("outbox", "replace", shown_id, str(fixed), "--key", str(coop))
    sent = cli.run("append", "--key", str(coop), "--db", cli.db, "--keys", str(keys))
    assert sent.count("\tsent") == 1
    assert "pending" not in cli.run("outbox", "--key", str(coop))
    for lot in ("h-2", "h-3", "h-4"):
        assert json.loads(cli.run("lots", f"{COOP}:{lot}", "--db", cli.db, "--json"))["holders"]
    assert "audit OK" in cli.run("audit", "--db", cli.db, "--keys", str(keys))
    head = cli.run("outbox", "resync", cli.db, "--key", str(coop))  # reads the ledger only
    assert "0 re-signed" in head and f"seq {len(offline) + 5}" in head
