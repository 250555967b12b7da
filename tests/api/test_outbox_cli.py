"""The outbox under real failures (issue 16): a server killed with SIGKILL mid-submit,
and a signer killed with SIGKILL while it signs. Real processes, real signals."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from ledger.envelope import Envelope
from ledger.keys import load_private_key
from ledger.outbox import PENDING, SENT, Outbox
from ledger.payload import loads_strict
from tests.api.test_serve import (
    TRAZO,
    Server,
    register_parties,
    run_trazo,
    start_server,
    stop,
    wait_for_url,
)
from tests.ledger.test_outbox import key_file
from tests.support import public_b64, seeded_key

pytestmark = pytest.mark.slow

EVENTS = 1200


def _size(url: str) -> int:
    with urllib.request.urlopen(url + "health", timeout=10) as response:
        return int(json.loads(response.read())["events"])


def _key_add(n: int) -> dict[str, Any]:
    return {
        "type": "key.add",
        "party": "coop",
        "subject": "coop",
        "public_key": public_b64(seeded_key(f"k{n}")),
    }


def test_a_server_killed_mid_submit_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    db, keys = f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path / "keys"
    assert run_trazo("init", "--db", db, "--keys", str(keys)).returncode == 0
    log = (tmp_path / "server.log").open("w")
    server = start_server(db, keys, log)
    try:
        url = wait_for_url(server)
        chain = register_parties(Server(url, keys, tmp_path), ["coop"])["coop"]
        with Outbox(key_file(tmp_path, "coop")) as box:
            for n in range(EVENTS):
                box.sign(_key_add(n), ledger=chain.ledger)
        start = _size(url)
        submit = subprocess.Popen(
            [
                *TRAZO,
                "submit",
                "--key",
                str(tmp_path / "coop.key"),
                "--server",
                url,
                "--batch",
                "10",
                "--retries",
                "0",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        while _size(url) < start + 200:
            time.sleep(0.02)
        os.killpg(server.pid, signal.SIGKILL)  # mid-way: workers and arbiter, no goodbye
        server.wait()
        _out, err = submit.communicate(timeout=120)
        assert submit.returncode == 2, err
        assert "still pending, nothing lost" in err

        server = start_server(db, keys, log)
        url = wait_for_url(server)
        again = run_trazo("submit", "--key", str(tmp_path / "coop.key"), "--server", url)
        assert again.returncode == 0, again.stderr

        assert _size(url) == start + EVENTS
        with Outbox(tmp_path / "coop.key") as box:
            assert {e.status for e in box.entries()} == {SENT}
        mine, after = [], -1
        while after is not None:
            page = Server(url, keys, tmp_path).get(f"events?party=coop&limit=500&after={after}")
            mine += page["events"]
            after = page["next_after"]
        seqs = [e["seq"] for e in mine]
        assert seqs == list(range(1, EVENTS + 1))  # once each, one linear chain
        added = {e["payload"]["public_key"] for e in mine}
        assert added == {_key_add(n)["public_key"] for n in range(EVENTS)}
    finally:
        stop(server)
        log.close()


SIGNER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from ledger.outbox import Outbox

    box = Outbox(Path(sys.argv[1]))
    n = len(box.entries())
    print("ready", flush=True)
    while True:
        n += 1
        box.sign({"type": "key.add", "subject": "coop", "party": "coop",
                  "public_key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "n": str(n)},
                 ledger="sha256:" + "0" * 64)
    """
)


def test_a_signer_killed_mid_write_leaves_no_half_entry_and_no_head_ahead(
    tmp_path: Path,
) -> None:
    key = key_file(tmp_path, "coop")
    public = load_private_key(key).public_key()
    rng = random.Random(16)
    for _ in range(8):
        signer = subprocess.Popen(
            [sys.executable, "-c", SIGNER, str(key)], stdout=subprocess.PIPE, text=True
        )
        assert signer.stdout is not None and signer.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.4))
        signer.send_signal(signal.SIGKILL)
        signer.wait()
        with Outbox(key) as box:
            entries, head = box.entries(), box.head()
        assert entries, "the signer signed nothing before it was killed"
        assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
        assert all(e.status == PENDING for e in entries)
        prev = None
        for entry in entries:
            envelope = Envelope.from_json(entry.envelope)
            envelope.verify(public)
            payload = loads_strict(envelope.payload)
            assert envelope.id == entry.id and payload["seq"] == entry.seq
            assert payload["prev"] == prev
            prev = entry.id
        assert (head["seq"], head["prev"]) == (entries[-1].seq, entries[-1].id)


def test_sign_asks_the_server_first_and_check_asks_for_files(tmp_path: Path) -> None:
    db, keys = f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path / "keys"
    assert run_trazo("init", "--db", db, "--keys", str(keys)).returncode == 0
    log = (tmp_path / "server.log").open("w")
    server = start_server(db, keys, log)
    try:
        url = wait_for_url(server)
        chain = register_parties(Server(url, keys, tmp_path), ["coop"])["coop"]
        key = key_file(tmp_path, "coop")
        bad = tmp_path / "bad.json"
        bad.write_text(
            '{"type": "key.add", "party": "coop", "subject": "coop", "public_key": "AAAA"}'
        )
        env = {**os.environ, "TRAZO_LEDGER": str(chain.ledger)}
        refused = run_trazo("sign", str(bad), "--key", str(key), "--server", url, env=env)
        assert refused.returncode == 1 and refused.stdout == ""
        assert "the ledger refuses it" in refused.stderr and "public_key" in refused.stderr
        with Outbox(key) as box:
            assert box.entries() == [] and box.head()["seq"] == 0  # nothing queued
        good = tmp_path / "good.json"
        good.write_text(json.dumps(_key_add(1)))
        signed = run_trazo("sign", str(good), "--key", str(key), "--server", url, env=env)
        assert signed.returncode == 0, signed.stderr
        envelope = tmp_path / "e.jsonl"
        envelope.write_text(signed.stdout)
        checked = run_trazo("check", str(envelope), "--server", url)
        assert checked.returncode == 0 and '"accepted": true' in checked.stdout, checked.stderr
        assert _size(url) == 2  # the dry runs appended nothing
        gone = run_trazo(
            "sign", str(good), "--key", str(key), "--server", "http://127.0.0.1:9/", env=env
        )
        assert gone.returncode == 0 and "queued without a check" in gone.stderr
    finally:
        stop(server)
        log.close()
