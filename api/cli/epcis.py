"""``trazo epcis export|import``: GS1 EPCIS 2.0 documents out of the ledger and into an outbox.

``export`` writes a lot's ancestry as one ``EPCISDocument``; ``import`` turns a trader's
EPCIS document into events signed with its own key, queued in the key's outbox and sent
as usual (``trazo submit --key`` / ``trazo append --key``). The work is in
``graph.epcis``; this module parses, calls and prints.
"""

from __future__ import annotations

import json
import os
import re
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import click

from api.cli.capture import HttpLedger
from api.cli.core import db_option, fail, open_store, output_option

BASE_URL_HELP = (
    "The ledger's public base URL, for the URIs of lots and parties without GS1 keys."
    " Env: TRAZO_PUBLIC_URL."
)


@click.group()
def epcis() -> None:
    """GS1 EPCIS 2.0 (with CBV 2.0): export a lot's journey, import a trader's events."""


@epcis.command("export")
@click.argument("lot")
@db_option
@click.option("--base-url", envvar="TRAZO_PUBLIC_URL", help=BASE_URL_HELP)
@output_option("Where to write the EPCISDocument (JSON-LD); default stdout.")
def export(lot: str, db: str, base_url: str | None, output: str) -> None:
    """Write LOT's ancestry (every custody event it came from) as one EPCISDocument.

    Each event carries its CBV 2.0 event hash as eventID, and trazo:event / trazo:party
    naming the signed envelope behind it. The document is checked against the EPCIS
    2.0.1 JSON schema before it is written.
    """
    from graph.epcis.document import to_json, validate
    from graph.epcis.ledger import lot_document, naming_for

    store = open_store(db)
    if not base_url:
        fail("which URL does this ledger answer at? Pass --base-url (or TRAZO_PUBLIC_URL)", 2)
    document = lot_document(store, lot, naming_for(store, base_url))
    validate(document)
    with click.open_file(output, "w", encoding="utf-8") as f:
        f.write(to_json(document, indent=2) + "\n")
    click.echo(f"{len(document['epcisBody']['eventList'])} EPCIS events of {lot}", err=True)


@epcis.command("import")
@click.argument("document_file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help="The signing key, NAME.key: every event is signed by its party.",
)
@click.option(
    "--db",
    "db",
    default=lambda: os.environ.get("TRAZO_DATABASE_URL", "sqlite:///trazo.db"),
    show_default="sqlite:///trazo.db",
    help="Without --server: the ledger database to resolve lots, parties and shipments in"
    " and to dry-run against (sqlite:///FILE or postgresql://…; a replica will do).",
)
@click.option(
    "--server",
    envvar="TRAZO_SERVER",
    help="Ask this trazo server instead of a database (as the key's party: it signs in"
    " with the key). Env: TRAZO_SERVER.",
)
@click.option(
    "--partial",
    is_flag=True,
    help="Queue the events that can be imported even when others cannot.",
)
@click.option("--ledger", envvar="TRAZO_LEDGER", help="The ledger's genesis id (as trazo sign).")
@click.option(
    "--base-url",
    envvar="TRAZO_PUBLIC_URL",
    help="The ledger's public base URL (default: the one the document's lot and party URIs"
    " use). Env: TRAZO_PUBLIC_URL.",
)
def import_(
    document_file: str,
    key_file: str,
    db: str,
    server: str | None,
    partial: bool,
    ledger: str | None,
    base_url: str | None,
) -> None:
    """Sign the events of an EPCIS 2.0 DOCUMENT with --key and queue them in its outbox.

    The document is validated against the EPCIS 2.0.1 JSON schema; each event is
    converted to a trazo payload (docs/epcis.md) and dry-run through the ledger's custody
    rules. An event that cannot be converted or is refused is reported with its index,
    its eventID and why, and then nothing is queued (unless --partial). An event already
    imported (same CBV 2.0 hash) is skipped and reported. Exit 1 if any was rejected.
    """
    from graph.epcis.document import load
    from graph.epcis.importer import LedgerReads, StoreReads, import_document
    from ledger.outbox import Ledger, LocalLedger, Outbox

    with click.open_file(document_file, "rb") as f:
        document = load(f.read())
    base_url = base_url or _base_named_in(document)
    reads: LedgerReads
    check: Ledger
    if server:
        http = HttpLedger(server, key_file=Path(key_file))
        reads, check = ServerReads(http), http
    else:
        store = open_store(db, writes=True)
        reads, check = StoreReads(store), LocalLedger(store)
    with Outbox(Path(key_file)) as box:
        report = import_document(
            document,
            box,
            reads,
            check=check,
            base_url=base_url,
            ledger_id=ledger,
            partial=partial,
        )
    for index, epcis_hash, event_id in report.queued:
        click.echo(f"{index}\t{event_id}\tqueued\t{epcis_hash}")
    for index, epcis_hash, earlier in report.duplicates:
        click.echo(f"{index}\t{earlier}\tduplicate\t{epcis_hash}")
    for rejection in report.rejected:
        click.echo(f"error: event {rejection.line()}", err=True)
    if report.rejected:
        what = "queued the others (--partial)" if partial else "nothing queued"
        fail(f"{len(report.rejected)} event(s) not imported; {what}", 1)
    click.echo(
        f"{len(report.queued)} queued, {len(report.duplicates)} duplicate(s);"
        f" send them with `trazo submit --key {key_file}` or `trazo append --key {key_file}`",
        err=True,
    )


