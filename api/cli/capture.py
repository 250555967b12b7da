"""Capturing events: ``trazo sign``, ``append``, ``submit``, ``check`` and ``outbox``.

``trazo sign`` queues what it signs in the key's outbox (``NAME.outbox.db``);
``trazo submit --key`` and ``trazo append --key`` send it; ``trazo outbox`` shows what is
pending, set aside or blocked and why, and mends it (``replace``, ``drop``, ``resync``);
``trazo check`` asks the ledger whether it would append a batch. The rules are in
``ledger.outbox``; this module only parses, talks to the ledger and prints.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from api.cli.client import SignIn, api_url, events_url, get_json, post_with_retries
from api.cli.core import (
    collect_envelopes,
    db_option,
    fail,
    keys_option,
    log_signer,
    noting,
    open_store,
    origin_option,
    read_payload,
)
from ledger.errors import LedgerError
from ledger.outbox import (
    BLOCKED,
    PENDING,
    SET_ASIDE,
    Entry,
    Head,
    Ledger,
    Outbox,
    Refused,
    Submitted,
    Unreachable,
)


class HttpLedger:
    """A trazo server as the outbox's :class:`ledger.outbox.Ledger`.

    With ``key_file``, it reads as that key's party (a session stored by `trazo login`,
    or opened by signing the server's challenge): the events a key signed are private,
    so finding out whether one landed needs the party's session.
    """

    def __init__(self, server: str, retries: int = 5, key_file: Path | None = None) -> None:
        self.server = server
        self.retries = retries
        self.signin = SignIn(server, key_file, retries) if key_file is not None else None

    def _get(self, path: str) -> tuple[int, Any]:
        url = api_url(self.server, path)
        if self.signin is None:
            return get_json(url, self.retries)
        status, body = get_json(url, self.retries, self.signin.header())
        if status == 401:  # the session ended or expired since it was stored
            status, body = get_json(url, self.retries, self.signin.header(fresh=True))
        return status, body

    def read(self, path: str) -> Any:
        """``GET /api/v1/{path}`` as the key's party: the body, or None for a 404."""
        status, body = self._get(path)
        if status == 404:
            return None
        if status != 200:
            raise Unreachable(f"{self.server} answered HTTP {status} to GET {path}")
        return body

    def _post(self, path: str, envelopes: list[dict[str, Any]]) -> list[int] | Refused:
        status, body = post_with_retries(
            api_url(self.server, path), {"events": envelopes}, self.retries
        )
        if status in (200, 201):
            try:
                return [int(item["index"]) for item in body["events"]]
            except (KeyError, TypeError, ValueError) as e:
                raise Unreachable(f"{self.server} does not answer like a trazo server") from e
        if status >= 500:
            raise Unreachable(f"{self.server} answered HTTP {status}: {body.get('detail')}")
        return Refused(body)

    def append(self, envelopes: list[dict[str, Any]]) -> list[int] | Refused:
        return self._post("events", envelopes)

    def check(self, envelopes: list[dict[str, Any]]) -> list[int] | Refused:
        return self._post("events/check", envelopes)

    def head(self, keyid: str) -> Head | None:
        status, body = self._get(f"keys/{keyid}/head")
        if status == 404:
            return None
        if status != 200:
            raise Unreachable(f"{self.server} answered HTTP {status}: {body.get('detail')}")
        if not isinstance(body.get("seq"), int):
            raise Unreachable(f"{self.server} does not answer like a trazo server")
        prev, time = body.get("prev"), None
        if prev:
            status, last = self._get(f"events/{prev}")
            time = last.get("time") if status == 200 else None
        return Head(int(body["seq"]), prev, time, body.get("party"))

    def has(self, event_id: str) -> bool:
        status, _ = self._get(f"events/{event_id}")
        return status == 200


