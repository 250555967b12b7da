"""The README walk-through, through the ``trazo`` command line (click's CliRunner).

init → keygen → write a party.register → sign it offline → append → append again →
events → audit; plus the ways these commands refuse bad input.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import sqlite3
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from api.cli.core import main
from ledger.envelope import Envelope, keyid_of, raw_public_key
from ledger.keys import load_public_key

HEX64 = re.compile(r"[0-9a-f]{64}")
KEYS = Path("trazo-keys")


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner working in an empty folder, with no trazo settings from the environment."""
    monkeypatch.chdir(tmp_path)
    for name in ("TRAZO_DATABASE_URL", "TRAZO_KEYS", "TRAZO_LOG_ORIGIN"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def run(cli: CliRunner, *args: str, code: int = 0) -> Result:
    result = cli.invoke(main, list(args))
    assert result.exit_code == code, (
        f"trazo {' '.join(args)} exited {result.exit_code}, not {code}\n"
        f"stdout: {result.stdout}\nstderr: {result.stderr}\n{result.exception!r}"
    )
    return result


def write_json(path: str, data: Any) -> Path:
    Path(path).write_text(json.dumps(data, indent=2), "utf-8")
    return Path(path)


def coop_register_payload(pub: Path) -> dict[str, Any]:
    raw = raw_public_key(load_public_key(pub))
    return {
        "type": "party.register",
        "subject": "coop",
        "name": "Cooperativa Ejemplo",
        "roles": ["spo"],
        "country": "PE",
        "identifiers": {"gln": "7750000000014"},
        "public_key": base64.b64encode(raw).decode(),
    }


def chain_state(key_name: str) -> dict[str, Any]:
    from ledger.outbox import Outbox

    with Outbox(KEYS / f"{key_name}.key") as outbox:
        return outbox.head()


def init_and_register_coop(cli: CliRunner) -> tuple[str, str]:
    """init + keygen coop + sign and append its registration; returns (keyid, event id)."""
    run(cli, "init")
    keyid = run(cli, "keygen", "coop").stdout.split()[0]
    write_json("coop-register.json", coop_register_payload(Path("coop.pub")))
    line = run(cli, "sign", "coop-register.json", "--key", str(KEYS / "operator.key")).stdout
    Path("register.jsonl").write_text(line)
    run(cli, "append", "register.jsonl")
    return keyid, Envelope.from_json(line).id


# --- the walk-through ------------------------------------------------------------------------


def test_readme_walkthrough(cli: CliRunner) -> None:
    # trazo init
    out = run(cli, "init").stdout
    for name in ("operator.key", "operator.pub", "log.key", "log.pub"):
        assert (KEYS / name).is_file(), name
    assert stat.S_IMODE((KEYS / "operator.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((KEYS / "log.key").stat().st_mode) == 0o600
    assert Path("trazo.db").is_file()
    operator_keyid = keyid_of(load_public_key(KEYS / "operator.pub"))
    assert operator_keyid in out
    genesis = chain_state("operator")
    assert genesis["seq"] == 1 and genesis["keyid"] == operator_keyid
    assert f"event 0: {genesis['prev']}" in out

    # trazo keygen coop
    result = run(cli, "keygen", "coop")
    keyid = result.stdout.strip().splitlines()[0]
    assert HEX64.fullmatch(keyid)
    assert Path("coop.key").is_file() and Path("coop.pub").is_file()
    assert stat.S_IMODE(Path("coop.key").stat().st_mode) == 0o600
    assert keyid == keyid_of(load_public_key(Path("coop.pub")))

    # a party.register for coop, signed offline by the operator
    write_json("coop-register.json", coop_register_payload(Path("coop.pub")))
    line = run(cli, "sign", "coop-register.json", "--key", str(KEYS / "operator.key")).stdout
    assert line.count("\n") == 1  # one JSON line, ready for a .jsonl batch
    envelope = Envelope.from_json(line)
    payload = json.loads(envelope.payload)
    assert (payload["party"], payload["key"], payload["seq"], payload["prev"]) == (
        "operator",
        operator_keyid,
        2,
        genesis["prev"],
    )
    assert payload["schema"] == 1 and "time" in payload
    assert envelope.signature.keyid == operator_keyid
    # the outbox's head advanced: seq 2 after init's event 1, prev is the new event
    assert chain_state("operator") == {
        "keyid": operator_keyid,
        "party": "operator",
        "seq": 2,
        "prev": envelope.id,
        "ledger": genesis["ledger"],
    }
    assert payload["ledger"] == genesis["ledger"]  # bound to this ledger, from init's state

    # trazo append
    Path("register.jsonl").write_text(line)
    result = run(cli, "append", "register.jsonl")
    assert result.stdout.splitlines() == [f"1\t{envelope.id}\tappended"]
    assert "1 appended, 0 already stored; the ledger holds 2 events" in result.stderr

    # the same file again: reported, not rejected, nothing appended
    result = run(cli, "append", "register.jsonl")
    assert result.stdout.splitlines() == [f"1\t{envelope.id}\talready stored"]
    assert "0 appended, 1 already stored; the ledger holds 2 events" in result.stderr

    # trazo events
    lines = run(cli, "events").stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].split()[0] == "0" and lines[1].split()[0] == "1"
    assert "party.register" in lines[1] and "operator" in lines[1]
    assert lines[0].endswith(genesis["prev"]) and lines[1].endswith(envelope.id)

    # trazo events --json
    rows = [json.loads(x) for x in run(cli, "events", "--json").stdout.splitlines()]
    assert [r["index"] for r in rows] == [0, 1]
    assert [r["id"] for r in rows] == [genesis["prev"], envelope.id]
    assert rows[1]["payload"]["subject"] == "coop"
    assert Envelope.from_dict(rows[1]["envelope"]).payload == envelope.payload

    # filters
    only = run(cli, "events", "--type", "party.register", "--after", "0").stdout
    assert len(only.splitlines()) == 1

    # trazo audit
    result = run(cli, "audit")
    assert "audit OK" in result.stdout
    assert re.search(r"events checked:\s+2\b", result.stdout)


def test_init_keys_are_readable_by_openssl(cli: CliRunner) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl binary is not installed: cannot check key interoperability")
    run(cli, "init")
    for name in ("operator", "log"):
        key, pub = KEYS / f"{name}.key", KEYS / f"{name}.pub"
        derived = subprocess.run(
            [openssl, "pkey", "-in", str(key), "-pubout"],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
        assert derived == pub.read_text()  # same SPKI PEM, byte for byte
        text_form = subprocess.run(
            [openssl, "pkey", "-pubin", "-in", str(pub), "-noout", "-text"],
            capture_output=True,
            check=True,
            text=True,
        )
        assert "ED25519" in text_form.stdout.upper()


# --- refusals --------------------------------------------------------------------------------


def test_init_twice_is_refused_without_touching_anything(cli: CliRunner) -> None:
    run(cli, "init")
    files = {p: p.read_bytes() for p in sorted(KEYS.iterdir())}
    db = Path("trazo.db").read_bytes()
    result = run(cli, "init", code=1)
    assert "already exists; refusing to overwrite" in result.stderr
    result = run(cli, "init", "--keys", "other-keys", code=1)
    assert "already holds 1 events" in result.stderr
    assert not Path("other-keys").exists() or not any(Path("other-keys").iterdir())
    assert {p: p.read_bytes() for p in sorted(KEYS.iterdir())} == files
    assert Path("trazo.db").read_bytes() == db


def test_keygen_refuses_to_overwrite(cli: CliRunner) -> None:
    run(cli, "keygen", "coop")
    before = Path("coop.key").read_bytes()
    result = run(cli, "keygen", "coop", code=2)  # a file it may not touch: like a missing one
    assert "already exists" in result.stderr
    assert Path("coop.key").read_bytes() == before


def test_rejected_append_names_file_and_line_and_appends_nothing(cli: CliRunner) -> None:
    init_and_register_coop(cli)
    run(cli, "keygen", "tablet")
    # line 1: the operator adds a key for coop (valid on its own)
    write_json(
        "add.json",
        {
            "type": "key.add",
            "subject": "coop",
            "public_key": coop_register_payload(Path("tablet.pub"))["public_key"],
        },
    )
    good = run(cli, "sign", "add.json", "--key", str(KEYS / "operator.key")).stdout
    # line 2: coop registers a party, which only the operator may do
    run(cli, "keygen", "rogue")
    rogue = dict(coop_register_payload(Path("rogue.pub")), subject="rogue", party="coop")
    write_json("rogue.json", rogue)
    bad = run(
        cli,
        "sign",
        "rogue.json",
        "--key",
        "coop.key",
        "--ledger",
        chain_state("operator")["ledger"],
    ).stdout
    Path("bad.jsonl").write_text(good + "\n" + bad)  # a blank line between: line 3

    result = run(cli, "append", "bad.jsonl", code=1)
    assert "nothing appended" in result.stderr
    assert "bad.jsonl line 3" in result.stderr
    assert "only the operator" in result.stderr
    assert result.stdout == ""
    assert len(run(cli, "events").stdout.splitlines()) == 2

    # the good line alone goes in, as event 2
    Path("good.jsonl").write_text(good)
    assert run(cli, "append", "good.jsonl").stdout.startswith("2\t")


def test_append_of_a_malformed_line_names_it(cli: CliRunner) -> None:
    init_and_register_coop(cli)
    Path("broken.jsonl").write_text(Path("register.jsonl").read_text() + "{not json\n")
    result = run(cli, "append", "broken.jsonl", code=1)
    assert "broken.jsonl line 2" in result.stderr
    assert len(run(cli, "events").stdout.splitlines()) == 2


def test_sign_rejects_a_float(cli: CliRunner) -> None:
    run(cli, "init")
    state = chain_state("operator")
    Path("float.json").write_text('{"type": "key.add", "subject": "operator", "quantity": 1.5}')
    result = run(cli, "sign", "float.json", "--key", str(KEYS / "operator.key"), code=1)
    assert "floating-point number 1.5" in result.stderr
    assert "decimal strings" in result.stderr
    assert result.stdout == ""
    assert chain_state("operator") == state  # the chain did not move


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"a": 1, "a": 2}', "duplicate key 'a'"),
        ("[1, 2]", "JSON object"),
        ('{"x": NaN}', "NaN is not allowed"),
    ],
)
def test_sign_rejects_other_bad_payload_files(cli: CliRunner, content: str, fragment: str) -> None:
    run(cli, "init")
    Path("bad.json").write_text(content)
    result = run(cli, "sign", "bad.json", "--key", str(KEYS / "operator.key"), code=1)
    assert fragment in result.stderr


