"""Mass-balance audits over HTTP: JSON (or CSV) for machines, an HTML report for auditors.

``GET /api/v1/parties/{party}/mass-balance?product=&scheme=&from=&until=`` (or
``period=2026-Q1`` instead of from/until) answers the report of
:func:`graph.mass_balance.mass_balance` as JSON; with ``Accept: text/csv`` it answers
the ledger lines as CSV. ``GET /audit/{party}/mass-balance?…`` (same parameters) is the
auditor's HTML page: summary, deficits, a running-balance chart as inline SVG, the
factors used and every ledger line. The page loads nothing from anywhere (no scripts,
fonts or styles from other hosts) and says so in its Content-Security-Policy.

Register with ``api.register_blueprint(mass_balance_views.blp)`` in the factory (the
HTML route is deliberately left out of the OpenAPI document), or ``register(app)``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import flask
from flask import Flask, Response, render_template, request
from flask.views import MethodView
from marshmallow import ValidationError, fields, validates_schema

from api.app import store
from api.blueprints import Blueprint, problems
from api.errors import Problem
from api.schemas import EVENT_ID, _Strict
from graph.mass_balance import (
    MassBalanceReport,
    Period,
    UnknownParty,
    iter_csv_rows,
    mass_balance,
)

blp = Blueprint("mass_balance", __name__, template_folder="templates",
                description="Mass-balance audits: certified inputs against certified outputs,"
                            " per party, product, scheme and period")

CSV = "text/csv"
HTML_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:;"
            " base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
KG = {"description": "Reference-form kg, to the gram (decimal string)", "example": "1000.000"}


# --- schemas ---------------------------------------------------------------------------------


class MassBalanceQuerySchema(_Strict):
    product = fields.String(required=True, metadata={"example": "coffee"})
    scheme = fields.String(required=True, metadata={"example": "SPP"})
    from_ = fields.Date(data_key="from", metadata={
        "description": "First day (UTC) of the period; with `until`"})
    until = fields.Date(metadata={"description": "Last day (UTC) of the period, inclusive"})
    period = fields.String(metadata={
        "description": "Instead of from/until: `2026`, `2026-Q1`, `2026-03` or `2026-03-15`"})

    @validates_schema
    def _one_period(self, data: dict[str, Any], **_: Any) -> None:
        dates = ("from_" in data) + ("until" in data)
        if "period" in data and dates:
            raise ValidationError("give either period or from/until, not both", "period")
        if "period" not in data and dates != 2:
            raise ValidationError("give period, or both from and until", "period")


class PeriodSchema(_Strict):
    label = fields.String(required=True)
    from_ = fields.String(data_key="from", attribute="from", required=True,
                          metadata={"format": "date"})
    until = fields.String(required=True, metadata={"format": "date"})
    starts_at = fields.String(required=True, metadata={"format": "date-time"})
    ends_before = fields.String(required=True, metadata={"format": "date-time"})


class TotalsSchema(_Strict):
    certified_in = fields.String(required=True, metadata=KG)
    non_certified_in = fields.String(required=True, metadata=KG)
    certified_out = fields.String(required=True, metadata=KG)
    non_certified_out = fields.String(required=True, metadata=KG)
    transform_in = fields.String(required=True, metadata=KG)
    transform_out = fields.String(required=True, metadata=KG)
    yield_loss = fields.String(required=True, metadata=KG)
    disposed = fields.String(required=True, metadata=KG)
    lines = fields.Integer(required=True)
    voided_lines = fields.Integer(required=True)


class DeficitSchema(_Strict):
    started_at = fields.String(required=True)
    started_by = fields.String(required=True, allow_none=True, metadata=EVENT_ID)
    started_before_period = fields.Boolean(required=True)
    oversold_kg = fields.String(required=True, metadata=KG)
    deepest_at = fields.String(required=True)
    deepest_event = fields.String(required=True, metadata=EVENT_ID)
    ended_at = fields.String(required=True, allow_none=True)
    ended_by = fields.String(required=True, allow_none=True, metadata=EVENT_ID)
    events = fields.List(fields.String(metadata=EVENT_ID), required=True)


class FactorSchema(_Strict):
    form = fields.String(required=True)
    factor = fields.String(required=True)
    rule = fields.String(required=True)


class LedgerLineSchema(_Strict):
    time = fields.String(required=True, metadata={"description": "UTC, as stored"})
    signed_time = fields.String(required=True, metadata={"description": "As signed"})
    event = fields.String(required=True, metadata=EVENT_ID)
    index = fields.Integer(required=True)
    type = fields.String(required=True)
    direction = fields.String(required=True, metadata={
        "enum": ["in", "out", "transform-in", "transform-out", "dispose"]})
    counterparty = fields.String(required=True, allow_none=True)
    lot = fields.String(required=True)
    quantity = fields.String(required=True, metadata={"description": "As signed"})
    unit = fields.String(required=True)
    kg = fields.String(required=True)
    form = fields.String(required=True)
    factor = fields.String(required=True)
    reference_kg = fields.String(required=True, metadata=KG)
    certified = fields.Boolean(required=True, allow_none=True)
    counts = fields.Boolean(required=True)
    reason = fields.String(required=True, allow_none=True)
    note = fields.String(required=True, allow_none=True)
    certified_delta = fields.String(required=True, metadata=KG)
    balance = fields.String(required=True, metadata=KG)
    shipment = fields.String(required=True, allow_none=True, metadata=EVENT_ID)
    certificate = fields.String(required=True, allow_none=True)
    certificate_event = fields.String(required=True, allow_none=True, metadata=EVENT_ID)


class MassBalanceSchema(_Strict):
    party = fields.String(required=True)
    product = fields.String(required=True)
    scheme = fields.String(required=True)
    period = fields.Nested(PeriodSchema, required=True)
    reference_form = fields.String(required=True)
    unit = fields.String(required=True)
    opening_balance = fields.String(required=True, metadata=KG)
    totals = fields.Nested(TotalsSchema, required=True)
    closing_balance = fields.String(required=True, metadata=KG)
    lowest_balance = fields.String(required=True, metadata=KG)
    in_deficit = fields.Boolean(required=True)
    oversold_kg = fields.String(required=True, metadata=KG)
    deficits = fields.List(fields.Nested(DeficitSchema), required=True)
    factors = fields.List(fields.Nested(FactorSchema), required=True)
    tables_digest = fields.String(required=True)
    rounding = fields.String(required=True)
    lines = fields.List(fields.Nested(LedgerLineSchema), required=True)


# --- views -----------------------------------------------------------------------------------


@blp.route("/api/v1/parties/<party_id>/mass-balance")
class MassBalance(MethodView):
    @blp.arguments(MassBalanceQuerySchema, location="query")
    @blp.response(200, MassBalanceSchema, description="The report; with `Accept: text/csv`,"
                  " its ledger lines as CSV")
    @problems(blp, 404, 422)
    def get(self, args: dict[str, Any], party_id: str) -> Any:
        """A party's mass balance for one product, scheme and period, line by line."""
        report = _report(party_id, args)
        if request.accept_mimetypes.best_match(["application/json", CSV]) == CSV:
            return Response(_csv(report), mimetype=CSV, headers={
                "Content-Disposition": f'attachment; filename="{_filename(report)}.csv"'})
        return report.to_dict()


