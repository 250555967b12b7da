"""``trazo serve`` (the HTTP API under gunicorn) and ``trazo submit`` (upload to a server).

``submit`` speaks HTTP through the standard library only, so the command line needs no
client library.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from api.cli.core import db_option, fail, keys_option, open_store

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
@click.option(
    "--witness",
    "witnesses",
    multiple=True,
    envvar="TRAZO_WITNESSES",
    help="URL=VKEY: push each new checkpoint to this witness (a `trazo witness push` beside"
    " the server, every 10 s; appends never wait for it); repeatable.",
)
def serve(
    db: str,
    keys_dir: str,
    host: str,
    port: int,
    workers: int,
    timeout: int,
    access_log: bool,
    witnesses: tuple[str, ...],
) -> None:
    """Run the HTTP API with gunicorn, a production WSGI server; Ctrl-C stops it.

    The server signs a checkpoint of the Merkle log after every append, with the log
    key `trazo init` wrote into --keys (log.key). Reads are private (the README's "Who
    reads what"): parties sign in with their keys; set TRAZO_READ_TOKEN to give the
    operator a bearer token that reads everything.
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
    pusher = _pusher(db, witnesses) if witnesses else None
    try:
        server.run()
    finally:
        if pusher is not None:
            pusher.terminate()
            pusher.wait(timeout=20)


def _pusher(db: str, witnesses: tuple[str, ...]) -> Any:
    """`trazo witness push --every 10` as a process of its own: a witness that hangs
    holds up no worker and no append."""
    import subprocess

    specs = [part for spec in witnesses for part in spec.split()]
    command = [sys.executable, "-c", "from api.cli.core import main; main()", "witness", "push"]
    command += ["--db", db, "--every", "10"]
    for spec in specs:
        command += ["--witness", spec]
    return subprocess.Popen(command)


def _announce(db: str, arbiter: Any) -> None:
    """Print the base URL once listening (the real port, even for --port 0)."""
    for listener in arbiter.LISTENERS:
        host, port = listener.sock.getsockname()[:2]
        host = f"[{host}]" if ":" in host else host
        click.echo(f"trazo serving {db} at http://{host}:{port}/api/v1/")
    sys.stdout.flush()


def _gunicorn(config: dict[str, Any], options: dict[str, Any]) -> Any:
    """gunicorn driven from Python: each worker builds its own app (and database pool)."""

    def load() -> Any:
        from api import create_app

        return create_app(config)

    return gunicorn_server(load, options)


def gunicorn_server(load: Callable[[], Any], options: dict[str, Any]) -> Any:
    """A gunicorn server of the WSGI app ``load()`` builds in each worker."""
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):
        def load_config(self) -> None:
            for name, value in options.items():
                if value is not None and name in self.cfg.settings:
                    self.cfg.set(name, value)

        def load(self) -> Any:
            return load()

    return Server()


# --- submit ------------------------------------------------------------------------------


COMMANDS = (serve,)
"""This module's commands, registered on ``trazo`` by ``api.cli``."""
