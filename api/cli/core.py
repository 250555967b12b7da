"""The ``trazo`` command line: thin commands that parse, call one core function, render."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click

from ledger.errors import LedgerError

DB_HELP = "Database URL (sqlite:///FILE or postgresql://…); default $TRAZO_DATABASE_URL or sqlite:///trazo.db."
KEYS_HELP = "Folder holding the operator and log keys; default $TRAZO_KEYS or ./trazo-keys."


def default_db() -> str:
    return os.environ.get("TRAZO_DATABASE_URL", "sqlite:///trazo.db")


def default_keys() -> str:
    return os.environ.get("TRAZO_KEYS", "trazo-keys")


db_option = click.option(
    "--db", "db", default=default_db, show_default="sqlite:///trazo.db", help=DB_HELP
)


def output_option(help: str) -> Any:
    """``-o/--output FILE``: where a command writes its document (default ``-``, stdout)."""
    return click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, allow_dash=True),
        default="-",
        help=help,
    )


def witness_policy_options(command: Any) -> Any:
    """``--witness`` (repeatable) and ``--quorum``: the cosignatures a checkpoint must carry."""
    command = click.option(
        "--quorum",
        type=click.IntRange(0),
        help="Valid cosignatures the checkpoint must carry from --witness keys (default: 1"
        " with witnesses, 0 without).",
    )(command)
    return click.option(
        "--witness",
        "witnesses",
        multiple=True,
        help="A witness you trust: its verifier key (name+id+key), or NAME=VKEY; repeatable.",
    )(command)


def witness_policy(witnesses: tuple[str, ...], quorum: int | None) -> Any:
    """The ``graph.verify.WitnessPolicy`` the options name; exit 2 on a bad key or quorum."""
    from graph.verify import WitnessPolicy

    with noting("not a witness policy"):
        try:
            return WitnessPolicy.parse(witnesses, quorum)
        except ValueError as e:
            fail(str(e), 2)


keys_option = click.option(
    "--keys",
    "keys_dir",
    default=default_keys,
    show_default="./trazo-keys",
    type=click.Path(file_okay=False),
    help=KEYS_HELP,
)


origin_option = click.option(
    "--origin",
    envvar="TRAZO_LOG_ORIGIN",
    help="The log's origin line in checkpoints; default $TRAZO_LOG_ORIGIN or trazo/<operator id>.",
)


def fail(message: str, code: int = 1) -> NoReturn:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


def log_signer(store: Any, keys_dir: str, origin: str | None) -> Any:
    """The log key from KEYS_DIR, or None (with a warning) where there is none."""
    from ledger.log import load_signer, resolve_origin

    if not (Path(keys_dir) / "log.key").exists():
        click.secho(
            f"warning: no log key in {keys_dir}/: no checkpoint will be signed (pass --keys)",
            fg="yellow",
            err=True,
        )
        return None
    return load_signer(Path(keys_dir), resolve_origin(store, origin))


def open_store(url: str, *, must_exist: bool = True, writes: bool = False) -> Any:
    """The ledger at ``url``, read-only unless the command ``writes`` (a read command never
    creates a file or changes a row). ``trazo init`` (not ``must_exist``) may create the
    SQLite file, but a server must be reachable."""
    from ledger.store import Store

    store = Store(url, read_only=not writes)
    if must_exist and not store.schema_ready():
        fail(f"no trazo ledger at {url}: run `trazo init --db {url}` first")
    if not must_exist and store.sqlite_file is None:
        store.check_connection()
    return store


ENVIRONMENT = frozenset(
    {
        "TRAZO_DATABASE_URL",
        "TRAZO_KEYS",
        "TRAZO_READ_TOKEN",
        "TRAZO_PUBLIC_URL",
        "TRAZO_LOG_ORIGIN",
        "TRAZO_SESSION_SECONDS",
        "TRAZO_RATE_LIMIT",
        "TRAZO_SIGNIN_RATE_LIMIT",
        "TRAZO_WITNESSES",
        "TRAZO_LEDGER",
        "TRAZO_SERVER",
        "TRAZO_SUBMIT_TIMEOUT",
        "TRAZO_TEST_POSTGRES_URL",
        "TRAZO_BENCH_POSTGRES_URL",
    }
)
"""Every ``TRAZO_*`` variable trazo reads (the server's, the CLI's, the tests')."""


def check_environment(environ: dict[str, str]) -> None:
    """A misspelt ``TRAZO_*`` variable would silently fall back to a default: refuse it."""
    import difflib

    for name in sorted(environ):
        if name.startswith("TRAZO_") and name not in ENVIRONMENT:
            near = difflib.get_close_matches(name, sorted(ENVIRONMENT), n=1)
            fail(
                f"unknown environment variable {name}"
                + (f" — did you mean {near[0]}?" if near else "")
                + f" (trazo reads {', '.join(sorted(ENVIRONMENT))})",
                2,
            )


@contextmanager
def noting(context: str | Callable[[LedgerError], str]) -> Iterator[None]:
    """Say what the command was doing when a ``LedgerError`` stopped it ("rebuild failed,
    projections unchanged: YieldExceeded: …"); the error still reaches the one handler.
    ``context`` may be a function of the error (to name the file of its batch index)."""
    try:
        yield
    except LedgerError as e:
        e.add_note(context(e) if callable(context) else context)
        raise


def explain(error: Exception) -> tuple[str, int]:
    """The one line a user sees for an error a command did not handle, and the exit code."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(error, LedgerError):
        context = "".join(f"{note}: " for note in reversed(getattr(error, "__notes__", [])))
        return f"{context}{type(error).__name__}: {error}", error.exit_code
    if isinstance(error, OSError) and error.filename is not None:
        return f"cannot use {error.filename}: {error.strerror or error}", 2
    if isinstance(error, DBAPIError):
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        return f"the database refused: {reason}", 2
    return (
        f"unexpected {type(error).__name__}: {error} (rerun as `trazo --debug …` for the"
        " traceback)",
        1,
    )


class _Trazo(click.Group):
    """The command group: one place turns an error into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        if not ctx.params.get("debug"):
            check_environment(dict(os.environ))
        try:
            return super().invoke(ctx)
        except (
            click.exceptions.ClickException,
            click.exceptions.Exit,
            click.exceptions.Abort,
            SystemExit,
            KeyboardInterrupt,
        ):
            raise
        except Exception as e:
            if ctx.params.get("debug"):
                raise
            message, code = explain(e)
            fail(message, code)


@click.group(cls=_Trazo, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="trazo")
@click.option("--debug", is_flag=True, help="Show Python tracebacks (for reporting a bug).")
def main(debug: bool) -> None:
    """trazo — a signed, append-only custody ledger that proves small-producer origin.

    Every command that touches a ledger takes --db (or $TRAZO_DATABASE_URL).
    """


# --- init, keys, signing ---------------------------------------------------------------


@click.command()
@db_option
@keys_option
@click.option(
    "--operator", default="operator", show_default=True, help="Party id of the ledger operator."
)
@click.option(
    "--name",
    default="trazo ledger operator",
    show_default=True,
    help="The operator's display name.",
)
@click.option(
    "--country",
    default="ZZ",
    show_default=True,
    help="The operator's ISO 3166-1 alpha-2 country (ZZ: unspecified).",
)
@origin_option
def init(
    db: str, keys_dir: str, operator: str, name: str, country: str, origin: str | None
) -> None:
    """Create a ledger: schema, operator and log keys, and the operator's registration."""
    from ledger.genesis import initialize

    store = open_store(db, must_exist=False, writes=True)
    try:
        result = initialize(
            store, Path(keys_dir), operator=operator, name=name, country=country, origin=origin
        )
    finally:
        store.dispose()  # close the connections: SQLite folds its WAL into the file now
    click.echo(f"ledger initialized at {db}")
    click.echo(f"operator {operator!r}: key {result.operator_keyid}  ({result.operator_key})")
    click.echo(f"log key: {result.log_keyid}  ({result.log_key})")
    click.echo(
        "event 0 is the ledger id: sign this ledger's events with"
        " `trazo sign --ledger ID` (or TRAZO_LEDGER=ID)",
        err=True,
    )
    click.echo(f"event 0: {result.genesis_id}")


@click.command()
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where to write NAME.key and NAME.pub.",
)
def keygen(name: str, directory: str) -> None:
    """Make a new Ed25519 key pair (NAME.key, mode 0600, and NAME.pub).

    Prints its keyid, then `public_key BASE64`: the value a party.register or key.add
    takes as its public_key.
    """
    from ledger.envelope import b64encode, raw_public_key
    from ledger.keys import load_public_key, write_keypair

    pair = write_keypair(Path(directory), name)
    click.echo(pair.keyid)
    click.echo(f"public_key {b64encode(raw_public_key(load_public_key(pair.public_path)))}")
    click.echo(f"private key: {pair.private_path}  public key: {pair.public_path}", err=True)


