"""The custody subgraph of a lot as a networkx DiGraph, and its JSON form.

Nodes are events (``kind="event"``) and lots (``kind="lot"``). Edges run with the goods:
an event → the lot it creates (``creates``), and an event → the event that builds on it
(``custody``, with the lot and kilograms moved).
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from graph.ancestry import gather
from graph.evidence import CUSTODY_TYPES, Evidence, created_lots
from ledger.store import Store


def custody_graph(evidence: Evidence) -> nx.DiGraph[str]:
    graph: nx.DiGraph[str] = nx.DiGraph()
    custody = [r for r in evidence if r.type in CUSTODY_TYPES]
    for record in custody:
        graph.add_node(
            record.id,
            kind="event",
            type=record.type,
            party=record.party,
            time=record.time.isoformat(),
            index=record.index,
        )
        for lot, line in created_lots(record).items():
            graph.add_node(lot, kind="lot", product=line.product, form=line.form)
            graph.add_edge(record.id, lot, kind="creates", kg=str(line.amount.kg))
    for record in custody:
        for ref in evidence.references(record):
            if ref.parent in graph:
                graph.add_edge(ref.parent, record.id, kind="custody", lot=ref.lot, kg=str(ref.kg))
    return graph


def trace(store: Store, lot: str, direction: str = "upstream") -> dict[str, Any]:
    """The lot's custody graph, upstream (where from) or downstream (where to), as JSON."""
    if direction not in ("upstream", "downstream"):
        raise ValueError("direction is upstream or downstream")
    graph = custody_graph(gather(store, lot, direction=direction))
    return {
        "lot": lot,
        "direction": direction,
        "nodes": [{"id": node, **attrs} for node, attrs in graph.nodes(data=True)],
        "edges": [{"source": a, "target": b, **attrs} for a, b, attrs in graph.edges(data=True)],
    }
