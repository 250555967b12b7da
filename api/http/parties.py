"""``/api/v1/parties``: registered parties, their roles, keys and certificates."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from flask.views import MethodView

from api.http import schemas
from api.http.base import Blueprint, problems
from api.http.context import store
from ledger import query
from ledger.envelope import b64encode
from ledger.errors import PartyNotFound

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
