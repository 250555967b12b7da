"""``/api/v1/`` (and ``/``): an index of what this server answers, as links."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api.http import schemas
from api.http.base import Blueprint

blp = Blueprint(
    "index",
    __name__,
    url_prefix="/api/v1",
    description="Where to start: the API's documents and endpoints",
)

LINKS: dict[str, str] = {
    "openapi": "/api/v1/openapi.json",
    "docs": "/api/v1/docs",
    "health": "/api/v1/health",
    "events": "/api/v1/events",
    "event": "/api/v1/events/{event_id}",
    "parties": "/api/v1/parties",
    "lot": "/api/v1/lots/{lot}",
    "origin": "/api/v1/lots/{lot}/origin",
    "trace": "/api/v1/lots/{lot}/trace",
    "bundle": "/api/v1/lots/{lot}/bundle",
    "eudr": "/api/v1/lots/{lot}/eudr",
    "mass_balance": "/api/v1/parties/{party_id}/mass-balance",
    "key_head": "/api/v1/keys/{keyid}/head",
    "checkpoint": "/api/v1/log/checkpoint",
    "log_key": "/api/v1/log/key",
    "inclusion_proof": "/api/v1/log/proof/inclusion",
    "consistency_proof": "/api/v1/log/proof/consistency",
    "public_page": "/p/{lot}",
    "console": "/console/",
}
"""Every entry point, by name (paths with ``{…}`` are templates)."""


def index() -> dict[str, Any]:
    return {
        "name": "trazo",
        "description": "a signed, append-only custody ledger that proves small-producer origin",
        "links": dict(LINKS),
    }


@blp.route("/")
class Index(MethodView):
    @blp.response(200, schemas.IndexSchema)
    def get(self) -> Any:
        """Links to the OpenAPI document and every endpoint (templates for ids)."""
        return index()
