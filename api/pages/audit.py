"""The auditor's HTML reports: ``GET /audit/{party}/mass-balance?…`` and
``GET /audit/{party}/fair-prices?period=…``.

The same query as ``/api/v1/parties/{party}/mass-balance``: summary, deficits, a
running-balance chart as inline SVG, the factors used and every ledger line. The page
loads nothing from anywhere (no scripts, fonts or styles from other hosts) and says so in
its Content-Security-Policy. Not part of the JSON API's OpenAPI document.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from flask import Blueprint, Response, render_template, request
from marshmallow import ValidationError

from api.http.fair_prices import FairPricesQuerySchema, fair_prices_for
from api.http.mass_balance import MassBalanceQuerySchema, report_for
from graph.mass_balance import MassBalanceReport
from ledger.errors import LedgerError

bp = Blueprint("audit", __name__, template_folder="templates")

HTML_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:;"
    " base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


@bp.get("/audit/<party_id>/mass-balance")
def audit_page(party_id: str) -> Response:
    """The auditor's HTML report: the running balance first, then the lines."""
    report = report_for(party_id, MassBalanceQuerySchema().load(request.args))
    html = render_template(
        "audit/mass_balance.html",
        r=report,
        chart=chart(report),
        query=request.query_string.decode(),
    )
    return Response(html, mimetype="text/html", headers={"Content-Security-Policy": HTML_CSP})


@bp.get("/audit/<party_id>/fair-prices")
def fair_prices_page(party_id: str) -> Response:
    """The auditor's fair-price report: every scheme purchase not paid as the scheme asks."""
    args = FairPricesQuerySchema().load(request.args)
    html = render_template("audit/fair_prices.html", r=fair_prices_for(party_id, args["period"]))
    return Response(html, mimetype="text/html", headers={"Content-Security-Policy": HTML_CSP})


@bp.errorhandler(ValidationError)
def _invalid_query(error: ValidationError) -> Response:
    return _error_page(422, "The report's query is not valid", _messages(error.messages))


@bp.errorhandler(LedgerError)
def _refused(error: LedgerError) -> Response:
    """The report cannot be made (an unknown party, a bad period): said as a page, with the
    status and title the error knows."""
    if error.http_status >= 500:
        raise error  # the app's handler logs it and answers without details
    return _error_page(error.http_status, error.title, [str(error)])


def _messages(messages: Any, where: str = "") -> list[str]:
    """marshmallow's nested messages as lines: "period: Not a valid period."."""
    if isinstance(messages, dict):
        return [
            line
            for key, value in messages.items()
            for line in _messages(value, f"{where}.{key}" if where else str(key))
        ]
    if isinstance(messages, list):
        return [line for value in messages for line in _messages(value, where)]
    return [f"{where}: {messages}" if where else str(messages)]


def _error_page(status: int, title: str, lines: list[str]) -> Response:
    """An auditor who mistypes a query reads what is wrong, as a page, not as JSON."""
    html = render_template(
        "audit/error.html",
        title=title,
        lines=lines,
        example="?product=coffee&scheme=SPP&period=2026-Q1",
    )
    return Response(
        html, status=status, mimetype="text/html", headers={"Content-Security-Policy": HTML_CSP}
    )


# --- the chart -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chart:
    """Geometry of the running-balance chart, in SVG user units."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    path: str
    zero_y: float
    ticks: list[tuple[float, str]]
    start_label: str
    end_label: str
    marks: list[tuple[float, float, str]]
    """Deficit starts: (x, y, tooltip)."""


def chart(report: MassBalanceReport, width: int = 900, height: int = 280) -> Chart:
    """A step line of the certified balance over the period; what is below zero is red."""
    left, right, top, bottom = 90, width - 20, 20, height - 40
    start = _instant(report.period.start_utc)
    end = _instant(report.period.end_utc)
    span = (end - start).total_seconds() or 1.0
    steps: list[tuple[float, Decimal]] = [(0.0, report.opening)]
    for line in report.lines:
        if line.certified_delta:
            steps.append(((_instant(line.time) - start).total_seconds() / span, line.balance))
    values = [b for _, b in steps]
    low, high = min(min(values), Decimal(0)), max(max(values), Decimal(0))
    if low == high:
        high = low + 1
    pad = (high - low) / 20
    low, high = low - pad, high + pad

    def x(fraction: float) -> float:
        return round(left + fraction * (right - left), 1)

    def y(value: Decimal) -> float:
        return round(top + float((high - value) / (high - low)) * (bottom - top), 1)

    points = [f"M{x(0.0)},{y(report.opening)}"]
    previous = report.opening
    for fraction, balance in _thin(steps, right - left):
        points.append(f"L{x(fraction)},{y(previous)} L{x(fraction)},{y(balance)}")
        previous = balance
    points.append(f"L{x(1.0)},{y(previous)}")
    ticks = sorted(
        {
            (y(v), _kg(v))
            for v in (Decimal(0), report.lowest, max(values), report.opening, report.closing)
        }
    )
    marks = [
        (
            x((_instant(d.started_at) - start).total_seconds() / span)
            if not d.started_before_period
            else x(0.0),
            y(-d.deepest_kg),
            f"oversold {d.deepest_kg} kg from {d.started_at} ({d.started_by})",
        )
        for d in report.deficits
    ]
    return Chart(
        width,
        height,
        left,
        right,
        top,
        bottom,
        " ".join(points),
        y(Decimal(0)),
        ticks,
        report.period.start.isoformat(),
        report.period.end.isoformat(),
        marks,
    )


def _thin(steps: list[tuple[float, Decimal]], pixels: int) -> list[tuple[float, Decimal]]:
    """At most a few points per pixel column: the lowest, highest and last of each."""
    body = steps[1:]
    if len(body) <= 4 * pixels:
        return body
    columns: dict[int, list[tuple[float, Decimal]]] = {}
    for fraction, balance in body:
        columns.setdefault(int(fraction * pixels), []).append((fraction, balance))
    out: list[tuple[float, Decimal]] = []
    for _column, items in sorted(columns.items()):
        keep = {min(items, key=lambda i: i[1]), max(items, key=lambda i: i[1]), items[-1]}
        out.extend(sorted(keep, key=lambda i: (i[0], items.index(i))))
    return out


def _instant(utc: str) -> datetime:
    return datetime.fromisoformat(utc.replace("Z", "+00:00"))


def _kg(value: Decimal) -> str:
    return f"{value:,.0f} kg" if abs(value) >= 100 else f"{value} kg"
