"""Mass-balance audits over HTTP: JSON (or CSV) for machines.

``GET /api/v1/parties/{party}/mass-balance?product=&scheme=&from=&until=`` (or
``period=2026-Q1`` instead of from/until) answers the report of
:func:`graph.mass_balance.mass_balance` as JSON; with ``Accept: text/csv`` it answers
the ledger lines as CSV. The auditor's HTML page of the same report is
``api.pages.audit``.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Response, request
from flask.views import MethodView
from marshmallow import ValidationError, fields, validates_schema

from api.http.access import readable_party_data
from api.http.base import Blueprint, problems
from api.http.context import store
from api.http.schemas import EVENT_ID, StrictSchema
from graph import DEFAULT_PRODUCT, DEFAULT_SCHEME
from graph.mass_balance import (
    MassBalanceReport,
    Period,
    iter_csv_rows,
    mass_balance,
)

blp = Blueprint(
    "mass_balance",
    __name__,
    description="Mass-balance audits: certified inputs against certified outputs,"
    " per party, product, scheme and period",
)

CSV = "text/csv"
KG = {"description": "Reference-form kg, to the gram (decimal string)", "example": "1000.000"}


# --- schemas ---------------------------------------------------------------------------------


class MassBalanceQuerySchema(StrictSchema):
    product = fields.String(
        load_default=DEFAULT_PRODUCT,
        metadata={
            "example": "coffee",
            "description": "The product; default as `trazo mass-balance`",
        },
    )
    scheme = fields.String(
        load_default=DEFAULT_SCHEME,
        metadata={
            "example": "SPP",
            "description": "The scheme claimed; default as `trazo mass-balance`",
        },
    )
    from_ = fields.Date(
        data_key="from", metadata={"description": "First day (UTC) of the period; with `until`"}
    )
    until = fields.Date(metadata={"description": "Last day (UTC) of the period, inclusive"})
    period = fields.String(
        metadata={
            "description": "Instead of from/until: `2026`, `2026-Q1`, `2026-03` or `2026-03-15`"
        }
    )

    @validates_schema
    def _one_period(self, data: dict[str, Any], **_: Any) -> None:
        dates = ("from_" in data) + ("until" in data)
        if "period" in data and dates:
            raise ValidationError("give either period or from/until, not both", "period")
        if "period" not in data and dates != 2:
            raise ValidationError("give period, or both from and until", "period")


class PeriodSchema(StrictSchema):
    label = fields.String(required=True)
    from_ = fields.String(
        data_key="from", attribute="from", required=True, metadata={"format": "date"}
    )
    until = fields.String(required=True, metadata={"format": "date"})
    starts_at = fields.String(required=True, metadata={"format": "date-time"})
    ends_before = fields.String(required=True, metadata={"format": "date-time"})


class TotalsSchema(StrictSchema):
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


class DeficitSchema(StrictSchema):
    started_at = fields.String(required=True)
    started_by = fields.String(required=True, allow_none=True, metadata=EVENT_ID)
    started_before_period = fields.Boolean(required=True)
    oversold_kg = fields.String(required=True, metadata=KG)
    deepest_at = fields.String(required=True)
    deepest_event = fields.String(required=True, metadata=EVENT_ID)
    ended_at = fields.String(required=True, allow_none=True)
    ended_by = fields.String(required=True, allow_none=True, metadata=EVENT_ID)
    events = fields.List(fields.String(metadata=EVENT_ID), required=True)


class FactorSchema(StrictSchema):
    form = fields.String(required=True)
    factor = fields.String(required=True)
    rule = fields.String(required=True)


class LedgerLineSchema(StrictSchema):
    time = fields.String(required=True, metadata={"description": "UTC, as stored"})
    signed_time = fields.String(required=True, metadata={"description": "As signed"})
    event = fields.String(required=True, metadata=EVENT_ID)
    index = fields.Integer(required=True)
    type = fields.String(required=True)
    direction = fields.String(
        required=True, metadata={"enum": ["in", "out", "transform-in", "transform-out", "dispose"]}
    )
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


class MassBalanceSchema(StrictSchema):
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
    @blp.response(
        200,
        MassBalanceSchema,
        description="The report; with `Accept: text/csv`, its ledger lines as CSV",
    )
    @problems(blp, 404, 422)
    def get(self, args: dict[str, Any], party_id: str) -> Any:
        """A party's mass balance for one product, scheme and period, line by line."""
        report = report_for(party_id, args)
        if request.accept_mimetypes.best_match(["application/json", CSV]) == CSV:
            return Response(
                _csv(report),
                mimetype=CSV,
                headers={"Content-Disposition": f'attachment; filename="{_filename(report)}.csv"'},
            )
        return report.to_dict()


def report_for(party_id: str, args: dict[str, Any]) -> MassBalanceReport:
    """The report a query asks for (``MassBalanceQuerySchema``); ``PartyNotFound`` (404)
    for an unknown party, or one whose data the caller may not read."""
    readable_party_data(party_id)
    if "period" in args:
        period = Period.parse(args["period"])
    else:
        period = Period.between(args["from_"], args["until"])
    return mass_balance(store(), party_id, args["product"], args["scheme"], period)


def _csv(report: MassBalanceReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows(iter_csv_rows(report))
    return out.getvalue()


def _filename(report: MassBalanceReport) -> str:
    name = f"mass-balance_{report.party}_{report.product}_{report.scheme}_{report.period.label}"
    return name.replace("/", "_")
