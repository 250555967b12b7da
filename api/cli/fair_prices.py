"""``trazo fair-prices``: the auditor's report of scheme purchases not paid as the scheme asks."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from api.cli.core import db_option, fail, open_store


@click.command("fair-prices")
@click.argument("party", required=False)
@db_option
@click.option(
    "--period",
    required=True,
    help="2026 (a year), 2026-Q1, 2026-03 or 2026-03-15: the receipts dated in it (UTC days).",
)
@click.option("--all", "every_party", is_flag=True, help="Every buyer in the ledger.")
@click.option("--json", "as_json", is_flag=True, help="The whole report as JSON.")
def fair_prices(party: str | None, db: str, period: str, every_party: bool, as_json: bool) -> None:
    """Scheme purchases of PARTY (or --all buyers) paid below the minimum, without the
    premium, never confirmed, disputed, unpaid, or unpriced (no list in force at the
    contract date).

    A scheme purchase is a receipt of goods an SPO shipped with a scheme claim (SPP, FT,
    …) that the buyer sold on with the same claim. Each is checked against the scheme's
    price list in force at the payment's contract date, at the rate the payment states.
    Every finding names its events. Exits 3 when there is a finding.
    """
    from graph.fair_prices import price_audit
    from graph.mass_balance import Period

    if bool(party) == every_party:
        fail("name a PARTY, or give --all for every buyer")
    report = price_audit(open_store(db), Period.parse(period), party)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _show(report)
    if report.findings:
        sys.exit(3)


def _show(r: Any) -> None:
    who = r.party or "every buyer"
    click.secho(
        f"fair prices, {who}, period {r.period.label} ({r.period.start} … {r.period.end},"
        f" UTC days): {r.purchases} scheme purchase(s) from SPOs sold on under the scheme",
        bold=True,
    )
    if not r.findings:
        click.secho(
            "every scheme purchase was paid the minimum and premium, and confirmed", fg="green"
        )
        return
    for party, findings in r.by_party().items():
        click.secho(f"{party}: {len(findings)} finding(s)", fg="red", bold=True)
        for f in findings:
            click.echo(f"  {f.time[:10]} {f.code:<16} {f.seller} {f.scheme}: {f.message}")
            for event in f.events:
                click.echo(f"      {event}")


COMMANDS = (fair_prices,)
"""This module's commands, registered on ``trazo`` by ``api.cli``."""
