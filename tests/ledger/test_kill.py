"""A real appending process killed with SIGKILL mid-batch leaves no partial batch (issue 22:
the attack classes that held stay in the suite, bounded)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ledger.audit import audit
from tests.support import World, public_b64, seeded_key

BATCH = 250
EVENTS = 8000

_CHILD = """
import sys
from ledger.append import append_batch
from ledger.envelope import Envelope
from ledger.store import Store
store = Store(sys.argv[1])
envelopes = [Envelope.from_json(line) for line in open(sys.argv[2], encoding="utf-8")]
print("ready", flush=True)
for start in range(0, len(envelopes), int(sys.argv[3])):
    append_batch(store, envelopes[start:start + int(sys.argv[3])])
print("done", flush=True)
"""


@pytest.mark.slow
def test_kill_9_mid_batch_leaves_whole_batches_and_a_clean_audit(
    world: World, tmp_path: Path
) -> None:
    world.register("coop-k", ["spo"])
    base = world.store.size()
    chain = world.chains["coop-k"]
    envelopes = [
        chain.sign(
            {
                "type": "key.add",
                "subject": "coop-k",
                "time": world.tick(1),
                "public_key": public_b64(seeded_key(f"k-{i}")),
            }
        )
        for i in range(EVENTS)
    ]
    batch_file = tmp_path / "batch.jsonl"
    batch_file.write_text("".join(e.to_json() + "\n" for e in envelopes), "utf-8")
    rng = random.Random(22)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    killed = 0
    for _round in range(4):
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, world.store.url, str(batch_file), str(BATCH)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.02, 0.4))
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            killed += 1
        child.wait(timeout=60)
        appended = world.store.size() - base
        assert appended % BATCH == 0, f"a partial batch: {appended} events after the kill"
        report = audit(world.store)
        assert report.ok, [str(f) for f in report.findings][:5]
        if appended == EVENTS:
            break
    assert killed >= 1
