"""Proof bundles: one JSON document that proves a lot's origin to anyone, offline.

Format ``trazo.bundle`` version 1 (documented in ``docs/bundle.md``, JSON Schema in
``graph/data/bundle.schema.json``)::

    {"format": "trazo.bundle", "version": 1, "lot": "<lot id>",
     "checkpoint": "<signed checkpoint note>",
     "events": [{"index": n, "envelope": {DSSE envelope}, "inclusion": ["<hex>", …]}, …],
     "tables": {units, processes, products as used},
     "verdict": {the origin verdict}}

Events are in ledger order; each carries an inclusion proof against the checkpoint. A
bundle never carries a ``plot.map`` event: exact plot locations identify families.
"""

from __future__ import annotations

from typing import Any

from graph.ancestry import gather
from graph.evidence import Evidence
from graph.origin import origin_verdict
from ledger.errors import NotCheckpointed
from ledger.log import SqlNodes, cosigned_note, latest_row
from ledger.merkle import inclusion_proof
from ledger.store import Store
from ledger.tables import default_tables

FORMAT = "trazo.bundle"
VERSION = 1
PRIVATE_TYPES = frozenset({"plot.map"})
PRICE_TYPES = frozenset(
    {"price.list", "payment", "payment.confirm", "payment.dispute", "member.payment"}
)


def build_bundle(store: Store, lot: str) -> dict[str, Any]:
    """The proof bundle of ``lot`` against the latest checkpoint of the log."""
    evidence = gather(store, lot, keys=True)
    public = Evidence({i: r for i, r in evidence.records.items() if r.type not in PRIVATE_TYPES})
    verdict = origin_verdict(lot, public)
    # payment events only where a figure of the verdict rests on them (a disclosed member
    # payment of a cooperative whose own payment is not disclosed shows nothing)
    public = public.only(lambda r: r.type not in PRICE_TYPES or r.id in verdict.prices.events)
    with store.reading() as session:
        checkpoint = latest_row(session)
        if checkpoint is None:
            raise NotCheckpointed("the log has no signed checkpoint yet")
        last = max(r.index for r in public)
        if last >= checkpoint.size:
            raise NotCheckpointed(
                f"event {last} is not yet covered by a signed checkpoint"
                f" (latest size {checkpoint.size}); append with the log key first"
            )
        nodes = SqlNodes(session)
        events = [
            {
                "index": r.index,
                "envelope": r.event.envelope.to_dict(),
                "inclusion": [h.hex() for h in inclusion_proof(r.index, checkpoint.size, nodes)],
            }
            for r in public
        ]
        note = cosigned_note(session, checkpoint)  # with its witnesses' cosignatures
    return {
        "format": FORMAT,
        "version": VERSION,
        "lot": lot,
        "checkpoint": note,
        "events": events,
        "tables": default_tables().document(),
        "verdict": verdict.to_dict(),
    }
