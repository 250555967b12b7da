"""trazo's HTTP client: the few requests ``trazo submit`` and the outbox make to a server.

Connection errors and 5xx answers are retried with exponential backoff; a server that
stays silent is :class:`ledger.outbox.Unreachable` (nothing is lost: send again later).
"""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from api.cli.core import fail
from ledger.errors import LedgerError
from ledger.outbox import Unreachable

RETRY_STATUSES = frozenset({429, 502, 503, 504})
CONNECTION_ERRORS = (
    urllib.error.URLError,
    http.client.HTTPException,  # an answer cut short: a server killed while it wrote
    ConnectionError,
    TimeoutError,
)
"""What a server that cannot be reached, or stops mid-answer, raises: "unreachable"."""


def api_url(server: str, path: str) -> str:
    """``…/api/v1/PATH`` from a base URL given with or without ``/api/v1``."""
    parts = urllib.parse.urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        fail(f"--server must be an http(s) URL, not {server!r}", 2)
    base = parts.path.rstrip("/")
    if not base.endswith("/api/v1"):
        base += "/api/v1"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, f"{base}/{path}", "", ""))


def events_url(server: str) -> str:
    return api_url(server, "events")


def get_json(url: str, retries: int = 3, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """GET with retries: (status, parsed JSON body); 404 is an answer, not an error."""
    delay = 0.5
    for attempt in range(retries + 1):
        request = urllib.request.Request(
            url, headers={"Accept": "application/json", "User-Agent": "trazo", **(headers or {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, _json(response.read())
        except urllib.error.HTTPError as e:
            if e.code < 500 and e.code not in RETRY_STATUSES:
                return e.code, _json(e.read())
            problem = f"GET {url}: HTTP {e.code}"
        except CONNECTION_ERRORS as e:
            problem = f"cannot reach {url}: {getattr(e, 'reason', e)}"
        if attempt < retries:
            time.sleep(delay)
            delay = min(delay * 2, 30)
    raise Unreachable(f"{problem} (gave up after {retries + 1} attempts)")


def post_with_retries(
    url: str, body: dict[str, Any], retries: int, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    data = json.dumps(body, separators=(",", ":")).encode("utf-8")
    delay = 0.5
    for attempt in range(retries + 1):
        try:
            status, answer = _post(url, data, headers)
        except CONNECTION_ERRORS as e:
            problem = f"cannot reach {url}: {getattr(e, 'reason', e)}"
            status, answer = 0, {"detail": problem}
        if status != 0 and status < 500 and status not in RETRY_STATUSES:
            return status, answer
        if attempt < retries:
            click.echo(f"\nretrying in {delay:g} s: {answer.get('detail', status)}", err=True)
            time.sleep(delay)
            delay = min(delay * 2, 30)
    if status == 0:
        raise Unreachable(f"{answer['detail']} (gave up after {retries + 1} attempts)")
    return status, answer


def _post(url: str, data: bytes, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "trazo-submit",
            **(headers or {}),
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


def post_text(url: str, body: bytes) -> tuple[int, str, str]:
    """POST a text body (a witness's ``add-checkpoint``): (status, content type, text)."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "text/plain", "User-Agent": "trazo"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers.get("Content-Type", ""), _text(response)
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), _text(e)
    except CONNECTION_ERRORS as e:
        raise Unreachable(f"cannot reach {url}: {getattr(e, 'reason', e)}") from e


def _text(response: Any) -> str:
    """The whole answer (an answer cut short raises, and is "unreachable"), as text."""
    return bytes(response.read()).decode("utf-8", "replace")[: 64 * 1024]


# --- party sessions ---------------------------------------------------------------------


def sessions_file(key_file: Path) -> Path:
    """Where ``trazo login`` keeps a key's sessions: ``NAME.sessions.json`` beside it."""
    return key_file.with_name(key_file.name.removesuffix(".key") + ".sessions.json")


class SignIn:
    """A party session on one server for one key: kept beside the key (owner-only, like
    the key), opened by signing the server's challenge, opened again when it lapses."""

    def __init__(self, server: str, key_file: Path, retries: int = 3) -> None:
        self.server = api_url(server, "").rstrip("/")
        self.key_file = key_file
        self.retries = retries

    def _stored(self) -> dict[str, Any]:
        path = sessions_file(self.key_file)
        try:
            found = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except ValueError:
            return {}  # unreadable: sign in again, and write it anew
        return found if isinstance(found, dict) else {}

    def _keep(self, sessions: dict[str, Any]) -> None:
        path = sessions_file(self.key_file)
        temporary = path.with_name(path.name + ".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            json.dump(sessions, out, indent=1)
        os.replace(temporary, path)

    def current(self) -> dict[str, Any] | None:
        """The stored session for this server, unless it has expired."""
        found = self._stored().get(self.server)
        if not isinstance(found, dict) or not isinstance(found.get("token"), str):
            return None
        try:
            expires = datetime.fromisoformat(str(found.get("expires_at")))
        except ValueError:
            return None
        if expires.tzinfo is None or expires - timedelta(seconds=30) <= datetime.now(UTC):
            return None
        return found

    def login(self) -> dict[str, Any]:
        """Sign in anew: challenge, signature, session; the session is stored."""
        from ledger.envelope import SESSION_PAYLOAD_TYPE, keyid_of, session_statement, sign
        from ledger.keys import load_private_key

        key = load_private_key(self.key_file)
        status, challenge = post_with_retries(f"{self.server}/sessions/challenge", {}, self.retries)
        if status != 201 or not isinstance(challenge.get("challenge"), str):
            raise SignInFailed(f"{self.server} gave no challenge: {_detail(status, challenge)}")
        statement = session_statement(
            challenge["challenge"],
            str(challenge.get("ledger")),
            urllib.parse.urlsplit(self.server).netloc,
            keyid_of(key.public_key()),
        )
        envelope = sign(statement, key, SESSION_PAYLOAD_TYPE)
        status, answer = post_with_retries(
            f"{self.server}/sessions", envelope.to_dict(), self.retries
        )
        if status != 201 or not isinstance(answer.get("token"), str):
            raise SignInFailed(f"{self.server} refused the sign-in: {_detail(status, answer)}")
        sessions = self._stored()
        sessions[self.server] = answer
        self._keep(sessions)
        return dict(answer)

    def forget(self) -> None:
        sessions = self._stored()
        if sessions.pop(self.server, None) is not None:
            self._keep(sessions)

    def header(self, fresh: bool = False) -> dict[str, str]:
        """``Authorization`` for this server: the stored session, or a new one."""
        found = None if fresh else self.current()
        if found is None:
            found = self.login()
        return {"Authorization": f"Bearer {found['token']}"}


class SignInFailed(LedgerError):
    """The server gave no session for this key (not registered, revoked, another ledger)."""

    title = "Sign-in failed"
    exit_code = 2


def _detail(status: int, body: Any) -> str:
    return f"HTTP {status}: {body.get('detail') if isinstance(body, dict) else body}"