def ledger_at(where: str, key_file: Path) -> Ledger:
    """A server (``http(s)://…``, read as ``key_file``'s party) or a database URL
    (``sqlite:///…``, ``postgresql://…``), to read a key's head from."""
    if where.startswith(("http://", "https://")):
        return HttpLedger(where, key_file=key_file)
    from ledger.outbox import LocalLedger

    return LocalLedger(open_store(where))


def send_outbox(outbox: Outbox, ledger: Ledger, batch_size: int) -> None:
    """Send and report; exit 1 when something was set aside or is blocked."""
    try:
        done = outbox.submit(ledger, batch_size=batch_size)
    except Unreachable as e:
        left = len(outbox.entries(PENDING))
        e.add_note(f"{left} event(s) still pending, nothing lost; run the same command again")
        raise
    _report(outbox, done)


def _report(outbox: Outbox, done: Submitted) -> None:
    for index, event_id in done.landed:
        click.echo(f"{index}\t{event_id}\tsent")
    click.echo(f"{done.sent} sent; {done.resigned} re-signed onto the ledger's head", err=True)
    for entry in done.set_aside:
        click.secho(f"set aside {entry.id}: {entry.reason}", fg="red", err=True)
    waiting = outbox.entries(SET_ASIDE, BLOCKED)
    if waiting:
        click.echo(
            f"{len(waiting)} event(s) wait for you: see `trazo outbox --key {outbox.key_file}`",
            err=True,
        )
        sys.exit(1)


key_option = click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help="The signing key, NAME.key; its outbox is NAME.outbox.db beside it.",
)

HINTS = {
    PENDING: "waits to be sent: `trazo submit --key K --server URL`",
    SET_ASIDE: "refused by the ledger: fix it with `trazo outbox replace ID FIXED.json`,"
    " or abandon it with `trazo outbox drop ID`",
    BLOCKED: "names a refused event: sent once that one is replaced",
}


@click.group(invoke_without_command=True)
@click.option(
    "--key",
    "key_file",
    type=click.Path(dir_okay=False, exists=True),
    help="The key whose outbox to show; default every NAME.outbox.db in --keys and here.",
)
@keys_option
@click.option("--all", "show_all", is_flag=True, help="Also list events already sent.")
@click.pass_context
def outbox(ctx: click.Context, key_file: str | None, keys_dir: str, show_all: bool) -> None:
    """List a key's queued events: pending, set aside (with the ledger's reason) and
    blocked (with what they wait for), and what to do about each."""
    if ctx.invoked_subcommand is not None:
        return
    keys = [Path(key_file)] if key_file else _keys_with_outboxes(Path(keys_dir), Path("."))
    if not keys:
        fail("no outbox here: `trazo sign PAYLOAD --key NAME.key` starts one beside the key")
    from ledger.outbox import outbox_path_for

    for key in keys:
        if not outbox_path_for(key).exists():  # listing creates nothing
            click.echo(f"{key}: no outbox yet (trazo sign --key {key} starts one)")
            continue
        with Outbox(key) as box:
            _show(box, show_all)


def _keys_with_outboxes(*folders: Path) -> list[Path]:
    found: list[Path] = []
    for folder in folders:
        for path in sorted(folder.glob("*.outbox.db")):
            key = path.with_name(path.name.removesuffix(".outbox.db") + ".key")
            if key.exists() and key.resolve() not in {k.resolve() for k in found}:
                found.append(key)
    return found


def _show(box: Outbox, show_all: bool) -> None:
    head = box.head()
    entries = box.entries() if show_all else box.entries(PENDING, SET_ASIDE, BLOCKED)
    click.echo(
        f"{box.key_file}: key {head['keyid'][:16]}…, party {head['party']},"
        f" chain head seq {head['seq']}; {len(entries)} event(s)"
    )
    for entry in entries:
        _line(entry)


def _line(entry: Entry) -> None:
    status = entry.status.replace("_", " ")
    lot = entry.payload.get("lot") or entry.payload.get("shipment") or ""
    click.echo(f"  {status:9}  {entry.id[:23]}…  seq {entry.seq:<4} {entry.type} {lot}".rstrip())
    if entry.reason:
        click.echo(f"             why: {entry.reason}")
    if entry.status in HINTS:
        click.echo(f"             do:  {HINTS[entry.status]}")


