"""``trazo rebuild`` and ``trazo lots``: the custody projections, derived and shown."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from typing import TYPE_CHECKING

import click

from api.cli.core import db_option, fail, noting, open_store

if TYPE_CHECKING:
    from ledger.lots import LotView


@click.command()
@db_option
def rebuild(db: str) -> None:
    """Drop every projection and derive it again from the events table alone.

    Replays every event in ledger order through the same custody engine as an append
    (in memory: about 5 KB per event), then writes the projections in one write
    transaction: if anything fails, the old projections stay as they were.
    """
    from ledger.rebuild import rebuild as run_rebuild

    store = open_store(db, writes=True)
    total = store.size()
    with (
        noting("rebuild failed, projections unchanged"),
        click.progressbar(length=total, label="replaying", file=sys.stderr) as bar,
    ):
        result = run_rebuild(store, progress=bar.update)
    click.echo(f"rebuilt {len(result.tables)} projection tables from {result.events} events")


@click.command()
@click.argument("lot", required=False)
@db_option
@click.option("--after", help="List lots whose id sorts after this one.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def lots(lot: str | None, db: str, after: str | None, limit: int, as_json: bool) -> None:
    """Show LOT: product, form, creating event, holders and quantities, transit, losses.

    Without LOT, list lots with their holders.
    """
    from ledger.lots import get_lot, list_lots

    store = open_store(db)
    if lot is not None:
        view = get_lot(store, lot)
        if view is None:
            fail(f"no lot {lot!r} in the ledger")
            return
        if as_json:
            click.echo(json.dumps(view.to_dict(), indent=2))
        else:
            _show(view)
        return
    views: list[LotView] = list_lots(store, after=after, limit=limit)
    if as_json:
        for v in views:
            click.echo(json.dumps(v.to_dict()))
        return
    for v in views:
        holders = ", ".join(f"{h.party} {_kg(h.kg)}" for h in v.holders) or "-"
        state = " VOIDED" if v.voided_by else ""
        click.echo(f"{v.id:<36} {v.product:<8} {v.form:<12} {_kg(v.kg):>14}  {holders}{state}")
    if not views:
        click.echo("no lots", err=True)


def _kg(value: Decimal) -> str:
    from ledger.conservation import kg_text

    return kg_text(value)


def _show(v: LotView) -> None:
    click.echo(f"lot        {v.id}")
    click.echo(f"product    {v.product}, form {v.form}")
    click.echo(f"created by {v.kind} {v.event}")
    click.echo(f"           signed by {v.creator} at {v.time}")
    click.echo(f"quantity   {v.quantity} {v.unit} = {_kg(v.kg)}")
    if v.member:
        click.echo(f"origin     member {v.member}, plot {v.plot}")
    if v.voided_by:
        click.secho(f"VOIDED     by {v.voided_by}", fg="red")
    click.echo("holders" + ("    -" if not v.holders else ""))
    for h in v.holders:
        click.echo(f"  {h.party:<28} {_kg(h.kg):>16}  via {h.via}")
    if v.in_transit:
        click.echo("in transit")
        for t in v.in_transit:
            click.echo(f"  {t.shipper} -> {t.receiver}  {_kg(t.kg)}  shipment {t.shipment}")
    for loss in v.losses:
        click.echo(
            f"transit loss {_kg(loss.kg)} (shipped {_kg(loss.shipped)}, received"
            f" {_kg(loss.received)}) in shipment {loss.shipment}"
        )
    if v.consumed:
        click.echo(f"consumed   {_kg(v.consumed)} by transforms")
    if v.disposed:
        click.echo(f"disposed   {_kg(v.disposed)}")


COMMANDS = (rebuild, lots)
"""This module's commands, registered on ``trazo`` by ``api.cli``."""
