"""``plot.map``: the SPO that enrolled a plot records its geolocation (GeoJSON, WGS 84).

The geometry is validated by :mod:`ledger.geometry` in two steps:

- on its own (``check_fields``): a ``Point``, ``Polygon`` or ``MultiPolygon`` whose
  positions are [longitude, latitude] within range, whose rings are closed and do not
  intersect themselves or each other, with holes inside their exterior ring;
- against the enrolled plot (``apply``): a plot enrolled with 4 ha or more must be a
  polygon, and a polygon's geodesic area must agree with the enrolled area within
  25 % + 0.1 ha (see :func:`ledger.geometry.check_area` for the method and why).

Every error names the plot and the offending member of the geometry. A later
``plot.map`` of the same plot supersedes the earlier one.

Payloads carry no floating-point numbers, so a coordinate is a JSON integer or a
decimal string such as ``"-74.493612"``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ledger import fields, geometry
from ledger.errors import InvalidEvent, NotAuthorized, UnknownReference
from ledger.payload import Event
from ledger.records import Plot
from ledger.rules.base import Rule, require_role
from ledger.view import LedgerView, Wanted

GEOMETRY_TYPES = geometry.GEOMETRY_TYPES
NONCE = re.compile(r"[A-Za-z0-9_-]{22,128}")
"""Required random bytes in the payload (22 base64url characters carry 132 bits), so that
its hash — the event id, public in listings and proofs — cannot be brute-forced back to
exact coordinates from a coarse location."""


def _invalid(body: dict[str, Any], error: geometry.GeometryError) -> InvalidEvent:
    plot = body.get("plot")
    where = f"plot {plot!r}: " if isinstance(plot, str) else ""
    return InvalidEvent(f"{where}{error.message}", field=error.field)


def check_geometry(body: dict[str, Any], name: str = "geometry") -> geometry.Geometry:
    """The geometry of ``body[name]``, valid on its own, or InvalidEvent naming the plot."""
    fields.obj(body, name)
    try:
        return geometry.parse_geometry(body[name], name)
    except geometry.GeometryError as e:
        raise _invalid(body, e) from e


@dataclass(frozen=True)
class Mapping:
    plot: str
    method: str
    geojson: dict[str, Any]
    parsed: geometry.Geometry
    nonce: str


class PlotMap(Rule[Mapping]):
    type = "plot.map"
    fields = frozenset({"plot", "method", "geometry", "nonce"})

    def from_body(self, body: dict[str, Any], party: str) -> Mapping:
        plot = fields.ident(body, "plot", what="a plot id")
        method = fields.text(body, "method", max_len=100)
        nonce = body.get("nonce")
        if not isinstance(nonce, str) or not NONCE.fullmatch(nonce):
            raise InvalidEvent(
                "a plot.map needs a nonce of 22 to 128 base64url characters (at least 128"
                " random bits), so that its public id cannot be brute-forced back to the"
                " coordinates; `trazo sign` adds one",
                field="nonce",
            )
        parsed = check_geometry(body)
        return Mapping(plot, method, body["geometry"], parsed, nonce)

    def prefetch(self, event: Event, body: Mapping) -> Iterable[Wanted]:
        return [(Plot, body.plot)]

    def apply(self, event: Event, body: Mapping, view: LedgerView) -> None:
        require_role(event, view, "spo")
        plot = view.get(Plot, body.plot)
        if plot is None:
            raise UnknownReference(f"no plot {body.plot!r} is enrolled", field="plot")
        if plot.spo != event.party:
            raise NotAuthorized(
                f"plot {body.plot!r} was enrolled by {plot.spo!r}, not {event.party!r}",
                field="plot",
            )
        try:
            geometry.check_area(body.parsed, plot.area_ha, "geometry")
        except geometry.GeometryError as e:
            raise _invalid(event.body, e) from e
        view.update(
            plot,
            geometry=json.dumps(body.geojson, sort_keys=True, separators=(",", ":")),
            method=body.method,
            map_event=event.id,
        )


RULE = PlotMap()