class ServerReads:
    """What an import asks the ledger (``graph.epcis.importer.LedgerReads``), asked of a
    trazo server as the key's party: the reads any of its sessions may make."""

    def __init__(self, ledger: HttpLedger) -> None:
        self.ledger = ledger

    def glns(self) -> dict[str, str]:
        found: dict[str, str] = {}
        after = ""
        while True:
            page = self.ledger.read(f"parties?limit=1000{after}") or {}
            for party in page.get("parties", []):
                gln = party.get("identifiers", {}).get("gln")
                if gln:
                    found[party["id"]] = gln
            if not page.get("next_after"):
                return found
            after = f"&after={quote(page['next_after'], safe='')}"

    def holdings(self, party: str, lot: str) -> list[tuple[str, Decimal]]:
        page = self.ledger.read(f"parties/{quote(party, safe='')}/holdings") or {}
        rows = sorted(
            (h for h in page.get("holdings", []) if h["lot"] == lot), key=lambda h: h["time"]
        )
        return [(h["via"], Decimal(h["kg"])) for h in rows]

    def in_transit_to(self, receiver: str) -> list[tuple[str, str, frozenset[str]]]:
        page = (
            self.ledger.read(
                f"parties/{quote(receiver, safe='')}/shipments?direction=inbound&status=in-transit"
            )
            or {}
        )
        found = sorted(page.get("shipments", []), key=lambda s: s["time"])
        return [
            (s["shipment"], s["shipper"], frozenset(line["lot"] for line in s["lots"]))
            for s in found
        ]

    def exports(self, event_id: str, epcis_hash: str, naming: object) -> bool:
        found = self.ledger.read(f"epcis/events?EQ_eventID={quote(epcis_hash, safe='')}") or {}
        results = found.get("epcisBody", {}).get("queryResults", {}).get("resultsBody", {})
        return any(e.get("trazo:event") == event_id for e in results.get("eventList", []))

    def shipper_of(self, shipment: str) -> str | None:
        found = self.ledger.read(f"events/{shipment}")
        return None if found is None else str(found["party"])

    def party_of_key(self, keyid: str) -> str | None:
        head = self.ledger.head(keyid)
        return None if head is None else head.party

    def genesis(self) -> str | None:
        health = self.ledger.read("health") or {}
        return health.get("ledger")


def _base_named_in(document: object) -> str:
    """The ledger URL the document's own trazo URIs use (``…/api/v1/lots/…``), when no
    --base-url is given; a document naming lots and parties by GS1 keys alone needs none."""
    text = json.dumps(document, default=str)
    found = re.search(r'"(https?://[^"\s]*?)/api/v1/(?:lots|parties)/', text)
    return found.group(1) if found else "http://localhost"


COMMANDS = (epcis,)
"""This module's commands, registered on ``trazo`` by ``api.cli``."""
