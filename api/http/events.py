"""``/api/v1/events``: capture signed events, read them back."""

from __future__ import annotations

import json
from typing import Any

from flask.views import MethodView

from api.http import schemas
from api.http.access import readable_event, visible_events
from api.http.base import Blueprint, problems, read_json
from api.http.context import log_signer, store
from api.http.errors import InvalidRequest
from ledger import query
from ledger.append import append_batch, check_batch
from ledger.schema import EventRow

blp = Blueprint(
    "events",
    __name__,
    url_prefix="/api/v1/events",
    description="Signed custody events: append (all or nothing) and read",
)

SUBMISSION_DOC = {
    "description": 'One DSSE envelope, or `{"events": [envelope, …]}` (at most'
    f" {schemas.MAX_BATCH_EVENTS} events, {schemas.MAX_BODY_BYTES} bytes)."
    " Each envelope is validated by the ledger core; the first event that"
    " fails rejects the whole batch.",
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"$ref": "#/components/schemas/Envelope"},
                    {"$ref": "#/components/schemas/EventBatch"},
                ]
            }
        }
    },
}
READ_SECURITY: list[dict[str, list[str]]] = [{}, {"session": []}, {"operatorToken": []}]


@blp.route("")
class Events(MethodView):
    @blp.doc(requestBody=SUBMISSION_DOC)
    @blp.response(
        201,
        schemas.AppendResultSchema,
        description="At least one event was new; all are now in the ledger",
    )
    @blp.alt_response(
        200,
        schema=schemas.AppendResultSchema,
        description="Every envelope was already stored (idempotent re-submission)",
    )
    @problems(blp, 400, 409, 413, 415, 422)
    def post(self) -> Any:
        """Append one envelope or a batch, atomically."""
        envelopes = _read_submission()
        result = append_batch(store(), envelopes, log_signer=log_signer())
        body = {"events": result.events, "size": result.size, "checkpoint": result.checkpoint}
        return body, 201 if result.created else 200

    @blp.arguments(schemas.EventQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, schemas.EventPageSchema)
    @blp.doc(security=READ_SECURITY)
    @problems(blp, 401)
    def get(self, after: int, limit: int, **filters: Any) -> Any:
        """List the events the caller may read, in ledger order (newest last), filtered,
        one page at a time."""
        rows = query.list_events(
            store(), after=after, limit=limit, visible=visible_events(), **filters
        )
        next_after = rows[-1].index if len(rows) == limit else None
        return {"events": [_event(r) for r in rows], "next_after": next_after}


@blp.route("/check")
class Check(MethodView):
    @blp.doc(requestBody=SUBMISSION_DOC)
    @blp.response(
        200,
        schemas.AppendResultSchema,
        description="An append of this batch would be accepted (`new`: would be appended;"
        " `size`: the ledger's size after it). Nothing was appended; `checkpoint` is null.",
    )
    @problems(blp, 400, 409, 413, 415, 422)
    def post(self) -> Any:
        """Dry run: what appending this batch would answer, appending nothing.

        Runs the whole append pipeline (signatures, chains, every custody rule) in a
        transaction that is rolled back: the same problem, index and field an append
        would give, or 200. An offline signer asks before queuing an event, so a wrong
        quantity is heard about while the sack is still on the scale.
        """
        result = check_batch(store(), _read_submission())
        return {"events": result.events, "size": result.size, "checkpoint": None}


@blp.route("/<event_id>")
class Event(MethodView):
    @blp.response(200, schemas.EventSchema)
    @blp.doc(security=READ_SECURITY)
    @problems(blp, 401, 404)
    def get(self, event_id: str) -> Any:
        """One stored event the caller may read: its envelope, ledger index, recording time
        and decoded payload (404 for an event it may not read, as for a missing one)."""
        return _event(readable_event(event_id))


def _event(row: EventRow) -> dict[str, Any]:
    payload = json.loads(row.payload)
    out: dict[str, Any] = {
        "id": row.id,
        "index": row.index,
        "type": row.type,
        "party": row.party,
        "key": row.keyid,
        "seq": row.seq,
        "time": row.time,
        "recorded_at": row.recorded_at,
        "redacted": False,
    }
    out.update(envelope=json.loads(row.envelope), payload=payload)
    return out


def _read_submission() -> list[Any]:
    """The envelopes of a POST body: shape checks here, envelope checks in the core."""
    body = read_json()
    if isinstance(body, dict) and "events" in body:
        return _batch(body)
    if isinstance(body, dict):
        return [body]
    raise InvalidRequest(
        'the body must be an envelope object or {"events": [envelope, …]}',
        [{"index": None, "field": None, "message": "not an object"}],
    )


def _batch(body: dict[str, Any]) -> list[Any]:
    unknown = sorted(set(body) - {"events"})
    if unknown:
        raise InvalidRequest(
            f"unknown field(s) beside events: {', '.join(unknown)}",
            [{"index": None, "field": f, "message": "unknown field"} for f in unknown],
        )
    events = body["events"]
    if not isinstance(events, list) or not events:
        raise InvalidRequest(
            "events must be a non-empty list of envelopes",
            [{"index": None, "field": "events", "message": "not a non-empty list"}],
        )
    if len(events) > schemas.MAX_BATCH_EVENTS:
        raise InvalidRequest(
            f"a batch holds at most {schemas.MAX_BATCH_EVENTS} events, not {len(events)}: split it",
            [
                {
                    "index": None,
                    "field": "events",
                    "message": f"more than {schemas.MAX_BATCH_EVENTS} events",
                }
            ],
        )
    return events
