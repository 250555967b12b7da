"""Offline verification of a proof bundle: no database, no network, no trust in the server.

The verifier is told which log key to trust. It then checks, as a straight pipeline:

1. ``format``      — the bundle's format and version, then its JSON Schema
                     (``schema``: unknown members are findings);
2. ``checkpoint``  — the checkpoint note is signed by the trusted log key;
3. ``envelopes``   — every envelope parses and its id is recomputed from its payload;
4. ``inclusion``   — every event is in the log at its index, under the checkpoint's root;
5. ``ledger``      — the bundle carries the genesis (event 0) its events name;
6. ``rules``       — every event is admitted, in index order, by the ledger's own custody
                     engine (``ledger.engine.admit``) over the bundle's evidence: its
                     signing key registered by an earlier event of the bundle and valid
                     (``signatures``), its chain (``chains``: gaps are events the bundle
                     does not carry), the ledger it names (``ledger``), who may sign its
                     type, its fields and custody rules (``rules``), and quantities —
                     holdings, receipts, yields (``conservation``). What the bundle does
                     not carry is "not in evidence", never taken as absent;
7. ``references``  — every custody reference points at an earlier event in the bundle,
                     and an event is not dated before what it builds on;
8. ``privacy``     — no ``plot.map`` event;
9. ``verdict``     — attribution and verdict recomputed and compared with the claim.
Every failure becomes a finding naming the event; the verifier does not stop early.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Any

from graph.evidence import VOCABULARY, Evidence, Record
from graph.origin import OriginVerdict, origin_verdict
from graph.prices import price_section
from ledger import merkle
from ledger.checkpoint import Checkpoint, LogKey
from ledger.cosignature import CosignerKey, cosignatures
from ledger.engine import admit, keep_chain
from ledger.envelope import Envelope, leaf_input
from ledger.errors import (
    ClientError,
    InsufficientQuantity,
    LedgerError,
    LedgerFault,
    YieldExceeded,
)
from ledger.payload import parse_payload
from ledger.tables import RuleTables, default_tables
from ledger.view import MemoryView, NotInEvidence, stored_event

FORMAT = "trazo.bundle"
VERSION = 1


@dataclass(frozen=True)
class Finding:
    check: str
    message: str
    event: str | None = None

    def __str__(self) -> str:
        return f"[{self.check}] " + (f"{self.event}: " if self.event else "") + self.message


@dataclass
class BundleReport:
    """What the verifier found; truthy only when every check held."""

    lot: str | None = None
    events: int = 0
    checkpoint: Checkpoint | None = None
    verdict: OriginVerdict | None = None
    tables_match: bool = True
    cosigned_by: list[str] = field(default_factory=list)
    """Witnesses of the policy whose valid cosignature the checkpoint carries."""
    findings: list[Finding] = field(default_factory=list)

    def __bool__(self) -> bool:
        return not self.findings

    @property
    def ok(self) -> bool:
        return not self.findings


@dataclass(frozen=True)
class WitnessPolicy:
    """Which witnesses a verifier trusts, and how many of them must have cosigned."""

    witnesses: tuple[CosignerKey, ...] = ()
    quorum: int = 0

    def __post_init__(self) -> None:
        keys = {k.public_key for k in self.witnesses}
        if len(keys) != len(self.witnesses) or len({k.name for k in self.witnesses}) != len(keys):
            raise ValueError("each witness is named once, with a key of its own")
        if not 0 <= self.quorum <= len(self.witnesses):
            raise ValueError(
                f"a quorum of {self.quorum} needs at least that many witnesses, not"
                f" {len(self.witnesses)}"
            )

    @classmethod
    def parse(cls, specs: Iterable[str], quorum: int | None = None) -> WitnessPolicy:
        """Witness keys as given (``VKEY`` or ``NAME=VKEY``) and the quorum; by default one
        cosignature when witnesses are named, none otherwise (the README's trade-offs)."""
        keys = tuple(
            CosignerKey.parse(s.split("=", 1)[1] if "=" in s.split("+", 1)[0] else s) for s in specs
        )
        return cls(keys, (1 if keys else 0) if quorum is None else quorum)

    def check(self, note: str) -> tuple[list[str], str | None]:
        """Who of the policy cosigned the checkpoint ``note``, and what is wrong if fewer
        than the quorum did (None when it holds)."""
        found = sorted(c.name for c in cosignatures(note, self.witnesses))
        if len(found) >= self.quorum:
            return found, None
        named = ", ".join(k.name for k in self.witnesses)
        return found, (
            f"the checkpoint carries {len(found)} valid cosignature(s) of the witnesses"
            f" trusted ({named}); the policy asks for {self.quorum}"
        )


NO_WITNESSES = WitnessPolicy()
"""Trust the checkpoint on the log's signature alone (a split view goes unseen)."""


def verify_bundle(
    bundle: Any, log_key: LogKey, witnesses: WitnessPolicy = NO_WITNESSES
) -> BundleReport:
    report = BundleReport()

    def find(check: str, message: str, event: str | None = None) -> None:
        report.findings.append(Finding(check, message, event))

    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        find("format", f"not a {FORMAT} document")
        return report
    for problem in schema_problems(bundle):
        find("schema", problem)
    if bundle.get("version") != VERSION:
        find("format", f"version {bundle.get('version')!r}; this verifier reads {VERSION}")
        return report
    report.lot = bundle.get("lot")
    checkpoint = _checkpoint(bundle, log_key, find)
    report.checkpoint = checkpoint
    if checkpoint is not None and witnesses.quorum:
        _cosignatures(bundle["checkpoint"], witnesses, report, find)
    rules = _tables(bundle, report, find)
    evidence = _envelopes(bundle, checkpoint, find)
    report.events = len(evidence.records)
    refused: set[str] = set()  # events the custody rules refuse: they prove nothing
    steps: list[tuple[str, Callable[[], None]]] = [
        ("ledger", lambda: _ledger(evidence, find)),
        ("rules", lambda: refused.update(_rules(evidence, find))),
        ("references", lambda: _references(evidence, find)),
        ("privacy", lambda: _privacy(evidence, find)),
    ]
    if isinstance(report.lot, str):
        lot = report.lot
        steps.append(
            ("verdict", lambda: _verdict(bundle, lot, evidence, refused, rules, report, find))
        )
    else:
        find("format", "the bundle names no lot")
    for check, step in steps:
        try:
            step()
        except Exception as e:  # a malformed event must be a finding, never a crash
            find(check, f"cannot be checked: an event is malformed ({type(e).__name__}: {e})")
    return report


def schema_problems(bundle: Any) -> list[str]:
    """Where ``bundle`` breaks the bundle's JSON Schema (package data), each with its path.

    Unknown members (a top-level ``plots`` array, a ``payload_decoded`` beside an
    envelope) are problems: a verifier must not let a bundle carry claims it never checks.
    """
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(_bundle_schema())
    out = []
    for error in sorted(validator.iter_errors(bundle), key=lambda e: list(map(str, e.path))):
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.path)
        out.append(f"{where.lstrip('.') or 'the bundle'}: {error.message[:300]}")
    return out


