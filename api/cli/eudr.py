"""``trazo eudr`` and ``trazo export-trace``: due diligence and traceability exports."""

from __future__ import annotations

import sys
from typing import Any

import click

from api.cli.core import db_option, fail, open_store


@click.command()
@click.argument("lot")
@db_option
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write the due-diligence data set (JSON) to this file; - for stdout.",
)
@click.option(
    "--geojson",
    "geojson_file",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write the contributing plots as GeoJSON for the EU information system"
    " (full plot geometry: hand it only to the operator filing the statement).",
)
def eudr(lot: str, db: str, output: str | None, geojson_file: str | None) -> None:
    """EUDR readiness of LOT: geolocated share, unmapped shares, countries, statements.

    Exit status 0 when LOT is EUDR-ready (every share geolocated), 1 when it is not.
    """
    import json

    from graph.eudr import dumps, feature_collection, lot_eudr

    report = lot_eudr(open_store(db), lot)
    data = report.to_dict()
    if output:
        with click.open_file(output, "w", encoding="utf-8") as f:
            f.write(json.dumps(data, indent=2) + "\n")
    if geojson_file:
        with click.open_file(geojson_file, "w", encoding="utf-8") as f:
            f.write(dumps(feature_collection(report), indent=2) + "\n")
    out = sys.stderr if output == "-" or geojson_file == "-" else sys.stdout
    _summary(data, out)
    sys.exit(0 if report else 1)


def _summary(data: dict[str, Any], out: Any) -> None:
    def echo(text: str = "", **style: Any) -> None:
        click.secho(text, file=out, **style)

    ready = data["eudr_ready"]
    hs = f"HS {data['hs_code']}" if data["hs_code"] else "not in EUDR scope"
    echo(
        f"{data['lot']}: {data['commodity']} {data['form']}, {data['quantity']['net_mass_kg']}"
        f" kg ({hs})",
        bold=True,
    )
    echo(
        f"{'EUDR-ready' if ready else 'NOT EUDR-ready'}: {data['geolocated_percent']}% with"
        " complete geolocation",
        fg="green" if ready else "red",
        bold=True,
    )
    period = data["harvest_period"]
    echo(
        f"countries {', '.join(data['countries_of_production']) or '-'};"
        f" {len(data['plots'])} plots; harvested {period['from']} … {period['until']}"
    )
    for share in data["not_geolocated"]:
        echo(
            f"  {share['percent']:>6}% {share['kg']:>10} kg  {share['problem']['message']}",
            fg="red",
        )
    for st in data["upstream_statements"]:
        echo(
            f"  upstream DDS {st['reference']} (verification {st['verification'] or '-'})"
            f" on {st['ship_event']}"
        )
    for warning in data["warnings"]:
        echo(f"  warning: {warning}", fg="yellow")


@click.command("export-trace")
@click.argument("lot")
@db_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "xlsx"]),
    required=True,
    help="CSV (RFC 4180) or an Excel workbook.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    show_default=True,
    help="Where to write it.",
)
def export_trace(lot: str, db: str, fmt: str, output: str) -> None:
    """One row per custody event behind and after LOT, as a sortable spreadsheet."""
    from graph.export_trace import lot_trace_rows, to_csv, to_xlsx

    rows = lot_trace_rows(open_store(db), lot)
    if fmt == "csv":
        with click.open_file(output, "wb") as f:  # bytes: keep CSV's CRLF as written
            f.write(to_csv(rows).encode("utf-8"))
    else:
        if output == "-" and sys.stdout.isatty():
            fail("an XLSX workbook is binary: pass -o FILE")
        with click.open_file(output, "wb") as f:
            f.write(to_xlsx(rows, lot))
    click.echo(f"{len(rows)} events of {lot}", err=True)


COMMANDS = (eudr, export_trace)
"""This module's commands, registered on ``trazo`` by ``api.cli``."""
