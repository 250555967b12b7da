"""`trazo serve` as a real gunicorn process (2 workers, SQLite), concurrent writers, `trazo submit`.

The server is started once for the module on a free port of 127.0.0.1 and always
terminated by the fixture's finalizer.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.envelope import Envelope
from ledger.keys import load_private_key
from ledger.signer import KeyChain
from tests.support import public_b64, seeded_key

pytestmark = pytest.mark.slow

TRAZO = [sys.executable, "-c", "from api.cli.core import main; main()"]
STARTUP_SECONDS = 30
OPERATOR_TOKEN = "test-operator-token"
"""The servers these tests start read everything with this token (TRAZO_READ_TOKEN)."""


@dataclass
class Server:
    url: str  # http://127.0.0.1:PORT/api/v1/
    keys: Path
    tmp: Path

    def get(self, path: str) -> Any:
        """GET as the operator (reads everything)."""
        request = urllib.request.Request(
            self.url + path, headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def post(self, envelopes: list[Envelope]) -> tuple[int, Any]:
        data = json.dumps({"events": [e.to_dict() for e in envelopes]}).encode()
        request = urllib.request.Request(
            self.url + "events",
            data=data,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def operator(self) -> KeyChain:
        """The operator's key, its chain continued from the server's head of it."""
        key = load_private_key(self.keys / "operator.key")
        chain = KeyChain(key, "operator", ledger=self.get("health")["ledger"])
        head = self.get(f"keys/{chain.keyid}/head")
        chain.seq, chain.prev = head["seq"], head["prev"]
        return chain


def run_trazo(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TRAZO, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("serve")
    db, keys = f"sqlite:///{tmp / 'ledger.db'}", tmp / "keys"
    init = run_trazo("init", "--db", db, "--keys", str(keys))
    assert init.returncode == 0, init.stderr
    log = (tmp / "server.log").open("w")
    process = start_server(db, keys, log)
    try:
        url = wait_for_url(process)
        yield Server(url, keys, tmp)
    finally:
        stop(process)
        log.close()
    assert process.returncode == 0, (tmp / "server.log").read_text()[-3000:]


def start_server(db: str, keys: Path, log: Any, port: int = 0) -> subprocess.Popen[str]:
    """``trazo serve`` as a real gunicorn process (2 workers) in its own process group."""
    return subprocess.Popen(
        [*TRAZO, "serve", "--db", db, "--keys", str(keys), "--port", str(port), "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        start_new_session=True,
        env={**os.environ, "TRAZO_READ_TOKEN": OPERATOR_TOKEN},
    )


def wait_for_url(process: subprocess.Popen[str]) -> str:
    found: list[str] = []
    reader = threading.Thread(
        target=lambda: found.append(process.stdout.readline()),  # type: ignore[union-attr]
        daemon=True,
    )
    reader.start()
    reader.join(STARTUP_SECONDS)
    assert found and found[0].startswith("trazo serving "), f"no banner: {found}"
    return found[0].rsplit(" at ", 1)[1].strip()


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _now() -> str:
    return datetime.now(UTC).isoformat()


def register_parties(server: Server, parties: list[str]) -> dict[str, KeyChain]:
    operator = server.operator()
    registrations = [
        operator.sign(
            {
                "type": "party.register",
                "time": _now(),
                "subject": p,
                "name": p,
                "roles": ["spo"],
                "country": "PE",
                "public_key": public_b64(seeded_key(p)),
            }
        )
        for p in parties
    ]
    status, body = server.post(registrations)
    assert status == 201, body
    return {p: KeyChain(seeded_key(p), p, ledger=operator.ledger) for p in parties}


def key_adds(chain: KeyChain, n: int) -> list[Envelope]:
    return [
        chain.sign(
            {
                "type": "key.add",
                "subject": chain.party,
                "time": _now(),
                "public_key": public_b64(Ed25519PrivateKey.generate()),
            }
        )
        for _ in range(n)
    ]


def test_serve_answers_health_and_openapi(server: Server) -> None:
    assert server.get("health")["database"] is True
    assert "/api/v1/events" in server.get("openapi.json")["paths"]


def test_concurrent_writers_land_once_and_chains_stay_linear(server: Server) -> None:
    parties = [f"coop-{i}" for i in range(4)]
    chains = register_parties(server, parties)
    batches = {
        p: [e[i : i + 10] for e in [key_adds(chains[p], 40)] for i in range(0, 40, 10)]
        for p in parties
    }
    statuses: list[int] = []
    failures: list[Any] = []

    def writer(party: str) -> None:
        # two writers per party send the same batches, racing: each batch lands once
        for batch in batches[party]:
            status, body = server.post(batch)
            statuses.append(status)
            if status not in (200, 201):
                failures.append(body)
                return

    threads = [threading.Thread(target=writer, args=(p,)) for p in parties for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures, failures
    assert statuses.count(201) >= len(parties) * 4 and len(statuses) == len(parties) * 8

    events = _all_events(server)
    assert [e["index"] for e in events] == list(range(len(events)))
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids))
    submitted = {e.id for p in parties for batch in batches[p] for e in batch}
    assert submitted <= set(ids)
    by_key: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_key.setdefault(e["key"], []).append(e)
    for key, chain in by_key.items():
        assert [e["seq"] for e in chain] == list(range(1, len(chain) + 1)), key
        assert [e["payload"]["prev"] for e in chain] == [None] + [e["id"] for e in chain[:-1]]
    for party in parties:
        head = server.get(f"keys/{chains[party].keyid}/head")
        assert head["seq"] == 40 and head["prev"] == batches[party][-1][-1].id


def _all_events(server: Server) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = -1
    while True:
        page = server.get(f"events?limit=100&after={after}")
        events.extend(page["events"])
        if page["next_after"] is None:
            return events
        after = page["next_after"]


def test_submit_uploads_in_batches_and_is_idempotent(server: Server, tmp_path: Path) -> None:
    chain = register_parties(server, ["coop-submit"])["coop-submit"]
    envelopes = key_adds(chain, 23)
    path = tmp_path / "events.jsonl"
    path.write_text("".join(e.to_json() + "\n" for e in envelopes))
    first = run_trazo("submit", str(path), "--server", server.url, "--batch", "10")
    assert first.returncode == 0, first.stderr
    assert "23 appended, 0 already stored" in first.stdout
    again = run_trazo("submit", str(path), "--server", server.url.removesuffix("/api/v1/"))
    assert again.returncode == 0, again.stderr
    assert "0 appended, 23 already stored" in again.stdout
    assert server.get(f"keys/{chain.keyid}/head")["seq"] == 23


def test_submit_stops_at_the_first_rejected_batch(server: Server, tmp_path: Path) -> None:
    chain = register_parties(server, ["coop-bad"])["coop-bad"]
    envelopes = key_adds(chain, 8)
    forged = envelopes[5].to_dict()
    forged["signatures"][0]["sig"] = envelopes[4].to_dict()["signatures"][0]["sig"]
    lines = [e.to_json() for e in envelopes]
    lines[5] = json.dumps(forged)
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = run_trazo("submit", str(path), "--server", server.url, "--batch", "4")
    assert result.returncode == 1
    assert f"{path} line 6 field 'signatures[0].sig'" in result.stderr
    assert "4 events before it were accepted" in result.stderr
    assert server.get(f"keys/{chain.keyid}/head")["seq"] == 4


def test_submit_gives_up_on_an_unreachable_server(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text(key_adds(KeyChain(seeded_key("x"), "x"), 1)[0].to_json())
    result = run_trazo("submit", str(path), "--server", "http://127.0.0.1:9/", "--retries", "1")
    assert result.returncode == 2  # could not reach: the same status as an unreachable database
    assert "cannot reach" in result.stderr and "after 2 attempts" in result.stderr


def test_serve_refuses_a_missing_ledger(tmp_path: Path) -> None:
    result = run_trazo(
        "serve", "--db", f"sqlite:///{tmp_path / 'none.db'}", "--keys", str(tmp_path), timeout=60
    )
    assert result.returncode == 1
    assert "trazo init" in result.stderr
