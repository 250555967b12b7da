"""``/api/v1/lots``: a lot's product, form, creating event, holdings and goods in transit."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api.http import schemas
from api.http.access import lot_view, readable_lot
from api.http.base import Blueprint, problems
from api.http.context import store
from ledger.errors import LotNotFound
from ledger.lots import get_lot

blp = Blueprint(
    "lots",
    __name__,
    url_prefix="/api/v1/lots",
    description="Product lots: what they are and who holds how much",
)


@blp.route("/<lot>")
class Lot(MethodView):
    @blp.response(200, schemas.LotSchema)
    @problems(blp, 404)
    def get(self, lot: str) -> Any:
        """A lot: product, form, creating event, and the holdings and in-transit quantities
        of the parties the caller reads."""
        who = readable_lot(lot)
        view = get_lot(store(), lot)
        if view is None:
            raise LotNotFound(f"no lot {lot!r} in the ledger")
        return lot_view(view.to_dict(), who)
