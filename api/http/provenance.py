"""``/api/v1/lots/{lot}/trace|origin|bundle``: where a lot came from, and the proof."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import INCLUDE, Schema, fields, validate

from api.http import schemas
from api.http.access import readable_lot
from api.http.base import Blueprint, problems
from api.http.context import store
from graph.ancestry import gather
from graph.bundle import build_bundle
from graph.origin import origin_verdict
from graph.trace import trace

blp = Blueprint(
    "provenance",
    __name__,
    url_prefix="/api/v1/lots",
    description="Provenance: custody graph, origin verdict and proof bundle",
)


class _Open(Schema):
    class Meta:
        unknown = INCLUDE


class TraceQuerySchema(schemas.StrictSchema):
    direction = fields.String(
        load_default="upstream",
        validate=validate.OneOf(["upstream", "downstream"]),
        metadata={
            "description": "upstream: where it came from; downstream: where it went (recalls)"
        },
    )


class TraceSchema(schemas.StrictSchema):
    lot = fields.String(required=True)
    direction = fields.String(required=True)
    nodes = fields.List(
        fields.Dict(),
        required=True,
        metadata={
            "description": "Events (`kind: event`, type, party, time, index) and lots"
            " (`kind: lot`, product, form)"
        },
    )
    edges = fields.List(
        fields.Dict(),
        required=True,
        metadata={"description": "`creates` (event → lot) and `custody` (event → event, lot, kg)"},
    )


class VerdictSchema(_Open):
    lot = fields.String(required=True)
    product = fields.String(required=True)
    form = fields.String(required=True)
    kg = fields.String(required=True, metadata=schemas.KG)
    scheme = fields.String(required=True)
    certified = fields.Boolean(
        required=True,
        metadata={
            "description": "True only when the whole lot is of certified small-producer origin"
        },
    )
    certified_fraction = fields.String(required=True, metadata={"description": "Exact, n/d"})
    certified_percent = fields.String(
        required=True, metadata={"description": "Rounded down to 0.01: a claim is never rounded up"}
    )
    certified_kg = fields.String(required=True, metadata=schemas.KG)
    summary = fields.Dict(required=True)
    shares = fields.List(
        fields.Dict(),
        required=True,
        metadata={"description": "Each harvest's share with every reason it is not certified"},
    )
    prices = fields.List(
        fields.Dict(),
        metadata={
            "description": "Only where a payment in the lot's ancestry was disclosed by every"
            " party that signed it: what each small producers' organization was paid against"
            " its scheme's minimum, and what reached the farm gate, with the events behind"
            " each figure"
        },
    )


class BundleSchema(_Open):
    format = fields.String(required=True, metadata={"description": "`trazo.bundle`"})
    version = fields.Integer(required=True)
    lot = fields.String(required=True)
    checkpoint = fields.String(required=True)
    events = fields.List(fields.Dict(), required=True)
    tables = fields.Dict(required=True)
    verdict = fields.Dict(required=True)


@blp.route("/<lot>/trace")
class Trace(MethodView):
    @blp.arguments(TraceQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, TraceSchema)
    @problems(blp, 404)
    def get(self, lot: str, direction: str) -> Any:
        """The lot's custody graph: every event it came from (or, downstream, went into:
        only for a reader of the whole ledger)."""
        readable_lot(lot, whole_ledger=direction == "downstream")
        return trace(store(), lot, direction)


@blp.route("/<lot>/origin")
class Origin(MethodView):
    @blp.response(200, VerdictSchema)
    @problems(blp, 404)
    def get(self, lot: str) -> Any:
        """The origin verdict: shares per harvest, the certified share, every reason."""
        readable_lot(lot)
        return origin_verdict(lot, gather(store(), lot)).to_dict()


@blp.route("/<lot>/bundle")
class Bundle(MethodView):
    @blp.response(200, BundleSchema)
    @problems(blp, 404, 409)
    def get(self, lot: str) -> Any:
        """The proof bundle: verify it offline with `trazo verify FILE --log-key log.pub`."""
        readable_lot(lot)
        return build_bundle(store(), lot)
