"""``/api/v1/parties``: registered parties, their roles, keys and certificates."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from flask.views import MethodView
from marshmallow import fields, validate

from api.http import schemas
from api.http.access import readable_party_data
from api.http.base import Blueprint, problems
from api.http.context import store
from ledger import query
from ledger.envelope import b64encode
from ledger.errors import PartyNotFound
from ledger.schema import decimal_text

blp = Blueprint(
    "parties",
    __name__,
    url_prefix="/api/v1/parties",
    description="Parties registered by the operator, with keys and certificates",
)


@blp.route("")
class Parties(MethodView):
    @blp.arguments(schemas.PartyQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, schemas.PartyPageSchema)
    def get(self, limit: int, after: str | None = None) -> Any:
        """Parties in id order, one page at a time."""
        parties = query.list_parties(store(), after=after, limit=limit)
        next_after = parties[-1].id if len(parties) == limit else None
        return {"parties": [_party(p) for p in parties], "next_after": next_after}


@blp.route("/<party_id>")
class Party(MethodView):
    @blp.response(200, schemas.PartySchema)
    @problems(blp, 404)
    def get(self, party_id: str) -> Any:
        """One party: roles, every key it had (active and revoked), its certificates."""
        party = query.get_party(store(), party_id)
        if party is None:
            raise PartyNotFound(f"no party {party_id!r} is registered")
        return _party(party)


class HoldingSchema(schemas.StrictSchema):
    lot = fields.String(required=True)
    product = fields.String(required=True)
    form = fields.String(required=True)
    kg = fields.String(required=True, metadata=schemas.KG)
    via = fields.String(
        required=True,
        metadata={**schemas.EVENT_ID, "description": "The event that gave custody: name it"},
    )
    time = fields.String(required=True, metadata=schemas.UTC_TIME)


class HoldingsSchema(schemas.StrictSchema):
    party = fields.String(required=True)
    holdings = fields.List(fields.Nested(HoldingSchema), required=True)


class ShipmentQuerySchema(schemas.StrictSchema):
    direction = fields.String(
        load_default="inbound",
        validate=validate.OneOf(["inbound", "outbound"]),
        metadata={"description": "inbound: shipped to the party; outbound: shipped by it"},
    )
    status = fields.String(validate=validate.OneOf(["in-transit", "received", "voided"]))


class ShipmentLineSchema(schemas.StrictSchema):
    lot = fields.String(required=True)
    kg = fields.String(required=True, metadata=schemas.KG)
    received_kg = fields.String(required=True, allow_none=True, metadata=schemas.KG)


class ShipmentSchema(schemas.StrictSchema):
    shipment = fields.String(required=True, metadata=schemas.EVENT_ID)
    shipper = fields.String(required=True)
    receiver = fields.String(required=True)
    time = fields.String(required=True, metadata=schemas.UTC_TIME)
    status = fields.String(required=True)
    receive_event = fields.String(required=True, allow_none=True)
    lots = fields.List(fields.Nested(ShipmentLineSchema), required=True)


class ShipmentsSchema(schemas.StrictSchema):
    party = fields.String(required=True)
    direction = fields.String(required=True)
    shipments = fields.List(fields.Nested(ShipmentSchema), required=True)


OWN_DATA: list[dict[str, list[str]]] = [{"session": []}, {"operatorToken": []}]


@blp.route("/<party_id>/holdings")
class Holdings(MethodView):
    @blp.response(200, HoldingsSchema)
    @blp.doc(security=OWN_DATA)
    @problems(blp, 401, 404)
    def get(self, party_id: str) -> Any:
        """What the party holds now, per lot and custody event (the party itself, its
        grantees and the operator only)."""
        readable_party_data(party_id)
        rows = query.holdings(store(), party_id)
        return {
            "party": party_id,
            "holdings": [
                {
                    "lot": h.lot,
                    "product": lot.product,
                    "form": lot.form,
                    "kg": decimal_text(h.kg),
                    "via": h.via,
                    "time": h.time,
                }
                for h, lot in rows
            ],
        }


@blp.route("/<party_id>/shipments")
class Shipments(MethodView):
    @blp.arguments(ShipmentQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, ShipmentsSchema)
    @blp.doc(security=OWN_DATA)
    @problems(blp, 401, 404)
    def get(self, party_id: str, direction: str, status: str | None = None) -> Any:
        """Shipments to the party (inbound) or from it (outbound), with their lots."""
        readable_party_data(party_id)
        found = query.shipments(store(), party_id, direction=direction, status=status)
        return {
            "party": party_id,
            "direction": direction,
            "shipments": [
                {
                    "shipment": s.id,
                    "shipper": s.shipper,
                    "receiver": s.receiver,
                    "time": s.time,
                    "status": s.status,
                    "receive_event": s.receive_event,
                    "lots": [
                        {
                            "lot": line.lot,
                            "kg": decimal_text(line.kg),
                            "received_kg": None
                            if line.received_kg is None
                            else decimal_text(line.received_kg),
                        }
                        for line in lines
                    ],
                }
                for s, lines in found
            ],
        }


def _party(party: query.PartyView) -> dict[str, Any]:
    return {
        "id": party.id,
        "name": party.name,
        "roles": party.roles,
        "country": party.country,
        "identifiers": party.identifiers,
        "registered_event": party.event,
        "registered_at": party.time,
        "keys": [
            {
                "keyid": k.keyid,
                "public_key": b64encode(k.public_key),
                "active": k.revoked_time is None,
                "added_event": k.added_event,
                "added_at": k.added_time,
                "revoked_event": k.revoked_event,
                "revoked_at": k.revoked_time,
                "revoke_reason": k.revoke_reason,
            }
            for k in party.keys
        ],
        "certificates": [
            {
                "id": c.id,
                "certifier": c.certifier,
                "scheme": c.scheme,
                "products": json.loads(c.products),
                "valid_from": date.fromisoformat(c.valid_from),
                "valid_until": date.fromisoformat(c.valid_until),
                "event": c.event,
                "issued_at": c.time,
                "revoked_event": c.revoked_event,
                "revoked_at": c.revoked_time,
                "revoke_reason": c.revoke_reason,
            }
            for c in party.certificates
        ],
    }
