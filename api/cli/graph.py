"""``trazo trace``, ``origin``, ``bundle`` and ``verify``: provenance from the terminal."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from api.cli.core import (
    db_option,
    noting,
    open_store,
    output_option,
    witness_policy,
    witness_policy_options,
)


@click.command()
@click.argument("lot")
@db_option
@click.option(
    "--direction",
    type=click.Choice(["upstream", "downstream"]),
    default="upstream",
    show_default=True,
    help="Where the lot came from, or (for recalls) where it went.",
)
@click.option("--json", "as_json", is_flag=True, help="Nodes and edges as JSON.")
def trace(lot: str, db: str, direction: str, as_json: bool) -> None:
    """Show the custody graph of LOT: every event it came from (or went to)."""
    from graph.trace import trace as run

    result = run(open_store(db), lot, direction)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    events = sorted((n for n in result["nodes"] if n["kind"] == "event"), key=lambda n: n["index"])
    for node in events:
        lots = [
            e["target"]
            for e in result["edges"]
            if e["source"] == node["id"] and e["kind"] == "creates"
        ]
        made = f"  → {', '.join(lots)}" if lots else ""
        click.echo(
            f"{node['index']:>7}  {node['time'][:10]}  {node['type']:<9}"
            f" {node['party']:<22} {node['id'][:19]}…{made}"
        )
    click.echo(f"{len(events)} events {direction} of {lot}", err=True)


@click.command()
@click.argument("lot")
@db_option
@click.option("--json", "as_json", is_flag=True, help="The verdict as JSON.")
def origin(lot: str, db: str, as_json: bool) -> None:
    """Where LOT came from, in what shares, and whether it is of small-producer origin."""
    from graph.ancestry import gather
    from graph.origin import origin_verdict

    store = open_store(db)
    verdict = origin_verdict(lot, gather(store, lot))
    if as_json:
        click.echo(json.dumps(verdict.to_dict(), indent=2))
        return
    s = verdict.summary
    colour = "green" if verdict else ("yellow" if verdict.certified_fraction else "red")
    click.secho(f"{lot}: {verdict.product} {verdict.form}, {verdict.kg} kg", bold=True)
    click.secho(
        f"{verdict.certified_percent}% of certified small-producer origin"
        f" ({verdict.certified_kg} kg)",
        fg=colour,
        bold=True,
    )
    click.echo(
        f"from {len(s['spos'])} SPO(s) ({', '.join(s['spos']) or '-'}),"
        f" {s['members']} members, {s['plots']} plots;"
        f" countries {', '.join(s['countries']) or '-'};"
        f" harvested {s['harvest_from']} … {s['harvest_until']}"
    )
    click.echo()
    click.echo(f"{'share':>8} {'kg':>10}  {'source':<18} {'member':<22} {'harvest':<10} status")
    for share in verdict.shares:
        status = "certified" if share.certified else "NOT: " + _reasons(share.reasons)
        click.echo(
            f"{share.percent:>7}% {share.kg:>10}  {share.source or '?':<18}"
            f" {share.member or '-':<22} {share.harvest_date or '?':<10} {status}"
        )
    if verdict.prices:
        click.echo()
        for line in price_lines(verdict.prices):
            click.echo(f"paid: {line}")


def price_lines(section: Any) -> list[str]:
    """The disclosed price figures (``graph.prices``), one line per cooperative."""
    lines = []
    for paid in section.figures:
        money = f"{paid.currency}/{paid.unit} {paid.basis}"
        farmgate = (
            f"; members {paid.farmgate} at the farm gate, {paid.farmgate_percent} % of it"
            if paid.farmgate is not None
            else "; farm gate not disclosed"
        )
        lines.append(
            f"{paid.spo} was paid {paid.price} {money} by {', '.join(paid.buyers)}"
            f" ({paid.above_minimum} against the {paid.scheme} minimum {paid.minimum} signed"
            f" by {paid.standard}; incentive {paid.premium_paid} of {paid.premium_due})"
            f"{farmgate} — from {len(paid.events)} disclosed, signed events"
        )
    return lines


def _reasons(reasons: Any) -> str:
    """Reasons for the terminal: one line per distinct statement, counting the events."""
    counts: dict[str, int] = {}
    for reason in reasons:
        text = reason.message.split(" (the ")[0]  # "… (the ship on 2026-01-17)"
        counts[text] = counts.get(text, 0) + 1
    return "; ".join(t + (f" ({n} events)" if n > 1 else "") for t, n in counts.items())


@click.command()
@click.argument("lot")
@db_option
@output_option("Where to write the bundle (default: standard output).")
def bundle(lot: str, db: str, output: str) -> None:
    """Write the proof bundle of LOT: every event, key and certificate behind its verdict."""
    from graph.bundle import build_bundle

    document = build_bundle(open_store(db), lot)
    with click.open_file(output, "w", encoding="utf-8") as f:
        json.dump(document, f, indent=1)
        f.write("\n")
    if output != "-":
        click.echo(
            f"{output}: {len(document['events'])} events, verdict"
            f" {document['verdict']['certified_percent']}% certified",
            err=True,
        )


@click.command()
@click.argument("bundle_file", type=click.Path(dir_okay=False, exists=True, allow_dash=True))
@click.option(
    "--log-key",
    required=True,
    help="The log public key you trust: log.pub (PEM) or a verifier key string.",
)
@witness_policy_options
def verify(bundle_file: str, log_key: str, witnesses: tuple[str, ...], quorum: int | None) -> None:
    """Verify a proof bundle offline: ids, signatures, chains, custody, log, verdict.

    Needs no database and no network. Exit status 0 when the bundle holds; 1 with every
    failed check, by event id, when it does not. With --witness, the checkpoint must
    also carry --quorum valid cosignatures of those witnesses: without them a log could
    show this bundle a history it shows nobody else (a split view).
    """
    from graph.verify import verify_bundle
    from ledger.checkpoint import LogKey

    key = LogKey.load(log_key)
    policy = witness_policy(witnesses, quorum)
    from ledger.payload import loads_strict

    with click.open_file(bundle_file, "rb") as f, noting(f"{bundle_file} is not a bundle"):
        # as strictly as a signed payload: a key held twice could show two readers
        # two different bundles
        document = loads_strict(f.read(), what=f"{bundle_file}")
    report = verify_bundle(document, key, policy)
    for finding in report.findings:
        click.secho(f"FAIL {finding}", fg="red")
    cp = report.checkpoint
    click.echo(f"lot:         {report.lot}")
    click.echo(f"events:      {report.events}")
    click.echo("checkpoint:  " + (f"{cp.origin} at size {cp.size}" if cp else "not trusted"))
    if policy.quorum:
        click.echo(
            f"witnesses:   {len(report.cosigned_by)} of {policy.quorum} needed"
            + (f" ({', '.join(report.cosigned_by)})" if report.cosigned_by else "")
        )
    else:
        click.echo("witnesses:   none asked for (--witness): the checkpoint rests on the log's key")
    if not report.tables_match:
        click.secho(
            "tables:      differ from this trazo's tables (the bundle's were used)", fg="yellow"
        )
    untrusted = {"format", "checkpoint", "witnesses", "envelopes", "inclusion", "signatures"}
    if report.verdict is not None and not any(f.check in untrusted for f in report.findings):
        click.echo(
            f"verdict:     {report.verdict.certified_percent}% of certified"
            f" small-producer origin ({report.verdict.certified_kg} of"
            f" {report.verdict.kg} kg)"
        )
        for line in price_lines(report.verdict.prices):
            click.echo(f"prices:      {line}")
    if report.ok:
        click.secho("bundle OK: every signature, link, proof and the verdict hold", fg="green")
        click.echo(
            "(a bundle proves the events it holds are in the log; it cannot prove"
            " that none was left out — see docs/bundle.md, Limits)"
        )
    else:
        click.secho(f"bundle FAILED: {len(report.findings)} finding(s)", fg="red")
        sys.exit(1)


COMMANDS = (trace, origin, bundle, verify)
"""This module's commands, registered on ``trazo`` by ``api.cli``."""