# --- appending and reading -------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    file: str
    line: int | None

    def __str__(self) -> str:
        return self.file if self.line is None else f"{self.file} line {self.line}"


def read_payload(path: str) -> dict[str, Any]:
    """A payload file (a JSON object, read as strictly as a signed payload)."""
    from ledger.errors import InvalidEvent
    from ledger.payload import loads_strict

    with click.open_file(path, "rb") as f:
        body = loads_strict(f.read(), what=f"payload file {path}")
    if not isinstance(body, dict):
        raise InvalidEvent(f"{path} must hold a JSON object: the event's payload")
    return body


def read_envelopes(paths: tuple[str, ...]) -> Iterator[tuple[_Source, Any]]:
    """JSON files (an envelope, or a list of them) and JSON Lines files, in order."""
    for path in paths:
        with click.open_file(path, "r", encoding="utf-8") as f:
            text = f.read()
        try:
            whole = json.loads(text)
        except ValueError:
            whole = None
        if isinstance(whole, dict):
            yield _Source(path, None), whole
            continue
        if isinstance(whole, list):
            for i, item in enumerate(whole):
                yield _Source(f"{path}[{i}]", None), item
            continue
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                yield _Source(path, n), json.loads(line)
            except ValueError as e:
                fail(f"{path} line {n}: not JSON ({e})")