@cache
def _bundle_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        (files("graph") / "data" / "bundle.schema.json").read_text("utf-8")
    )
    return schema


def _ledger(evidence: Evidence, find: Any) -> None:
    """The bundle carries its ledger's genesis: which ledger its events name is known."""
    if not any(r.index == 0 for r in evidence):
        find(
            "ledger",
            "the bundle carries no genesis (event 0): which ledger its events"
            " belong to cannot be checked",
        )


CONSERVATION = (InsufficientQuantity, YieldExceeded)
"""Refusals reported under ``conservation`` (ReceiptExceedsShipment is one of the first)."""
_CHECKS = {
    "key": "signatures",
    "signature": "signatures",
    "key validity": "signatures",
    "chain": "chains",
    "ledger": "ledger",
}
OPTIONAL = frozenset({"void", "cert.revoke"})
"""Types a bundle carries even when what they act on is outside it (every void and
revocation is in a bundle, so that none can be hidden): "not in evidence" is no finding."""


def _rules(evidence: Evidence, find: Any) -> set[str]:
    """Run every event through the ledger's custody engine, over the bundle alone; the
    ids of the events it refuses (each also a finding)."""
    view = MemoryView(complete=False)
    refused: set[str] = set()
    for record in evidence:
        event = record.event
        view.size = record.index
        view.begin()
        try:
            admit(event, view, None, genesis=record.index == 0)
            view.put_event(stored_event(event, record.index))
        except NotInEvidence as e:
            view.rollback()
            if record.type not in OPTIONAL:
                find("references", f"cannot be checked from the bundle: {e.message}", record.id)
                refused.add(record.id)
        except (ClientError, LedgerFault) as e:
            view.rollback()
            check = (
                "conservation"
                if isinstance(e, CONSERVATION)
                else _CHECKS.get(e.step or "", "rules")
            )
            find(
                check,
                f"refused by the ledger's rules ({type(e).__name__}"
                + (f", field {e.field}" if e.field else "")
                + f"): {e.message}",
                record.id,
            )
            refused.add(record.id)
            keep_chain(event, view)
        else:
            view.commit()
    return refused