def test_commands_refuse_a_missing_ledger(cli: CliRunner) -> None:
    for command in (["events"], ["audit"]):
        result = run(cli, *command, code=1)
        assert "no trazo ledger" in result.stderr
        assert "trazo init" in result.stderr


def test_audit_exits_1_on_a_tampered_ledger(cli: CliRunner) -> None:
    init_and_register_coop(cli)
    conn = sqlite3.connect("trazo.db")
    with conn:
        conn.execute("DROP TRIGGER events_no_update")
        conn.execute("UPDATE events SET party = 'someone' WHERE idx = 1")
    conn.close()
    result = run(cli, "audit", code=1)
    assert "audit FAILED" in result.stdout
    assert re.search(r"FAIL event 1 \(sha256:[0-9a-f]{64}\): \[columns\]", result.stdout)


# --- help ------------------------------------------------------------------------------------


def test_help_lists_every_command_with_a_description(cli: CliRunner) -> None:
    result = run(cli, "--help")
    described = {}
    in_commands = False
    for line in result.stdout.splitlines():
        if line.strip() == "Commands:":
            in_commands = True
            continue
        if in_commands and line.startswith("  "):
            name, _, text = line.strip().partition(" ")
            described[name] = text.strip()
    assert set(described) == set(main.commands), described
    for name in ("init", "keygen", "sign", "append", "events", "audit"):
        assert name in described
    for name, text in described.items():
        assert len(text) >= 10, f"`trazo {name}` has no description in --help"


@pytest.mark.parametrize("command", ["init", "keygen", "sign", "append", "events", "audit"])
def test_each_core_command_has_its_own_help(cli: CliRunner, command: str) -> None:
    result = run(cli, command, "--help")
    assert "Usage:" in result.stdout
    doc = main.commands[command].help
    assert doc and doc.split("\n")[0].strip()[:30] in " ".join(result.stdout.split())
