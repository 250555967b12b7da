"""trazo's HTTP client: the few requests ``trazo submit`` and the outbox make to a server.

Connection errors and 5xx answers are retried with exponential backoff; a server that
stays silent is :class:`ledger.outbox.Unreachable` (nothing is lost: send again later).
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import click

from api.cli.core import fail
from ledger.outbox import Unreachable

RETRY_STATUSES = frozenset({429, 502, 503, 504})


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


def get_json(url: str, retries: int = 3) -> tuple[int, Any]:
    """GET with retries: (status, parsed JSON body); 404 is an answer, not an error."""
    delay = 0.5
    for attempt in range(retries + 1):
        request = urllib.request.Request(
            url, headers={"Accept": "application/json", "User-Agent": "trazo"}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, _json(response.read())
        except urllib.error.HTTPError as e:
            if e.code < 500 and e.code not in RETRY_STATUSES:
                return e.code, _json(e.read())
            problem = f"GET {url}: HTTP {e.code}"
        except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
            problem = f"cannot reach {url}: {getattr(e, 'reason', e)}"
        if attempt < retries:
            time.sleep(delay)
            delay = min(delay * 2, 30)
    raise Unreachable(f"{problem} (gave up after {retries + 1} attempts)")


def post_with_retries(url: str, body: dict[str, Any], retries: int) -> tuple[int, Any]:
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
        raise Unreachable(f"{answer['detail']} (gave up after {retries + 1} attempts)")
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
