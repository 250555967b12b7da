"""``/api/v1/epcis/events``: the ledger's custody events as a GS1 EPCIS 2.0 query interface.

SimpleEventQuery parameters, ``perPage`` + ``nextPageToken`` paging, the
``GS1-EPCIS-Version`` and ``GS1-CBV-Version`` headers; every answer is within the caller's
read access (``api.http.access.visible_events``), the same rows ``/api/v1/events`` lists.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from flask import Response, current_app, request
from flask.views import MethodView
from marshmallow import fields, validate

from api.http import schemas
from api.http.access import visible_events
from api.http.base import Blueprint, problems
from api.http.context import store
from graph.epcis.document import CBV_VERSION, EPCIS_VERSION, query_document, to_json
from graph.epcis.ledger import (
    EVENT_TYPE_NAMES,
    MAX_PER_PAGE,
    EventQuery,
    naming_for,
    query_events,
)
from graph.epcis.mapping import Naming
from ledger.errors import EventNotFound

blp = Blueprint(
    "epcis",
    __name__,
    url_prefix="/api/v1/epcis",
    description="GS1 EPCIS 2.0: custody events as EPCIS events (CBV 2.0), queried",
)

HEADERS = {"GS1-EPCIS-Version": EPCIS_VERSION, "GS1-CBV-Version": CBV_VERSION}
READ_SECURITY: list[dict[str, list[str]]] = [{}, {"session": []}, {"operatorToken": []}]


def _values(description: str) -> Any:
    return fields.List(fields.String(), metadata={"description": description})


class EpcisQuerySchema(schemas.StrictSchema):
    eventType = fields.List(
        fields.String(validate=validate.OneOf(EVENT_TYPE_NAMES)),
        metadata={"description": "EPCIS event types (repeat the parameter for several)"},
    )
    GE_eventTime = schemas.UtcDateTime(metadata={"description": "eventTime at or after"})
    LT_eventTime = schemas.UtcDateTime(metadata={"description": "eventTime before"})
    GE_recordTime = schemas.UtcDateTime(metadata={"description": "recorded at or after"})
    EQ_bizStep = _values("CBV business step, bare (`shipping`) or as a URI")
    EQ_disposition = _values("CBV disposition, bare (`in_transit`) or as a URI")
    MATCH_epc = _values("an instance EPC (trazo records lots by mass: matches none)")
    MATCH_epcClass = _values("a lot's class URI in quantityList")
    MATCH_anyEPCClass = _values("a lot's class URI in any quantity list")
    EQ_bizLocation = _values("a location URI (a GLN's Digital Link or a party URI)")
    EQ_source = _values("a source URI (any source type)")
    EQ_destination = _values("a destination URI (any destination type)")
    EQ_eventID = _values("a CBV 2.0 event hash ID")
    perPage = fields.Integer(load_default=100, validate=validate.Range(min=1, max=MAX_PER_PAGE))
    nextPageToken = fields.String(
        validate=validate.Regexp(r"^[0-9]{1,18}$"),
        metadata={"description": "the token of the previous page's `Link: rel=next`"},
    )


def _naming() -> Naming:
    base = current_app.config.get("TRAZO_PUBLIC_URL") or request.url_root
    return naming_for(store(), str(base))


@blp.route("/events")
class Events(MethodView):
    @blp.arguments(EpcisQuerySchema, location="query")
    @blp.response(
        200,
        content_type="application/ld+json",
        description="An EPCISQueryDocument (EPCIS 2.0.1 JSON schema)",
    )
    @blp.doc(security=READ_SECURITY)
    @problems(blp, 400, 401, 422)
    def get(self, args: dict[str, Any]) -> Any:
        """An `EPCISQueryDocument` of the custody events the caller may read that match
        the query, in ledger order; `Link: <…>; rel="next"` while there are more."""
        per_page = args.pop("perPage")
        token = args.pop("nextPageToken", None)
        params = {
            k: [v.isoformat()] if isinstance(v, datetime) else v if isinstance(v, list) else [v]
            for k, v in args.items()
        }
        page = query_events(
            store(),
            EventQuery.parse(params),
            _naming(),
            visible=visible_events(),
            per_page=per_page,
            token=token,
        )
        headers = dict(HEADERS)
        if page.next_token is not None:
            query = [(k, v) for k, v in request.args.items(multi=True) if k != "nextPageToken"]
            query.append(("nextPageToken", page.next_token))
            headers["Link"] = f'<{request.base_url}?{urlencode(query)}>; rel="next"'
        return _answer(page.events, headers)


@blp.route("/events/<path:event_id>")
class Event(MethodView):
    @blp.response(
        200,
        content_type="application/ld+json",
        description="An EPCISQueryDocument of the events of this hash",
    )
    @blp.doc(security=READ_SECURITY)
    @problems(blp, 401, 404)
    def get(self, event_id: str) -> Any:
        """The events of this CBV 2.0 hash ID the caller may read, as an
        `EPCISQueryDocument` (an event and its error declaration share one hash).
        Percent-encode the hash; unencoded, its `?ver=…` arrives as a query parameter and
        is put back."""
        if "?" not in event_id and "ver" in request.args:
            event_id = f"{event_id}?ver={request.args['ver']}"
        page = query_events(
            store(),
            EventQuery.parse({"EQ_eventID": [event_id]}),
            _naming(),
            visible=visible_events(),
            per_page=MAX_PER_PAGE,
        )
        if not page.events:
            raise EventNotFound(f"no EPCIS event {event_id} in the ledger")
        return _answer(page.events, HEADERS)


def _answer(events: list[dict[str, Any]], headers: dict[str, str]) -> Response:
    """An ``EPCISQueryDocument`` as JSON-LD, with the GS1 version headers."""
    body = to_json(query_document(events))
    response = current_app.response_class(body, mimetype="application/ld+json")
    response.headers.update(headers)
    return response
