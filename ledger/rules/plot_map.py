"""``plot.map``: the SPO that enrolled a plot records its geolocation (GeoJSON, WGS 84).

Here a geometry must only be well-formed: a ``Point``, ``Polygon`` or ``MultiPolygon``
whose positions are [longitude, latitude] within range and whose rings are closed.
Full geometry validation (area against the enrolled hectares, self-intersection) belongs
to the EUDR export. A later ``plot.map`` of the same plot supersedes the earlier one.

Payloads carry no floating-point numbers, so a coordinate is a JSON integer or a
decimal string such as ``"-74.493612"``.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from ledger import fields
from ledger.errors import InvalidEvent, NotAuthorized, UnknownReference
from ledger.payload import Event
from ledger.rules.base import Rule, require_role
from ledger.schema import PlotRow
from ledger.state import LedgerState

GEOMETRY_TYPES = ("Point", "Polygon", "MultiPolygon")
_COORDINATE = re.compile(r"-?(?:0|[1-9][0-9]{0,2})(?:\.[0-9]{1,15})?")


def _coordinate(value: Any, *, limit: int, field: str) -> Decimal:
    integer = isinstance(value, int) and not isinstance(value, bool)
    if integer or (isinstance(value, str) and _COORDINATE.fullmatch(value)):
        number = Decimal(value)
    else:
        raise InvalidEvent(
            f'a coordinate is an integer or a decimal string such as "-74.493612", got'
            f" {value!r}",
            field=field,
        )
    if abs(number) > limit:
        raise InvalidEvent(f"must lie within ±{limit} degrees, got {value}", field=field)
    return number


def _position(value: Any, field: str) -> tuple[Decimal, Decimal]:
    if not isinstance(value, list) or len(value) not in (2, 3):
        raise InvalidEvent("a position is [longitude, latitude] (WGS 84)", field=field)
    return (_coordinate(value[0], limit=180, field=f"{field}[0]"),
            _coordinate(value[1], limit=90, field=f"{field}[1]"))


def _polygon(value: Any, field: str) -> None:
    if not isinstance(value, list) or not value:
        raise InvalidEvent("a polygon is a non-empty array of linear rings", field=field)
    for r, ring in enumerate(value):
        where = f"{field}[{r}]"
        if not isinstance(ring, list) or len(ring) < 4:
            raise InvalidEvent("a linear ring has at least 4 positions", field=where)
        positions = [_position(p, f"{where}[{i}]") for i, p in enumerate(ring)]
        if positions[0] != positions[-1]:
            raise InvalidEvent("a linear ring must end where it starts", field=where)
        if len(set(positions)) < 3:
            raise InvalidEvent("a linear ring needs at least 3 distinct positions",
                               field=where)


def check_geometry(body: dict[str, Any], name: str = "geometry") -> None:
    geometry = fields.obj(body, name)
    fields.reject_unknown(geometry, frozenset({"type", "coordinates"}), prefix=name + ".")
    kind = fields.require(geometry, "type", prefix=name + ".")
    if kind not in GEOMETRY_TYPES:
        raise InvalidEvent(
            f"geometry type must be one of {', '.join(GEOMETRY_TYPES)}, got {kind!r}",
            field=name + ".type",
        )
    coordinates = fields.require(geometry, "coordinates", prefix=name + ".")
    where = name + ".coordinates"
    if kind == "Point":
        _position(coordinates, where)
    elif kind == "Polygon":
        _polygon(coordinates, where)
    else:
        if not isinstance(coordinates, list) or not coordinates:
            raise InvalidEvent("a MultiPolygon is a non-empty array of polygons", field=where)
        for i, polygon in enumerate(coordinates):
            _polygon(polygon, f"{where}[{i}]")


class PlotMap(Rule):
    type = "plot.map"
    fields = frozenset({"plot", "method", "geometry"})

    def check_fields(self, event: Event) -> None:
        super().check_fields(event)
        fields.ident(event.body, "plot", what="a plot id")
        fields.text(event.body, "method", max_len=100)
        check_geometry(event.body)

    def apply(self, event: Event, state: LedgerState) -> None:
        require_role(event, state, "spo")
        session = state.session
        plot_id: str = event.body["plot"]
        plot = session.get(PlotRow, plot_id)
        if plot is None:
            raise UnknownReference(f"no plot {plot_id!r} is enrolled", field="plot")
        if plot.spo != event.party:
            raise NotAuthorized(
                f"plot {plot_id!r} was enrolled by {plot.spo!r}, not {event.party!r}",
                field="plot",
            )
        plot.geometry = json.dumps(event.body["geometry"], sort_keys=True,
                                   separators=(",", ":"))
        plot.method = event.body["method"]
        plot.map_event = event.id


RULE = PlotMap()