@outbox.command("replace")
@click.argument("event_id")
@click.argument("fixed_file", type=click.Path(dir_okay=False, allow_dash=True))
@key_option
def replace(event_id: str, fixed_file: str, key_file: str) -> None:
    """Sign FIXED_FILE (a corrected payload) in place of a set-aside event.

    The events that waited for it are re-signed after it, their references to it
    rewritten to the new id; send them all with `trazo submit --key`.
    """
    with Outbox(Path(key_file)) as box:
        envelope = box.replace(event_id, read_payload(fixed_file))
        click.echo(f"queued {envelope.id} in place of {box.entry(event_id).id}")
        for entry in box.entries(PENDING):
            _line(entry)


@outbox.command("drop")
@click.argument("event_id")
@key_option
def drop(event_id: str, key_file: str) -> None:
    """Abandon a queued event for good, and say what it leaves blocked."""
    with Outbox(Path(key_file)) as box:
        blocked = box.drop(event_id)
        click.echo(f"dropped {box.entry(event_id).id}")
        for entry in blocked:
            click.secho(
                f"  {entry.id} ({entry.type}) names it and stays blocked: drop it too, or"
                " sign it again without the reference",
                fg="yellow",
            )


@outbox.command("resync")
@click.argument("ledger_url")
@key_option
def resync(ledger_url: str, key_file: str) -> None:
    """Align the key's chain with the ledger's head of it (LEDGER_URL: a server or a
    database URL) and re-sign what is pending onto it.

    For a key that also signed on another device, or an outbox restored from a backup.
    Pending events the ledger already holds are marked sent, never signed twice.
    """
    with Outbox(Path(key_file)) as box:
        resigned = box.resync(ledger_at(ledger_url, Path(key_file)))
        head = box.head()
        click.echo(f"chain head now seq {head['seq']} ({head['prev']}); {resigned} re-signed")


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option("--server", envvar="TRAZO_SERVER", help="Ask this trazo server.")
@click.option("--db", help="Ask this database instead (sqlite:///FILE or postgresql://…).")
def check(files: tuple[str, ...], server: str | None, db: str | None) -> None:
    """Dry run: would the ledger append these envelopes? Appends nothing.

    Runs the whole append pipeline (POST /api/v1/events/check on a server, or the same
    code on a local database, rolled back): exit 0 when the batch would be accepted,
    1 with the reason, file and line of the first event it would refuse.
    """
    if (server is None) == (db is None):
        fail("give --server URL or --db URL: the ledger to ask", 2)
    sources, envelopes = collect_envelopes(files)
    if db is not None:
        from ledger.outbox import LocalLedger

        answer = LocalLedger(open_store(db, writes=True)).check(envelopes)  # rolled back
    else:
        answer = HttpLedger(str(server)).check(envelopes)
    if isinstance(answer, Refused):
        where = f"{sources[answer.index]}: " if answer.index is not None else ""
        fail(f"would be refused: {where}{answer.problem.get('title')}: {answer}")
    click.echo(json.dumps({"accepted": True, "events": len(answer)}))


# --- sign, append, submit ----------------------------------------------------------------

outbox_keys_option = click.option(
    "--key",
    "outbox_keys",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True),
    help="Send this key's outbox (NAME.outbox.db) instead of files; repeatable.",
)
batch_option = click.option(
    "--batch",
    "batch_size",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 5000),
    help="Events per batch (per request to a server).",
)


def send_outboxes(
    files: tuple[str, ...],
    keys: tuple[str, ...],
    ledger: Callable[[Path], Ledger],
    batch_size: int,
) -> bool:
    """Send each key's outbox to ``ledger(key)``; False when there are files to send."""
    if bool(files) == bool(keys):
        fail("give envelope FILES, or --key NAME.key to send its outbox", 2)
    if not keys:
        return False
    for key in keys:
        with Outbox(Path(key)) as box:
            send_outbox(box, ledger(Path(key)), batch_size)
    return True


