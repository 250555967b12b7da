"""The log's side of witnessing: push each new checkpoint to the witnesses, keep what
they cosign (C2SP ``tlog-witness``, ``tlog-cosignature``).

For each witness the log keeps the last size it cosigned (``witness_heads``): a push
sends ``old`` = that size with a consistency proof from it to the latest checkpoint. A
witness that answers 409 states its size (``text/x.tlog.size``): the push starts again
from there (it has just restarted, or the log forgot). A cosignature is checked against
the witness's key before it is kept (``cosignatures``), so the log only ever serves
cosignatures that verify. Nothing here runs on the append path: a slow, failing or
lying witness delays only its own cosignature (``trazo witness push`` retries).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from ledger import log
from ledger.cosignature import CosignerKey, cosignatures
from ledger.errors import ProofError
from ledger.fields import utc_text
from ledger.store import Store
from ledger.witness import SIZE, SIZE_TYPE, request_body

Post = Callable[[str, bytes], tuple[int, str, str]]
"""POST ``url`` with a body: (status, content type, text). ``Unreachable`` when silent."""


@dataclass(frozen=True)
class WitnessEndpoint:
    """A witness the log pushes to: its submission prefix and its cosigner key."""

    url: str
    key: CosignerKey

    @classmethod
    def parse(cls, spec: str) -> WitnessEndpoint:
        """``URL=VKEY`` (the witness's submission prefix, then its verifier key)."""
        url, sep, vkey = spec.partition("=")
        if not sep or not url.startswith(("http://", "https://")):
            from ledger.errors import ProofError

            raise ProofError(f"{spec!r}: give a witness as URL=VKEY (http(s)://…=name+id+key)")
        return cls(url.rstrip("/"), CosignerKey.parse(vkey))


def push(store: Store, witness: WitnessEndpoint, post: Post) -> str:
    """Offer the latest checkpoint to ``witness``; what happened, in a few words."""
    with store.reading() as session:
        latest = log.latest_row(session)
        head = session.get(log.WitnessHeadRow, witness.key.name)
    if latest is None:
        return "no checkpoint yet"
    old = head.size if head is not None else 0
    if head is not None and old == latest.size:
        return f"up to date at {old}"
    for _attempt in range(3):
        if old > latest.size:
            return f"the witness is at {old}, beyond this log's {latest.size}: a fork? not pushed"
        proof: list[bytes] = []
        if 0 < old < latest.size:
            proof = log.consistency(store, old, latest.size).hashes
        status, kind, text = post(
            f"{witness.url}/add-checkpoint", request_body(old, proof, latest.note)
        )
        if status == 409 and kind.startswith(SIZE_TYPE):
            stated = text.strip()
            if not SIZE.fullmatch(stated) or int(stated) > latest.size:
                # a fork, a lie or another log: never kept, so the next round starts again
                return f"refused: the witness says it is at {stated[:30]!r}, beyond {latest.size}"
            old = int(stated)
            _record_head(store, witness, old, None)
            continue
        if status != 200:
            return f"refused: HTTP {status}: {text.strip()[:200]}"
        line = next(
            (ln + "\n" for ln in text.splitlines() if _valid(latest.note, ln, witness.key)),
            None,
        )
        if line is None:
            return "answered 200 without a valid cosignature: not kept"
        _record_head(store, witness, latest.size, line)
        return f"cosigned at {latest.size}"
    return "the witness keeps moving its size: not pushed"


def _valid(note: str, line: str, key: CosignerKey) -> bool:
    """Whether ``line`` is ``key``'s valid cosignature of ``note`` (any junk is not)."""
    if not line.startswith(f"\N{EM DASH} {key.name} "):
        return False
    try:
        return bool(cosignatures(note + line + "\n", [key]))
    except ProofError:
        return False


def _record_head(store: Store, witness: WitnessEndpoint, size: int, line: str | None) -> None:
    now = utc_text(datetime.now(UTC))
    with store.state() as session:
        head = session.get(log.WitnessHeadRow, witness.key.name)
        if head is None:
            session.add(log.WitnessHeadRow(witness=witness.key.name, size=size, updated_at=now))
        else:
            head.size, head.updated_at = size, now
        if line is not None:
            row = session.get(log.CosignatureRow, (size, witness.key.name))
            if row is None:
                session.add(log.CosignatureRow(size=size, witness=witness.key.name, line=line))
            else:
                row.line = line


__all__ = ["Post", "WitnessEndpoint", "push"]
