"""Request budgets: per client address, per session, and for signing in.

Fixed one-minute windows, counted in the worker process (``trazo serve --workers N``
gives each worker its own counts, so a client may reach N times the budget; a proxy in
front of a fleet should bound it too). Over budget, the answer is a 429 problem with
``Retry-After``, the seconds left in the window.

``TRAZO_RATE_LIMIT``         requests a minute per client address and per session (default
                             1200; 0 turns limits off)
``TRAZO_SIGNIN_RATE_LIMIT``  challenges and sign-ins a minute per client address (default 30)

The client is the connection's address (``request.remote_addr``): behind a reverse
proxy, run the proxy's own limits or have the WSGI server set the real address.
"""

from __future__ import annotations

import math
import threading
import time

from flask import current_app, request

from api.http.errors import TooManyRequests

DEFAULT_RATE = 1200
DEFAULT_SIGNIN_RATE = 30
WINDOW = 60.0
SIGNIN_PATHS = frozenset({"/api/v1/sessions", "/api/v1/sessions/challenge"})
EXEMPT = frozenset({"/api/v1/health"})


class Budgets:
    """Counts per key in fixed windows; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[float, int]] = {}

    def spend(self, key: str, budget: int, now: float | None = None) -> int | None:
        """Count one request; None if within ``budget``, else the seconds to wait."""
        now = time.monotonic() if now is None else now
        with self._lock:
            start, count = self._counts.get(key, (now, 0))
            if now - start >= WINDOW:
                start, count = now, 0
            if count >= budget:
                return max(1, math.ceil(start + WINDOW - now))
            self._counts[key] = (start, count + 1)
            if len(self._counts) > 100_000:
                self._forget(now)
            return None

    def _forget(self, now: float) -> None:
        for key in [k for k, (start, _) in self._counts.items() if now - start >= WINDOW]:
            del self._counts[key]


def _setting(name: str, default: int) -> int:
    value = current_app.config.get(name)
    return default if value in (None, "") else int(value)


def check_budget() -> None:
    """``before_request``: count the request against its client and session budgets (after
    the client's, the credential is checked: a bad token is a 401 on every path)."""
    from api.http.access import caller, carries_credential

    rate = _setting("TRAZO_RATE_LIMIT", DEFAULT_RATE)
    if rate <= 0 or request.path in EXEMPT:
        return
    budgets: Budgets = current_app.extensions.setdefault("trazo.budgets", Budgets())
    client = request.remote_addr or "unknown"
    spends = [(f"client:{client}", rate, "this client")]
    if request.path in SIGNIN_PATHS and request.method == "POST":
        signin = _setting("TRAZO_SIGNIN_RATE_LIMIT", DEFAULT_SIGNIN_RATE)
        spends.append((f"signin:{client}", signin, "sign-ins from this client"))
    for key, budget, who in spends:
        _spend(budgets, key, budget, who)
    if not carries_credential():
        return
    session = caller().session  # after the client's budget: a bad token counts too
    if session is not None:
        _spend(budgets, f"session:{session}", rate, "this session")


def _spend(budgets: Budgets, key: str, budget: int, who: str) -> None:
    wait = budgets.spend(key, budget)
    if wait is not None:
        raise TooManyRequests(
            f"{who} made more than {budget} requests in a minute: retry in {wait} s",
            retry_after=wait,
        )