@click.command()
@click.argument("payload_file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(dir_okay=False),
    help="The signing key, NAME.key.",
)
@click.option(
    "--outbox",
    "outbox_file",
    type=click.Path(dir_okay=False),
    help="The key's outbox; default NAME.outbox.db beside the key.",
)
@click.option(
    "--server",
    envvar="TRAZO_SERVER",
    help="Ask this server first (a dry run of the pending events and this one): a refused"
    " event is not queued. Unreachable: queued anyway. Env: TRAZO_SERVER.",
)
@click.option(
    "--seq",
    type=int,
    help="Restart the chain after the key's head: the `seq` of its last event in the"
    " ledger (with --prev), as GET /api/v1/keys/{keyid}/head shows it; the new event gets"
    " seq+1. `trazo outbox resync` does this for you.",
)
@click.option("--prev", help="The id of the key's last event, which goes with --seq.")
@click.option(
    "--ledger",
    envvar="TRAZO_LEDGER",
    help="The genesis id of the ledger the event is for (printed by `trazo init`,"
    " shown by GET /api/v1/health); needed once per key, then kept in its"
    " state file. Env: TRAZO_LEDGER.",
)
def sign(
    payload_file: str,
    key_file: str,
    outbox_file: str | None,
    server: str | None,
    seq: int | None,
    prev: str | None,
    ledger: str | None,
) -> None:
    """Sign a payload offline, queue it in the key's outbox, print its DSSE envelope.

    Fills in `key`, `seq` and `prev` from the key's outbox (NAME.outbox.db beside the
    key: a collection centre signs without a connection and sends later with
    `trazo submit --key NAME.key`), `ledger` (the ledger the event is bound to), `schema`
    (1) and `time` (now) when absent. The event is queued as pending; the printed
    envelope can also be appended to a .jsonl file.
    """
    from ledger.outbox import Outbox

    if (seq is None) != (prev is None) and seq != 0:
        fail("give --seq and --prev together: the key's last seq and that event's id", 2)
    body = read_payload(payload_file)
    check = None
    if server:
        check = HttpLedger(server, retries=0, key_file=Path(key_file))
    with Outbox(Path(key_file), Path(outbox_file) if outbox_file else None) as box:
        try:
            envelope = box.sign(
                body, ledger=ledger, head=(seq, prev) if seq is not None else None, check=check
            )
            if box.unchecked:
                click.secho(
                    f"warning: queued without a check: {box.unchecked}", fg="yellow", err=True
                )
        except Unreachable as e:
            click.secho(f"warning: {e}; queued without a check", fg="yellow", err=True)
            envelope = box.sign(body, ledger=ledger, head=(seq, prev) if seq is not None else None)
    click.echo(envelope.to_json())


@click.command()
@click.argument("files", nargs=-1, type=click.Path(allow_dash=True))
@outbox_keys_option
@batch_option
@db_option
@keys_option
@origin_option
def append(
    files: tuple[str, ...],
    outbox_keys: tuple[str, ...],
    batch_size: int,
    db: str,
    keys_dir: str,
    origin: str | None,
) -> None:
    """Append envelope files (JSON or JSON Lines) to the ledger as one batch, or send a
    key's outbox (--key) to it.

    Files: all or nothing; if any event is rejected, nothing is appended and the reason
    is printed with the file and line of the event. An outbox: its pending events in
    order; a refused one is set aside with its reason and the rest go on (see `trazo
    outbox`). Events already in the ledger are reported as such, not rejected. The log
    key in --keys signs a checkpoint of the new log size.
    """
    from ledger.append import append_batch
    from ledger.outbox import LocalLedger

    opened: list[Ledger] = []

    def local(_key: Path) -> Ledger:  # one ledger for every key's outbox
        if not opened:
            store = open_store(db, writes=True)
            opened.append(LocalLedger(store, log_signer(store, keys_dir, origin)))
        return opened[0]

    if send_outboxes(files, outbox_keys, local, batch_size):
        return

    sources, envelopes = collect_envelopes(files)
    store = open_store(db, writes=True)
    signer = log_signer(store, keys_dir, origin)

    def where(e: LedgerError) -> str:
        at = f" ({sources[e.index]})" if e.index is not None else ""
        return f"batch rejected, nothing appended{at}"

    with noting(where):
        result = append_batch(store, envelopes, log_signer=signer)
    for item in result.events:
        click.echo(f"{item.index}\t{item.id}\t{'appended' if item.new else 'already stored'}")
    new = sum(e.new for e in result.events)
    click.echo(
        f"{new} appended, {len(result.events) - new} already stored;"
        f" the ledger holds {result.size} events",
        err=True,
    )


