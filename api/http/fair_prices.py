"""Fair-price audits over HTTP: ``GET /api/v1/parties/{party}/fair-prices?period=…``.

The report of :func:`graph.fair_prices.price_audit` for one party: its scheme purchases
from small producers' organizations, sold on under the scheme, that were paid below the
scheme's minimum, without its premium, never confirmed, disputed or not paid at all —
each finding with its events. Read like the party's mass balance
(``api.http.access.readable_party_data``). The auditor's HTML page of the same report is
``/audit/{party}/fair-prices`` (``api.pages.audit``).
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import fields, validate

from api.http.access import readable_party_data
from api.http.base import Blueprint, problems
from api.http.context import store
from api.http.mass_balance import PeriodSchema
from api.http.schemas import EVENT_ID, StrictSchema
from graph.fair_prices import CODES, PriceAuditReport, price_audit
from graph.mass_balance import Period

blp = Blueprint(
    "fair_prices",
    __name__,
    description="Fair-price audits: scheme purchases paid below the minimum, without the"
    " premium, never confirmed or disputed, per party and period",
)


class FairPricesQuerySchema(StrictSchema):
    period = fields.String(
        required=True,
        validate=validate.Regexp(r"^[0-9]{4}(-(Q[1-4]|0[1-9]|1[0-2])(-[0-3][0-9])?)?$"),
        metadata={
            "example": "2026",
            "description": "`2026`, `2026-Q1`, `2026-03` or `2026-03-15` (UTC days): the"
            " receipts dated in it",
        },
    )


class PriceFindingSchema(StrictSchema):
    code = fields.String(required=True, metadata={"enum": list(CODES)})
    party = fields.String(required=True, metadata={"description": "The buyer"})
    seller = fields.String(required=True, metadata={"description": "The SPO that sold"})
    scheme = fields.String(required=True)
    receipt = fields.String(required=True, metadata=EVENT_ID)
    time = fields.String(required=True, metadata={"description": "The receipt's time, UTC"})
    message = fields.String(required=True)
    events = fields.List(
        fields.String(metadata=EVENT_ID),
        required=True,
        metadata={"description": "Receipt, shipment, payment, answer, price list, sale"},
    )


class PartyFindingsSchema(StrictSchema):
    party = fields.String(required=True)
    findings = fields.List(fields.Nested(PriceFindingSchema), required=True)


class FairPricesSchema(StrictSchema):
    party = fields.String(required=True, allow_none=True)
    period = fields.Nested(PeriodSchema, required=True)
    purchases = fields.Integer(
        required=True, metadata={"description": "Scheme purchases from SPOs checked"}
    )
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    parties = fields.List(fields.Nested(PartyFindingsSchema), required=True)


@blp.route("/api/v1/parties/<party_id>/fair-prices")
class FairPrices(MethodView):
    @blp.arguments(FairPricesQuerySchema, location="query")
    @blp.response(200, FairPricesSchema)
    @problems(blp, 404, 422)
    def get(self, args: dict[str, Any], party_id: str) -> Any:
        """A party's scheme purchases that were not paid as the scheme asks, with events."""
        return fair_prices_for(party_id, args["period"]).to_dict()


def fair_prices_for(party_id: str, period: str) -> PriceAuditReport:
    """The report of ``party_id`` for ``period``; ``PartyNotFound`` (404) for a party
    whose data the caller may not read, as for none."""
    readable_party_data(party_id)
    return price_audit(store(), Period.parse(period), party_id)