def _checkpoint(bundle: dict[str, Any], log_key: LogKey, find: Any) -> Checkpoint | None:
    note = bundle.get("checkpoint")
    if not isinstance(note, str):
        find("checkpoint", "the bundle carries no checkpoint")
        return None
    try:
        return log_key.open(note)
    except LedgerError as e:
        find("checkpoint", f"not signed by the trusted log key: {e}")
        return None


def _cosignatures(note: str, policy: WitnessPolicy, report: BundleReport, find: Any) -> None:
    """The checkpoint is trusted only when ``policy.quorum`` of its witnesses cosigned it:
    each then saw this very tree as consistent with everything it saw before, so a log
    showing another history to someone else is caught by any honest one of them."""
    try:
        report.cosigned_by, problem = policy.check(note)
    except LedgerError as e:
        find("witnesses", f"the checkpoint's signature lines do not parse: {e}")
        return
    if problem is not None:
        find("witnesses", problem)


def _tables(bundle: dict[str, Any], report: BundleReport, find: Any) -> RuleTables:
    try:
        rules = RuleTables.from_document(bundle.get("tables"))  # type: ignore[arg-type]
    except LedgerError as e:
        find("tables", f"the bundle's tables do not parse: {e}")
        return default_tables()
    report.tables_match = rules.digest == default_tables().digest
    if not report.tables_match:
        # A bundle cannot loosen the rules it is judged by (a larger plot limit, a higher
        # yield): its tables must be the ones this verifier trusts.
        find(
            "tables",
            f"the bundle's tables (sha256 {rules.digest[:16]}…) are not this"
            f" trazo's tables (sha256 {default_tables().digest[:16]}…)",
        )
    return rules


def _envelopes(bundle: dict[str, Any], checkpoint: Checkpoint | None, find: Any) -> Evidence:
    evidence = Evidence()
    items = bundle.get("events")
    if not isinstance(items, list) or not items:
        find("envelopes", "the bundle carries no events")
        return evidence
    last = -1
    for n, item in enumerate(items):
        try:
            index = item["index"]
            envelope = Envelope.from_dict(item["envelope"])
            event = parse_payload(envelope, VOCABULARY)
            proof = [bytes.fromhex(h) for h in item["inclusion"]]
        except (LedgerError, KeyError, TypeError, ValueError) as e:
            find("envelopes", f"events[{n}] does not parse: {e}")
            continue
        if not isinstance(index, int) or index <= last:
            find("envelopes", f"events[{n}]: index {index!r} is not after {last}", event.id)
            continue
        last = index
        if event.id in evidence:
            find("envelopes", "the same event appears twice", event.id)
            continue
        evidence.add(Record(index, event))
        if checkpoint is not None:
            try:
                merkle.verify_inclusion(
                    merkle.leaf_hash(leaf_input(envelope.payload)),
                    index,
                    checkpoint.size,
                    proof,
                    checkpoint.root,
                )
            except LedgerError as e:
                find(
                    "inclusion",
                    f"not in the log at index {index} under the checkpoint: {e}",
                    event.id,
                )
    return evidence


