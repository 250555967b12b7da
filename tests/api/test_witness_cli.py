"""Real processes: a witness served by `trazo witness serve`, checkpoints pushed to it by
`trazo witness push`, a bundle checked by `trazo verify --witness`."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from tests.api.test_serve import TRAZO, run_trazo

pytestmark = pytest.mark.slow


def _lines(process: subprocess.Popen[str], count: int) -> list[str]:
    found: list[str] = []

    def read() -> None:
        for _ in range(count):
            found.append(process.stdout.readline().strip())  # type: ignore[union-attr]

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(30)
    return found


def test_a_cooperative_runs_a_witness_in_one_command_and_bundles_need_it(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    assert run_trazo("demo", "--no-serve", "--dir", str(demo)).returncode == 0
    db, log_pub = f"sqlite:///{demo / 'ledger.db'}", str(demo / "keys" / "log.pub")
    origin = run_trazo("checkpoint", "--db", db).stdout.split("\n")[0]
    assert run_trazo("keygen", "witness", "--dir", str(tmp_path)).returncode == 0
    witness = subprocess.Popen(
        [
            *TRAZO,
            "witness",
            "serve",
            "--key",
            str(tmp_path / "witness.key"),
            "--name",
            "witness.coop.example/w1",
            "--log",
            f"{origin}={log_pub}",
            "--state",
            str(tmp_path / "witness.db"),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        key_line, url_line = _lines(witness, 2)
        vkey = key_line.removeprefix("witness key ")
        url = url_line.rsplit(" at ", 1)[1].rstrip("/")
        pushed = run_trazo("witness", "push", "--db", db, "--witness", f"{url}={vkey}")
        assert pushed.returncode == 0 and "cosigned at" in pushed.stdout, (
            pushed.stdout + pushed.stderr
        )
        again = run_trazo("witness", "push", "--db", db, "--witness", f"{url}={vkey}")
        assert "up to date" in again.stdout

        bag = tmp_path / "bag.json"
        lot = next(
            line.split("/p/", 1)[1].split()[0]
            for line in run_trazo("demo", "--no-serve", "--dir", str(demo)).stdout.splitlines()
            if "100% SPP bag" in line
        )
        assert run_trazo("bundle", lot, "--db", db, "-o", str(bag)).returncode == 0
        ok = run_trazo("verify", str(bag), "--log-key", log_pub, "--witness", vkey)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "witnesses:   1 of 1 needed (witness.coop.example/w1)" in ok.stdout

        assert run_trazo("keygen", "other", "--dir", str(tmp_path)).returncode == 0
        from ledger.cosignature import Cosigner
        from ledger.keys import load_private_key

        impostor = Cosigner("witness.coop.example/w1", load_private_key(tmp_path / "other.key"))
        refused = run_trazo(
            "verify", str(bag), "--log-key", log_pub, "--witness", impostor.key.verifier_key()
        )
        assert refused.returncode == 1 and "FAIL [witnesses]" in refused.stdout, refused.stdout
        assert "verdict:" not in refused.stdout  # an unwitnessed history states nothing
        _check_tlog_proof(bag, db, log_pub, vkey)
        polled = run_trazo(
            "witness",
            "--server",
            "http://127.0.0.1:1",
            "--state",
            str(tmp_path / "s"),
            "--log-key",
            log_pub,
            "--witness",
            vkey,
            "--quorum",
            "2",
        )
        assert (
            polled.returncode == 2
            and "a quorum of 2 needs at least that many witnesses" in polled.stderr
        )
        two = run_trazo(
            "verify", str(bag), "--log-key", log_pub, "--witness", vkey, "--quorum", "2"
        )
        assert (
            two.returncode == 2 and "a quorum of 2 needs at least that many witnesses" in two.stderr
        )
    finally:
        os.killpg(witness.pid, signal.SIGTERM)
        witness.wait(timeout=20)


def _check_tlog_proof(bag: Path, db: str, log_pub: str, vkey: str) -> None:
    """`trazo log proof` of the bag's first event, checked from its text alone."""
    import base64
    import json

    from ledger.checkpoint import LogKey
    from ledger.cosignature import CosignerKey, cosignatures
    from ledger.envelope import Envelope, leaf_input
    from ledger.merkle import leaf_hash, verify_inclusion

    envelope = Envelope.from_dict(json.loads(bag.read_text())["events"][0]["envelope"])
    done = run_trazo("log", "proof", envelope.id, "--db", db)
    assert done.returncode == 0, done.stderr
    head, _, note = done.stdout.partition("\n\n")
    lines = head.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1" and lines[1].startswith("index ")
    checkpoint = LogKey.load(log_pub).open(note)
    hashes = [base64.b64decode(line) for line in lines[2:]]
    leaf = leaf_hash(leaf_input(envelope.payload))
    verify_inclusion(leaf, int(lines[1].split()[1]), checkpoint.size, hashes, checkpoint.root)
    assert len(cosignatures(note, [CosignerKey.parse(vkey)])) == 1


def test_serve_pushes_to_its_witnesses_beside_the_workers(tmp_path: Path) -> None:
    import time
    import urllib.request

    from werkzeug.serving import make_server

    from api.http.witness import create_witness_app
    from ledger.checkpoint import LogKey
    from ledger.witness import Witness, WitnessState
    from tests.api.test_serve import stop, wait_for_url
    from tests.ledger.test_witness import COSIGNER

    db, keys = f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path / "keys"
    assert run_trazo("init", "--db", db, "--keys", str(keys)).returncode == 0
    origin = run_trazo("checkpoint", "--db", db).stdout.split("\n")[0]
    log_key = LogKey.load(str(keys / "log.pub")).verifier(origin)
    witness = Witness(COSIGNER, {origin: log_key}, WitnessState(tmp_path / "w.db"))
    httpd = make_server("127.0.0.1", 0, create_witness_app(witness), threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    spec = f"http://127.0.0.1:{httpd.server_port}={COSIGNER.key.verifier_key()}"
    server = subprocess.Popen(
        [*TRAZO, "serve", "--db", db, "--keys", str(keys), "--port", "0", "--witness", spec],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        url = wait_for_url(server)
        line = f"\N{EM DASH} {COSIGNER.name} "
        note, deadline = "", time.monotonic() + 30
        while line not in note and time.monotonic() < deadline:
            with urllib.request.urlopen(url.replace("/api/v1/", "/log/checkpoint")) as r:
                note = r.read().decode()
            time.sleep(0.3)
        assert line in note, note
        assert witness.state.latest(origin) is not None
    finally:
        stop(server)
        httpd.shutdown()
