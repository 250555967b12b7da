"""Appends from separate OS processes to one SQLite file are serialized, not lost.

Three processes (the 'spawn' start method: nothing is inherited but the arguments) each
sign with their own party's key and append 60 ``key.add`` events of fresh keys, in batches
of 1–5, all starting at the same moment. The ledger must end up with every event exactly
once, a contiguous log, one linear chain per key, and no process may have seen an error
(in particular not SQLite's "database is locked").
"""

from __future__ import annotations

import itertools
import multiprocessing
import random
import time
import traceback
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from ledger.append import append_batch
from ledger.audit import audit
from ledger.envelope import keyid_of
from ledger.schema import EventRow, KeyRow
from ledger.signer import KeyChain
from ledger.store import Store
from tests.support import World, public_b64, seeded_key

PARTIES = ("coop-pangoa", "coop-norandino", "andes-trading")
EVENTS_PER_PROCESS = 60


def _worker(url: str, party: str, count: int, seed: int, barrier: Any, results: Any) -> None:
    """Runs in a child process: append ``count`` events for ``party``; report what it saw."""
    appended: list[tuple[str, int, bool]] = []
    errors: list[str] = []
    try:
        store = Store(url)
        store.size()  # connect and import everything before the start signal
        chain = KeyChain(
            seeded_key(party),
            party,  # registered by the operator: head 0
            ledger=store.genesis_id(),
        )
        rng = random.Random(seed)
        batches = []
        made = 0
        while made < count:
            size = min(rng.randint(1, 5), count - made)
            batches.append(
                [
                    chain.sign(
                        {
                            "type": "key.add",
                            "subject": party,
                            "time": datetime.now(UTC),
                            "public_key": public_b64(Ed25519PrivateKey.generate()),
                        }
                    )
                    for _ in range(size)
                ]
            )
            made += size
        barrier.wait(timeout=60)
        for batch in batches:
            result = append_batch(store, batch)
            appended.extend((e.id, e.index, e.new) for e in result.events)
            time.sleep(rng.uniform(0.001, 0.02))  # a client's think time: lets others in
        store.dispose()
    except BaseException as e:  # report everything, including "database is locked"
        errors.append(f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
    results.put((party, appended, errors))


@pytest.mark.slow
def test_concurrent_appends_from_separate_processes(sqlite_store: Store) -> None:
    world = World.create(sqlite_store)
    for party in PARTIES:
        world.register(party, ["spo"])
    start = sqlite_store.size()
    assert start == 1 + len(PARTIES)

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(PARTIES))
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=_worker, args=(sqlite_store.url, party, EVENTS_PER_PROCESS, n, barrier, results)
        )
        for n, party in enumerate(PARTIES)
    ]
    for p in procs:
        p.start()
    try:
        reports = {}
        for _ in procs:
            party, appended, errors = results.get(timeout=120)
            reports[party] = (appended, errors)
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():  # pragma: no cover - only on a hang
                p.kill()
    assert [p.exitcode for p in procs] == [0] * len(procs)

    # No process saw any error.
    for party, (_, errors) in reports.items():
        assert not any("locked" in e for e in errors), (party, errors)
        assert errors == [], (party, errors)

    with sqlite_store.reading() as session:
        rows = list(session.scalars(select(EventRow).order_by(EventRow.index)))
        keys = {k.keyid: k for k in session.scalars(select(KeyRow))}

    # The log is contiguous and holds everything once.
    total = start + len(PARTIES) * EVENTS_PER_PROCESS
    assert [r.index for r in rows] == list(range(total))
    assert len({r.id for r in rows}) == total
    by_id = {r.id: r for r in rows}

    for party in PARTIES:
        appended, _ = reports[party]
        # every event this process signed landed exactly once, where it was told
        assert len(appended) == EVENTS_PER_PROCESS
        assert all(new for _, _, new in appended)
        assert len({i for i, _, _ in appended}) == EVENTS_PER_PROCESS
        for event_id, index, _ in appended:
            assert by_id[event_id].index == index
            assert by_id[event_id].party == party
        mine = [r for r in rows if r.party == party]
        assert {r.id for r in mine} == {i for i, _, _ in appended}

        # its key's chain is linear, and log order agrees with chain order
        keyid = keyid_of(seeded_key(party).public_key())
        assert all(r.keyid == keyid for r in mine)
        assert [r.seq for r in mine] == list(range(1, EVENTS_PER_PROCESS + 1))
        assert [r.prev for r in mine] == [None] + [r.id for r in mine[:-1]]
        head = keys[keyid]
        assert (head.head_seq, head.head_event) == (EVENTS_PER_PROCESS, mine[-1].id)

    # one key per registration plus one per key.add, and the whole ledger audits clean
    assert len(keys) == 1 + len(PARTIES) + len(PARTIES) * EVENTS_PER_PROCESS
    report = audit(sqlite_store)
    assert report.ok, [str(f) for f in report.findings]
    assert report.events == total
    # the processes really did take turns at the write lock (else this proves little)
    appended = rows[start:]
    switches = sum(a.party != b.party for a, b in itertools.pairwise(appended))
    assert switches >= len(PARTIES), f"appends did not interleave ({switches} switches)"