def audit_page(party_id: str) -> Response:
    """The auditor's HTML report: the running balance first, then the lines."""
    try:
        args = MassBalanceQuerySchema().load(request.args)
    except ValidationError as e:
        raise Problem(422, f"invalid query: {e.messages}", slug="invalid-request") from e
    report = _report(party_id, args)
    html = render_template("audit/mass_balance.html", r=report, chart=chart(report),
                           query=request.query_string.decode())
    return Response(html, mimetype="text/html",
                    headers={"Content-Security-Policy": HTML_CSP})


# Registered on the Flask blueprint directly: an HTML page is not part of the JSON API's
# OpenAPI document.
flask.Blueprint.add_url_rule(blp, "/audit/<party_id>/mass-balance", "audit_page", audit_page)


def register(app: Flask) -> None:
    """Register ``blp`` with the app's flask-smorest ``Api`` (for apps built elsewhere)."""
    api = app.extensions["flask-smorest"]["apis"][""]["ext_obj"]
    api.register_blueprint(blp)


def _report(party_id: str, args: dict[str, Any]) -> MassBalanceReport:
    if "period" in args:
        period = Period.parse(args["period"])
    else:
        period = Period.between(args["from_"], args["until"])
    try:
        return mass_balance(store(), party_id, args["product"], args["scheme"], period)
    except UnknownParty as e:
        raise Problem(404, e.message, slug="unknown-party") from e


def _csv(report: MassBalanceReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows(iter_csv_rows(report))
    return out.getvalue()


def _filename(report: MassBalanceReport) -> str:
    return f"mass-balance_{report.party}_{report.product}_{report.scheme}_{report.period.label}" \
        .replace("/", "_")


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
    ticks = sorted({(y(v), _kg(v)) for v in (Decimal(0), report.lowest, max(values),
                                             report.opening, report.closing)})
    marks = [(x((_instant(d.started_at) - start).total_seconds() / span)
              if not d.started_before_period else x(0.0),
              y(-d.deepest_kg), f"oversold {d.deepest_kg} kg from {d.started_at}"
                                f" ({d.started_by})") for d in report.deficits]
    return Chart(width, height, left, right, top, bottom, " ".join(points), y(Decimal(0)),
                 ticks, report.period.start.isoformat(), report.period.end.isoformat(), marks)


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
