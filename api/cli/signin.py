"""``trazo login``, ``trazo logout``, ``trazo sessions``: a party's sessions on a server.

A party signs in by signing the server's challenge with one of its registered keys; the
session's token is kept beside the key (``NAME.sessions.json``, owner-only) and used by
``trazo submit --key``, ``trazo sign --server`` and ``trazo outbox resync``, which sign in
by themselves when no session is stored or it has lapsed.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from api.cli.client import (
    CONNECTION_ERRORS,
    SignIn,
    SignInFailed,
    api_url,
    get_json,
    sessions_file,
)
from api.cli.core import noting

server_argument = click.argument("server", envvar="TRAZO_SERVER")
key_option = click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help="One of the party's registered keys, NAME.key; its sessions are kept beside it.",
)


@click.command()
@server_argument
@key_option
def login(server: str, key_file: str) -> None:
    """Sign in to SERVER as the key's party; keep the session beside the key.

    Signs the server's one-time challenge with the key (it never leaves this machine)
    and stores the short-lived bearer token in NAME.sessions.json (owner-only). Prints
    the session: its party, id and expiry.
    """
    with noting(f"could not sign in to {server}"):
        session = SignIn(server, Path(key_file)).login()
    click.echo(
        f"signed in as {session['party']} (session {session['session']}, until"
        f" {session['expires_at']}); kept in {sessions_file(Path(key_file))}"
    )


@click.command()
@server_argument
@key_option
@click.option("--all", "every", is_flag=True, help="End every live session of the party.")
def logout(server: str, key_file: str, every: bool) -> None:
    """End the stored session on SERVER (with --all, every session of the party)."""
    signin = SignIn(server, Path(key_file))
    stored = signin.current()
    if stored is None and not every:
        click.echo("no live session is stored for this server")
        return
    header = signin.header()
    current = signin.current()
    if every:
        ids = _live(server, header)
    else:
        ids = [str(current["session"])] if current is not None else []
    for session_id in ids:
        _end(server, header, session_id)
    signin.forget()
    click.echo(f"ended {len(ids)} session(s)")


@click.command()
@server_argument
@key_option
def sessions(server: str, key_file: str) -> None:
    """List the party's live sessions on SERVER (signing in if needed), as JSON lines."""
    header = SignIn(server, Path(key_file)).header()
    status, body = get_json(api_url(server, "sessions"), 3, header)
    if status != 200:
        raise SignInFailed(f"{server} answered HTTP {status}: {body.get('detail')}")
    for session in body["sessions"]:
        click.echo(json.dumps(session))


def _live(server: str, header: dict[str, str]) -> list[str]:
    status, body = get_json(api_url(server, "sessions"), 3, header)
    if status != 200:
        raise SignInFailed(f"{server} answered HTTP {status}: {body.get('detail')}")
    return [str(s["session"]) for s in body["sessions"]]


def _end(server: str, header: dict[str, str], session_id: str) -> None:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        api_url(server, f"sessions/{session_id}"), method="DELETE", headers=header
    )
    try:
        with urllib.request.urlopen(request, timeout=60):
            return
    except urllib.error.HTTPError as e:
        if e.code != 404:  # already ended: nothing to do
            raise SignInFailed(f"{server} answered HTTP {e.code} ending {session_id}") from e
    except CONNECTION_ERRORS as e:
        raise SignInFailed(f"cannot reach {server}: {getattr(e, 'reason', e)}") from e


COMMANDS = (login, logout, sessions)
"""This module's commands, registered on ``trazo`` by ``api.cli``."""
