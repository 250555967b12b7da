"""``trazo serve`` (the HTTP API under gunicorn) and ``trazo submit`` (upload to a server).

``submit`` speaks HTTP through the standard library only, so the command line needs no
client library.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import click

from api.cli.core import collect_envelopes, db_option, fail, keys_option, open_store

RETRY_STATUSES = frozenset({429, 502, 503, 504})


# --- serve -------------------------------------------------------------------------------


@click.command()
@db_option
@keys_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Worker processes; appends from all of them are serialized by the store.",
)
@click.option(
    "--timeout",
    default=120,
    show_default=True,
    type=click.IntRange(1),
    help="Seconds a worker may spend on one request.",
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="Log every request to stderr.",
)
def serve(
    db: str, keys_dir: str, host: str, port: int, workers: int, timeout: int, access_log: bool
) -> None:
    """Run the HTTP API with gunicorn, a production WSGI server; Ctrl-C stops it.

    The server signs a checkpoint of the Merkle log after every append, with the log
    key `trazo init` wrote into --keys (log.key). Set TRAZO_READ_TOKEN to let one
    bearer token read plot.map payloads.
    """
    store = open_store(db, writes=True)
    store.dispose()
    if not (Path(keys_dir) / "log.key").exists():
        fail(
            f"no log key at {Path(keys_dir) / 'log.key'}: the server signs checkpoints with"
            " the key `trazo init` wrote (pass --keys or set TRAZO_KEYS)"
        )
    config = {"TRAZO_DATABASE_URL": db, "TRAZO_KEYS": str(Path(keys_dir).resolve())}
    server = _gunicorn(
        config,
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "timeout": timeout,
            "graceful_timeout": 10,
            "errorlog": "-",
            "accesslog": "-" if access_log else None,
            "loglevel": "info",
            "proc_name": "trazo",
            "control_socket_disable": True,  # gunicorn ≥ 25: one shared socket path per user
            "when_ready": lambda arbiter: _announce(db, arbiter),
        },
    )
    server.run()


def _announce(db: str, arbiter: Any) -> None:
    """Print the base URL once listening (the real port, even for --port 0)."""
    for listener in arbiter.LISTENERS:
        host, port = listener.sock.getsockname()[:2]
        host = f"[{host}]" if ":" in host else host
        click.echo(f"trazo serving {db} at http://{host}:{port}/api/v1/")
    sys.stdout.flush()


def _gunicorn(config: dict[str, Any], options: dict[str, Any]) -> Any:
    """gunicorn driven from Python: each worker builds its own app (and database pool)."""
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):
        def load_config(self) -> None:
            for name, value in options.items():
                if value is not None and name in self.cfg.settings:
                    self.cfg.set(name, value)

        def load(self) -> Any:
            from api import create_app

            return create_app(config)

    return Server()


# --- submit ------------------------------------------------------------------------------


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option(
    "--server",
    required=True,
    envvar="TRAZO_SERVER",
    help="Base URL of a trazo server, e.g. http://127.0.0.1:8000/api/v1/.",
)
@click.option(
    "--batch",
    "batch_size",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 5000),
    help="Events per request.",
)
@click.option(
    "--retries",
    default=5,
    show_default=True,
    type=click.IntRange(0),
    help="Attempts after a connection error or 5xx, with exponential backoff.",
)
def submit(files: tuple[str, ...], server: str, batch_size: int, retries: int) -> None:
    """Upload signed envelopes (JSON or JSON Lines files) to a server, in batches.

    Each batch is all or nothing. Re-submitting is safe: events already stored are
    acknowledged, not duplicated, so a batch whose answer was lost is simply sent
    again. Stops at the first rejected batch and prints the server's problem with the
    file and line of the offending event.
    """
    sources, envelopes = collect_envelopes(files)
    url = events_url(server)
    new = stored = 0
    with click.progressbar(
        length=len(envelopes), label="submitting", file=sys.stderr, show_pos=True
    ) as bar:
        for start in range(0, len(envelopes), batch_size):
            chunk = envelopes[start : start + batch_size]
            status, body = _post_with_retries(url, {"events": chunk}, retries)
            if status >= 400:
                bar.render_finish()
                _report_rejection(body, status, sources, start, new + stored)
            batch_new = sum(1 for item in body.get("events", []) if item.get("new"))
            new, stored = new + batch_new, stored + len(chunk) - batch_new
            bar.update(len(chunk))
    click.echo(
        f"{new} appended, {stored} already stored; the ledger holds {body.get('size', '?')} events"
    )


def events_url(server: str) -> str:
    """``…/api/v1/events`` from a base URL given with or without ``/api/v1``."""
    parts = urllib.parse.urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        fail(f"--server must be an http(s) URL, not {server!r}")
    path = parts.path.rstrip("/")
    if not path.endswith("/api/v1"):
        path += "/api/v1"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path + "/events", "", ""))


def _post_with_retries(url: str, body: dict[str, Any], retries: int) -> tuple[int, Any]:
    data = json.dumps(body, separators=(",", ":")).encode("utf-8")
    delay = 0.5
    for attempt in range(retries + 1):
        try:
            status, answer = _post(url, data)
        except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
            problem = f"cannot reach {url}: {getattr(e, 'reason', e)}"
            status, answer = 0, {"detail": problem}
        if status != 0 and status < 500 and status not in RETRY_STATUSES:
            return status, answer
        if attempt < retries:
            click.echo(f"\nretrying in {delay:g} s: {answer.get('detail', status)}", err=True)
            time.sleep(delay)
            delay = min(delay * 2, 30)
    if status == 0:
        fail(f"{answer['detail']} (gave up after {retries + 1} attempts)")
    return status, answer


def _post(url: str, data: bytes) -> tuple[int, Any]:
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "trazo-submit",
        },
    )
    try:
        with urllib.request.urlopen(
            request, timeout=float(os.environ.get("TRAZO_SUBMIT_TIMEOUT", "300"))
        ) as response:
            return response.status, _json(response.read())
    except urllib.error.HTTPError as e:
        return e.code, _json(e.read())


def _json(raw: bytes) -> Any:
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {"detail": raw.decode("utf-8", "replace")[:500]}
    return parsed if isinstance(parsed, dict) else {"detail": str(parsed)[:500]}


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


COMMANDS = (serve, submit)
"""This module's commands, registered on ``trazo`` by ``api.cli``."""
