"""``/api/v1/health``: liveness and database reachability."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api.http import schemas
from api.http.base import Blueprint, problems
from api.http.context import store
from api.http.errors import Unavailable

blp = Blueprint(
    "health",
    __name__,
    url_prefix="/api/v1/health",
    description="Liveness and database reachability",
)


@blp.route("")
class Health(MethodView):
    @blp.response(200, schemas.HealthSchema)
    @problems(blp, 503)
    def get(self) -> Any:
        """200 when the server runs and its ledger database answers; 503 otherwise."""
        ledger = store()
        if not ledger.schema_ready():
            raise Unavailable(
                "the ledger database is unreachable or not initialized", database=False
            )
        return {
            "status": "ok",
            "database": True,
            "events": ledger.size(),
            "ledger": ledger.genesis_id(),
        }
