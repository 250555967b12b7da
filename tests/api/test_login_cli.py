"""``trazo login``, ``trazo sessions``, ``trazo logout`` against a real ``trazo serve``."""

from __future__ import annotations

import json
import os
import stat
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from api.cli.client import sessions_file
from tests.api.test_serve import (
    Server,
    register_parties,
    run_trazo,
    start_server,
    stop,
    wait_for_url,
)
from tests.ledger.test_outbox import key_file

pytestmark = pytest.mark.slow


def _status(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return e.code


def test_login_keeps_a_session_beside_the_key_and_logout_ends_it(tmp_path: Path) -> None:
    db, keys = f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path / "keys"
    assert run_trazo("init", "--db", db, "--keys", str(keys)).returncode == 0
    server = start_server(db, keys, (tmp_path / "server.log").open("w"))
    try:
        url = wait_for_url(server)
        register_parties(Server(url, keys, tmp_path), ["coop", "other"])
        coop = key_file(tmp_path, "coop")
        key_file(tmp_path, "other")

        done = run_trazo("login", url, "--key", str(coop))
        assert done.returncode == 0, done.stderr
        assert "signed in as coop" in done.stdout
        kept = sessions_file(coop)
        assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600  # a secret, like the key
        token = next(iter(json.loads(kept.read_text()).values()))["token"]
        holdings = url + "parties/coop/holdings"
        assert _status(holdings, token) == 200
        assert _status(url + "parties/other/holdings", token) == 404  # another party's

        listed = run_trazo("sessions", url, "--key", str(coop))
        assert listed.returncode == 0, listed.stderr
        assert [json.loads(line)["party"] for line in listed.stdout.splitlines()] == ["coop"]

        assert run_trazo("logout", url, "--key", str(coop)).returncode == 0
        assert _status(holdings, token) == 401  # ended on the server, not just forgotten
        assert json.loads(kept.read_text()) == {}

        stranger = tmp_path / "stranger.key"
        assert run_trazo("keygen", "stranger", "--dir", str(tmp_path)).returncode == 0
        refused = run_trazo("login", url, "--key", str(stranger))
        assert refused.returncode == 2
        assert "not registered" in refused.stderr and "Traceback" not in refused.stderr
    finally:
        stop(server)