def _references(evidence: Evidence, find: Any) -> None:
    for record in evidence.of_type("transform", "ship", "receive", "dispose"):
        for ref in evidence.references(record):
            parent = evidence.get(ref.parent)
            if parent is None:
                find(
                    "references",
                    f"builds on {ref.parent} (lot {ref.lot}), which is not in the bundle",
                    record.id,
                )
            elif parent.index >= record.index:
                find("references", f"builds on a later event {ref.parent}", record.id)
            elif record.time < parent.time:
                find("references", f"dated before {ref.parent}, which it builds on", record.id)


def _privacy(evidence: Evidence, find: Any) -> None:
    for record in evidence.of_type("plot.map"):
        find("privacy", "a published bundle must not carry a plot's location", record.id)


def _verdict(
    bundle: dict[str, Any],
    lot: str,
    evidence: Evidence,
    refused: set[str],
    rules: RuleTables,
    report: BundleReport,
    find: Any,
) -> None:
    """The verdict recomputed from the events the rules admit (a refused event, such as
    a harvest signed with an illegitimately added key, counts for nothing)."""
    admitted = Evidence()
    for record in evidence:
        if record.id not in refused:
            admitted.add(record)
    try:
        verdict = origin_verdict(lot, admitted, rules)
    except LedgerError as e:
        find("verdict", f"cannot recompute the verdict: {e}")
        return
    report.verdict = verdict
    differences = _differences(bundle.get("verdict"), verdict.to_dict(), "verdict")
    if differences:
        shown = "; ".join(differences[:5]) + (
            f"; and {len(differences) - 5} more" if len(differences) > 5 else ""
        )
        find("verdict", f"the claimed verdict differs from the one the events give: {shown}")
    needed = _needed(lot, evidence)
    for record in evidence:
        if record.id not in needed:
            find("references", "an event this lot's proof does not need (added)", record.id)


def _differences(claimed: Any, recomputed: Any, path: str) -> list[str]:
    """Where a claimed value differs from the recomputed one, each as "path: claimed …,
    recomputed …" (members of an object and items of a list, recursively)."""
    if isinstance(claimed, dict) and isinstance(recomputed, dict):
        return [
            d
            for key in sorted(claimed.keys() | recomputed.keys(), key=str)
            for d in _differences(claimed.get(key), recomputed.get(key), f"{path}.{key}")
        ]
    if (
        isinstance(claimed, list)
        and isinstance(recomputed, list)
        and len(claimed) == len(recomputed)
    ):
        return [
            d
            for i, (a, b) in enumerate(zip(claimed, recomputed, strict=True))
            for d in _differences(a, b, f"{path}[{i}]")
        ]
    if claimed != recomputed:
        return [
            f"{path}: claimed {json.dumps(claimed)[:80]}, recomputed {json.dumps(recomputed)[:80]}"
        ]
    return []


def _needed(lot: str, evidence: Evidence) -> set[str]:
    """Every event the lot's verdict or the signatures depend on, found from the bundle."""
    needed = evidence.ancestry(lot) | price_section(lot, evidence).events
    custody = [r for r in (evidence.get(i) for i in needed) if r is not None]
    parties = {r.party for r in custody}
    members = {r.body.get("member") for r in custody if r.type == "harvest"}
    for record in evidence:
        body = record.body
        key_event = record.type in ("party.register", "key.add", "key.revoke")
        membership = (
            record.type in ("member.enroll", "member.leave") and body.get("member") in members
        )
        certificate = record.type == "cert.issue" and body.get("subject") in parties
        if key_event or membership or certificate or record.type in ("cert.revoke", "void"):
            needed.add(record.id)
    return needed
