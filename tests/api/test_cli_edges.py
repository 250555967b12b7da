"""A new user's ordinary mistakes get one line with a hint, a non-zero exit and no
traceback (issue 15), and a reading command creates nothing."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from api.cli.core import main
from tests.conftest import PG_URL


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def one_line_error(result: Result, code: int, *fragments: str) -> str:
    assert result.exit_code == code, result.output
    assert ("Traceback" not in result.output and result.exception is None) or isinstance(
        result.exception, SystemExit
    ), result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_a_missing_file_to_append(tmp_path: Path) -> None:
    one_line_error(
        run("append", str(tmp_path / "missing.jsonl"), "--db", f"sqlite:///{tmp_path}/l.db"),
        2,
        "missing.jsonl",
        "No such file",
    )


def test_a_missing_payload_to_sign(tmp_path: Path) -> None:
    (tmp_path / "k.key").write_text("not a key")
    one_line_error(
        run("sign", str(tmp_path / "missing.json"), "--key", str(tmp_path / "k.key")),
        2,
        "missing.json",
    )


def test_a_path_given_as_db(tmp_path: Path) -> None:
    one_line_error(
        run("events", "--db", "trazo-demo/ledger.db"), 2, "sqlite:///trazo-demo/ledger.db"
    )


def test_an_unsupported_database_scheme() -> None:
    one_line_error(
        run("events", "--db", "mysql://u@localhost/ledger"),
        2,
        "unsupported database URL",
        "postgresql://",
    )


def test_an_unreachable_server_is_not_told_to_run_init() -> None:
    line = one_line_error(
        run("events", "--db", "postgresql://postgres@127.0.0.1:1/x"), 2, "cannot connect"
    )
    assert "trazo init" not in line


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="PostgreSQL tests need TRAZO_TEST_POSTGRES_URL (CI sets it)")
def test_init_on_a_postgresql_database_that_does_not_exist(tmp_path: Path) -> None:
    assert PG_URL is not None
    missing = PG_URL.rsplit("/", 1)[0] + f"/trazo_missing_{uuid.uuid4().hex[:8]}"
    one_line_error(
        run("init", "--db", missing, "--keys", str(tmp_path / "keys")),
        2,
        "does not exist",
        "createdb",
    )
    assert not (tmp_path / "keys").exists()


def test_a_reading_command_creates_no_file_or_folder(tmp_path: Path) -> None:
    db = tmp_path / "nowhere" / "ledger.db"
    one_line_error(
        run("origin", "some:lot", "--db", f"sqlite:///{db}"), 1, "no trazo ledger", "trazo init"
    )
    assert not db.parent.exists()


@pytest.mark.parametrize(
    "command",
    [
        ["lots"],
        ["events"],
        ["origin", "nope:1"],
        ["trace", "nope:1"],
        ["bundle", "nope:1"],
        ["eudr", "nope:1"],
        ["audit"],
        ["mass-balance", "operator", "--period", "2026"],
        ["checkpoint"],
        ["export-trace", "nope:1", "--format", "csv"],
    ],
)
def test_a_reading_command_opens_the_ledger_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    from ledger.store import Store

    db = f"sqlite:///{tmp_path}/l.db"
    assert run("init", "--db", db, "--keys", str(tmp_path / "keys")).exit_code == 0
    opened: list[bool] = []
    real_init = Store.__init__

    def spy(self: Store, url: str, **kw: bool) -> None:
        opened.append(kw.get("read_only", False))
        real_init(self, url, **kw)

    monkeypatch.setattr(Store, "__init__", spy)
    result = run(*command, "--db", db)
    assert "Traceback" not in result.output and opened, result.output
    assert all(opened), f"{command[0]} opened the ledger for writing"


def test_a_misspelt_environment_variable_names_the_right_one(tmp_path: Path) -> None:
    one_line_error(
        run("events", env={"TRAZO_DATABSE_URL": f"sqlite:///{tmp_path}/l.db"}),
        2,
        "TRAZO_DATABSE_URL",
        "did you mean TRAZO_DATABASE_URL",
    )


def test_an_unexpected_error_is_one_line_with_a_debug_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ledger.query

    def broken(*_args: object, **_kw: object) -> None:
        raise RuntimeError("the disk is on fire")

    db = f"sqlite:///{tmp_path}/l.db"
    assert run("init", "--db", db, "--keys", str(tmp_path / "keys")).exit_code == 0
    monkeypatch.setattr(ledger.query, "list_events", broken)
    one_line_error(run("events", "--db", db), 1, "RuntimeError", "the disk is on fire", "--debug")
    debug = run("--debug", "events", "--db", db)
    assert isinstance(debug.exception, RuntimeError)  # the traceback, for a bug report


def test_an_unknown_event_type_lists_the_known_ones(tmp_path: Path) -> None:
    one_line_error(
        run("events", "--type", "harvst", "--db", f"sqlite:///{tmp_path}/l.db"),
        2,
        "'harvst'",
        "harvest",
        "transform",
        "void",
    )


def test_appending_an_unsigned_payload_says_to_sign_it(tmp_path: Path) -> None:
    payload = tmp_path / "p.json"
    payload.write_text('{"type": "harvest", "lot": "coop:h-1"}')
    one_line_error(
        run("append", str(payload), "--db", f"sqlite:///{tmp_path}/l.db"),
        2,
        "looks like a payload",
        "trazo sign",
    )