@click.command()
@click.argument("files", nargs=-1, type=click.Path(allow_dash=True))
@outbox_keys_option
@click.option(
    "--server",
    required=True,
    envvar="TRAZO_SERVER",
    help="Base URL of a trazo server, e.g. http://127.0.0.1:8000/api/v1/.",
)
@batch_option
@click.option(
    "--retries",
    default=5,
    show_default=True,
    type=click.IntRange(0),
    help="Attempts after a connection error or 5xx, with exponential backoff.",
)
def submit(
    files: tuple[str, ...],
    outbox_keys: tuple[str, ...],
    server: str,
    batch_size: int,
    retries: int,
) -> None:
    """Send a key's outbox (--key NAME.key), or signed envelope files, to a server.

    An outbox: its pending events in order, in batches; a refused event is set aside
    with the server's reason, the later ones are re-signed around it (or blocked when
    they name it) and sending goes on; `trazo outbox` shows what waits for you. A lost
    connection or a restarted server loses nothing: run it again.

    Files: each batch is all or nothing; it stops at the first rejected batch and prints
    the server's problem with the file and line of the offending event.

    Re-sending is safe: events already stored are acknowledged, not duplicated.

    With --key, it reads the server as the key's party (a key's events are private): the
    session `trazo login` stored beside the key, or a new one it signs in for itself.
    """

    if send_outboxes(files, outbox_keys, lambda key: HttpLedger(server, retries, key), batch_size):
        return
    sources, envelopes = collect_envelopes(files)
    url = events_url(server)
    new = stored = 0
    with click.progressbar(
        length=len(envelopes), label="submitting", file=sys.stderr, show_pos=True
    ) as bar:
        for start in range(0, len(envelopes), batch_size):
            chunk = envelopes[start : start + batch_size]
            status, body = post_with_retries(url, {"events": chunk}, retries)
            if status >= 400:
                bar.render_finish()
                _report_rejection(body, status, sources, start, new + stored)
            batch_new = sum(1 for item in body.get("events", []) if item.get("new"))
            new, stored = new + batch_new, stored + len(chunk) - batch_new
            bar.update(len(chunk))
    click.echo(
        f"{new} appended, {stored} already stored; the ledger holds {body.get('size', '?')} events"
    )


def _report_rejection(
    problem: dict[str, Any], status: int, sources: list[Any], start: int, accepted: int
) -> None:
    click.secho(
        f"batch rejected ({status} {problem.get('title', '')}), nothing of it appended;"
        f" {accepted} events before it were accepted",
        fg="red",
        err=True,
    )
    for item in problem.get("errors") or []:
        index = item.get("index")
        where = (
            str(sources[start + index])
            if isinstance(index, int) and 0 <= start + index < len(sources)
            else "request"
        )
        field = f" field {item['field']!r}" if item.get("field") else ""
        click.echo(f"  {where}{field}: {item.get('message')}", err=True)
    fail(problem.get("detail") or f"HTTP {status}")


COMMANDS = (sign, append, submit, check, outbox)
"""This module's commands, registered on ``trazo`` by ``api.cli``."""
