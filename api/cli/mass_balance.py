"""``trazo mass-balance``: a party's certified inputs against its certified outputs."""

from __future__ import annotations

import csv
import json
import sys
from typing import Any

import click

from api.cli.core import db_option, fail, open_store
from graph import DEFAULT_PRODUCT, DEFAULT_SCHEME


def _period(period: str | None, start: str | None, until: str | None) -> Any:
    from graph.mass_balance import Period

    if period and (start or until):
        fail("give either --period or --from/--until, not both")
    if period:
        return Period.parse(period)
    if not (start and until):
        fail("give --period (2026, 2026-Q1, 2026-03) or both --from and --until")
    return Period.between(start, until)


@click.command("mass-balance")
@click.argument("party", required=False)
@db_option
@click.option(
    "--product",
    default=DEFAULT_PRODUCT,
    show_default=True,
    help="The product (coffee, cacao, …): figures in its reference form.",
)
@click.option(
    "--scheme",
    default=DEFAULT_SCHEME,
    show_default=True,
    help="The certification scheme claimed (SPP, FT, …).",
)
@click.option(
    "--period",
    help="2026 (a year), 2026-Q1 (a quarter), 2026-03 (a month) or 2026-03-15 (a day); UTC days.",
)
@click.option("--from", "start", help="First day of the period, YYYY-MM-DD (with --until).")
@click.option("--until", help="Last day of the period, inclusive.")
@click.option(
    "--all",
    "sweep_all",
    is_flag=True,
    help="Sweep every party, product and scheme; list those in deficit.",
)
@click.option("--csv", "as_csv", is_flag=True, help="The ledger lines as CSV.")
@click.option("--json", "as_json", is_flag=True, help="The whole report as JSON.")
def mass_balance(
    party: str | None,
    db: str,
    product: str,
    scheme: str,
    period: str | None,
    start: str | None,
    until: str | None,
    sweep_all: bool,
    as_csv: bool,
    as_json: bool,
) -> None:
    """Mass balance of PARTY for a product, scheme and period (or --all parties).

    Certified inputs received (from certified shippers, with the claim) and certified
    outputs shipped, in reference-form kg, with the opening balance carried from before
    the period and every overselling episode. Exits 3 when something is in deficit.
    """
    from graph.mass_balance import iter_csv_rows, sweep
    from graph.mass_balance import mass_balance as run

    if as_csv and as_json:
        fail("give --csv or --json, not both")
    if bool(party) == sweep_all:
        fail("name a PARTY, or give --all for the ledger-wide sweep")
    span = _period(period, start, until)
    store = open_store(db)
    if sweep_all:
        if as_csv:
            fail("--csv lists one party's ledger lines; use --json with --all")
        result = sweep(store, span)
        _show_sweep(result, as_json)
        deficit = bool(result.in_deficit)
    else:
        assert party is not None
        report = run(store, party, product, scheme, span)
        if as_csv:
            csv.writer(sys.stdout, lineterminator="\n").writerows(iter_csv_rows(report))
        elif as_json:
            click.echo(json.dumps(report.to_dict(), indent=2))
        else:
            _show_report(report)
        deficit = report.in_deficit
    if deficit:
        sys.exit(3)


def _show_report(r: Any) -> None:
    unit = f"kg {r.reference_form}"
    click.secho(
        f"{r.party}: {r.product}, {r.scheme}, period {r.period.label}"
        f" ({r.period.start} … {r.period.end}, UTC days); figures in {unit} equivalent",
        bold=True,
    )
    t = r.totals
    rows = [
        ("opening balance", r.opening),
        ("+ certified in", t.certified_in),
        ("- certified out", t.certified_out),
        ("= closing balance", r.closing),
        ("lowest balance", r.lowest),
        ("non-certified in", t.non_certified_in),
        ("non-certified out", t.non_certified_out),
        (
            "transform in/out",
            f"{t.transform_in} / {t.transform_out} (yield loss {t.yield_loss}, neutral)",
        ),
        ("disposed", f"{t.disposed} (neutral)"),
    ]
    for label, value in rows:
        click.echo(
            f"  {label:<20}{value:>16}" if not isinstance(value, str) else f"  {label:<20}{value}"
        )
    click.echo(
        "factors: " + "; ".join(f.rule for f in r.factors) if r.factors else "factors: none used"
    )
    click.echo()
    click.echo(
        f"{'time (UTC)':<20} {'event':<16} {'type':<14} {'counterparty':<20}"
        f" {'kg':>12} {'form':<10} {'ref kg':>12} {'cert':<4} {'balance':>13}  why not"
    )
    for line in r.lines:
        cert = {True: "yes", False: "no", None: "-"}[line.certified]
        if not line.counts:
            cert = "void"
        why = line.reason or ""
        kind = f"{line.type} {line.direction[10:]}" if line.type == "transform" else line.type
        if line.note:
            why = f"{why} NOTE: {line.note}".strip()
        text = (
            f"{line.time[:19].replace('T', ' '):<20} {line.event[7:19] + '…':<16}"
            f" {kind:<14}"
            f" {(line.counterparty or '')[:20]:<20} {line.kg:>12} {line.form[:10]:<10}"
            f" {line.reference_kg:>12} {cert:<4} {line.balance:>13}  {why}"
        )
        click.secho(text, fg="red" if line.balance < 0 and line.counts else None)
    click.echo()
    if not r.deficits:
        click.secho("no overselling: the certified balance never went below zero", fg="green")
    for d in r.deficits:
        began = "before the period" if d.started_before_period else d.started_at
        ended = f"ended {d.ended_at} by {d.ended_by}" if d.ended_by else "still open"
        click.secho(
            f"OVERSOLD {d.deepest_kg} {unit}: below zero from {began}"
            f" ({d.started_by}), deepest {d.deepest_at} ({d.deepest_event}), {ended}",
            fg="red",
            bold=True,
        )
        for event in d.events:
            click.echo(f"    claimed shipment {event}")


def _show_sweep(s: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(s.to_dict(all_entries=True), indent=2))
        return
    click.secho(
        f"mass-balance sweep, period {s.period.label} ({s.period.start} …"
        f" {s.period.end}): {len(s.entries)} party/product/scheme balances,"
        f" {s.events} events read",
        bold=True,
    )
    if not s.in_deficit:
        click.secho("nobody in deficit", fg="green")
        return
    click.echo(
        f"{'party':<28} {'product':<8} {'scheme':<6} {'opening':>12} {'cert in':>12}"
        f" {'cert out':>12} {'closing':>12} {'oversold':>12}  first deficit"
    )
    for e in s.in_deficit:
        first = e.deficits[0]
        click.secho(
            f"{e.party:<28} {e.product:<8} {e.scheme:<6} {e.opening:>12}"
            f" {e.certified_in:>12} {e.certified_out:>12} {e.closing:>12}"
            f" {e.oversold_kg:>12}  {first.started_at} {first.started_by}",
            fg="red",
        )


COMMANDS = (mass_balance,)
"""This module's commands, registered on ``trazo`` by ``api.cli``."""