def collect_envelopes(paths: tuple[str, ...]) -> tuple[list[_Source], list[Any]]:
    """Every envelope of the files, with where each came from; fails when there is none."""
    sources, envelopes = [], []
    for source, envelope in read_envelopes(paths):
        if isinstance(envelope, dict) and "type" in envelope and "signatures" not in envelope:
            fail(
                f"{source}: this looks like a payload (it has a type, no signatures):"
                " sign it first with `trazo sign PAYLOAD --key NAME.key`",
                2,
            )
        sources.append(source)
        envelopes.append(envelope)
    if not envelopes:
        fail("no envelopes in the given files")
    return sources, envelopes


@click.command()
@db_option
@click.option("--party", help="Only events signed by this party.")
@click.option("--type", "type_", help="Only events of this type, e.g. harvest.")
@click.option("--after", type=int, default=-1, help="Only events after this index.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON Lines: envelope and payload.")
def events(
    db: str, party: str | None, type_: str | None, after: int, limit: int, as_json: bool
) -> None:
    """List events in ledger order (oldest first)."""
    from ledger.query import list_events
    from ledger.rules import EVENT_TYPES

    if type_ is not None and type_ not in EVENT_TYPES:
        fail(f"no event type {type_!r}; the types are {', '.join(sorted(EVENT_TYPES))}", 2)
    store = open_store(db)
    rows = list_events(store, party=party, type=type_, after=after, limit=limit)
    for row in rows:
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "index": row.index,
                        "id": row.id,
                        "envelope": json.loads(row.envelope),
                        "payload": json.loads(row.payload),
                    }
                )
            )
        else:
            click.echo(f"{row.index:>6}  {row.time[:19]}Z  {row.type:<15} {row.party:<24} {row.id}")
    if not rows and not as_json:
        click.echo("no events match", err=True)


@click.command()
@db_option
@click.option(
    "--log-key",
    help="The log public key to trust (log.pub or a verifier key"
    " string); default <--keys>/log.pub when it exists.",
)
@keys_option
@click.option(
    "--since",
    "since_file",
    type=click.Path(dir_okay=False, exists=True),
    help="An old checkpoint you kept: prove the ledger only appended since.",
)
def audit(db: str, log_key: str | None, keys_dir: str, since_file: str | None) -> None:
    """Check the whole ledger: ids, signatures, key chains, rules, projections, Merkle log.

    Recomputes everything from the stored event bytes: every event is replayed through
    the append path's own custody engine (who may sign it, its fields, custody rules) and
    every projection row is compared with the replay. Exit status 0 only when
    everything holds; otherwise every finding is printed and the exit status is 1.
    """
    from ledger.audit import audit as run_audit
    from ledger.log import LogKey

    store = open_store(db)
    default_key = Path(keys_dir) / "log.pub"
    spec = log_key or (str(default_key) if default_key.exists() else None)
    trusted = LogKey.load(spec) if spec else None
    if trusted is None:
        click.secho(
            "warning: no log key given: checkpoint signatures are not checked",
            fg="yellow",
            err=True,
        )
    since = Path(since_file).read_text("utf-8") if since_file else None
    total = store.size()
    with click.progressbar(length=total, label="auditing", file=sys.stderr) as bar:
        report = run_audit(store, progress=bar.update, log_key=trusted, since=since)
    for finding in report.findings:
        click.secho(f"FAIL {finding}", fg="red")
    click.echo(f"events checked:      {report.events}")
    click.echo(f"keys replayed:       {report.keys}")
    click.echo(f"Merkle nodes:        {report.nodes}")
    click.echo(
        f"checkpoints checked: {report.checkpoints}"
        + ("" if trusted else " (roots only: no log key)")
    )
    if since is not None:
        click.echo("since checkpoint:    " + ("consistent" if report.ok else "see findings"))
    if report.ok:
        click.secho(
            "audit OK: every id, signature, key chain, log node and checkpoint holds", fg="green"
        )
    else:
        click.secho(f"audit FAILED: {len(report.findings)} finding(s)", fg="red")
        sys.exit(1)


COMMANDS = (init, keygen, events, audit)
"""This module's commands, registered on ``trazo`` by ``api.cli``."""
