"""``/api/v1/sessions``: a party signs in by signing a challenge with one of its keys.

1. ``POST /api/v1/sessions/challenge`` hands out a random challenge, usable once, for
   ``CHALLENGE_SECONDS``.
2. The party signs a DSSE envelope (payload type ``SESSION_PAYLOAD_TYPE``, never an
   event's) whose payload is ``ledger.envelope.session_statement``: ``{"challenge",
   "ledger", "server", "key"}``. The ledger id and the server's ``host[:port]`` (as the
   signer reached it: ``TRAZO_PUBLIC_URL``'s, or the request's ``Host``) bind the
   signature, so a challenge relayed by another server — even one serving a copy of this
   ledger — is refused.
3. ``POST /api/v1/sessions`` with that envelope: the key must be registered (the session
   is its party's) and not revoked, the challenge unused and unexpired (it is spent in the same
   transaction, so a replay is refused). The answer is a bearer token ``<id>.<secret>``
   scoped to the party, valid for ``TRAZO_SESSION_SECONDS``.

Only the SHA-256 of a token's secret is stored, and it is compared in constant time.
Every request re-checks the session: an expired or ended session, or one whose key has
since been revoked, is a 401. A party lists its sessions (``GET``) and ends one
(``DELETE /api/v1/sessions/<id>``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app, request
from flask.views import MethodView
from marshmallow import fields
from sqlalchemy import delete, select, update

from api.http import schemas
from api.http.access import require_party
from api.http.base import Blueprint, problems, read_json
from api.http.context import store
from api.http.errors import InvalidRequest, InvalidToken, SignInRefused
from ledger.envelope import SESSION_FIELDS, SESSION_PAYLOAD_TYPE, Envelope
from ledger.errors import NotFound
from ledger.fields import from_utc_text, utc_text
from ledger.keys import public_key_from_raw
from ledger.payload import loads_strict
from ledger.schema import ChallengeRow, KeyRow, SessionRow

CHALLENGE_SECONDS = 300
DEFAULT_SESSION_SECONDS = 3600

blp = Blueprint(
    "sessions",
    __name__,
    url_prefix="/api/v1/sessions",
    description="Party sessions: sign a challenge with a registered key, get a bearer token",
)


class SessionNotFound(NotFound):
    title = "Session not found"


def _now() -> datetime:
    return datetime.now(UTC)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def session_seconds() -> int:
    return int(current_app.config.get("TRAZO_SESSION_SECONDS") or DEFAULT_SESSION_SECONDS)


# --- the state -------------------------------------------------------------------------------


def new_challenge() -> tuple[str, datetime]:
    """A fresh challenge and when it expires; expired ones are cleared on the way."""
    nonce = secrets.token_urlsafe(32)
    now = _now()
    expires = now + timedelta(seconds=CHALLENGE_SECONDS)
    with store().state() as session:
        session.execute(delete(ChallengeRow).where(ChallengeRow.expires_at < utc_text(now)))
        session.add(ChallengeRow(nonce=nonce, expires_at=utc_text(expires), used_at=None))
    return nonce, expires


def sign_in(envelope: dict[str, Any]) -> dict[str, Any]:
    """Check a signed challenge and open a session: the new token and its session."""
    signed = _signed_challenge(envelope)
    now = _now()
    with store().state() as session:
        key = session.get(KeyRow, signed.signature.keyid)
        body = loads_strict(signed.payload, what="session payload")
        _check_body(body, signed.signature.keyid)
        if key is None:
            raise SignInRefused(
                f"key {signed.signature.keyid[:16]}… is not registered", field="payload.key"
            )
        if key.revoked_time is not None:  # as the engine decides: revoked once in the ledger
            raise SignInRefused(
                f"key {key.keyid[:16]}… was revoked by {key.revoked_event}", field="payload.key"
            )
        if not signed.signed_by(public_key_from_raw(key.public_key)):
            raise SignInRefused(
                f"the signature does not verify for key {key.keyid[:16]}…",
                field="signatures[0].sig",
            )
        servers = _server_names()
        if body["server"] not in servers:
            raise SignInRefused(
                f"the challenge was signed for server {body['server']!r}; this is"
                f" {' or '.join(sorted(servers))}",
                field="payload.server",
            )
        genesis = store().genesis_id()
        if body["ledger"] != genesis:
            raise SignInRefused(
                f"the challenge was signed for ledger {body['ledger']!r}; this is {genesis}",
                field="payload.ledger",
            )
        spent = session.execute(
            update(ChallengeRow)
            .where(
                ChallengeRow.nonce == body["challenge"],
                ChallengeRow.used_at.is_(None),
                ChallengeRow.expires_at >= utc_text(now),
            )
            .values(used_at=utc_text(now))
        )
        if spent.rowcount != 1:  # type: ignore[attr-defined]
            raise SignInRefused(
                "the challenge is unknown, expired or already used: ask for a new one",
                field="payload.challenge",
            )
        session_id, secret = secrets.token_hex(16), secrets.token_urlsafe(32)
        expires = now + timedelta(seconds=session_seconds())
        row = SessionRow(
            id=session_id,
            secret_hash=_digest(secret),
            party=key.party,
            keyid=key.keyid,
            created_at=utc_text(now),
            expires_at=utc_text(expires),
            ended_at=None,
            client=(request.headers.get("User-Agent") or "")[:200] or None,
        )
        session.add(row)
    return {"token": f"{session_id}.{secret}", **_session(row)}


def _server_names() -> set[str]:
    """The ``host[:port]`` a signer may have signed for: ``TRAZO_PUBLIC_URL``'s alone when
    it is configured (the request's ``Host`` is the client's to choose, so a relay would
    send its own); without it, the request's ``Host`` (no protection against a relay)."""
    from urllib.parse import urlsplit

    public = current_app.config.get("TRAZO_PUBLIC_URL")
    if public:
        return {urlsplit(str(public)).netloc.lower()}
    return {request.host.lower()}


def _signed_challenge(envelope: Any) -> Envelope:
    if not isinstance(envelope, dict):
        raise InvalidRequest(
            "send the signed challenge as a DSSE envelope object",
            [{"index": None, "field": None, "message": "not an object"}],
        )
    if envelope.get("payloadType") != SESSION_PAYLOAD_TYPE:
        raise SignInRefused(
            f"payloadType must be {SESSION_PAYLOAD_TYPE!r} (a session, never an event)",
            field="payloadType",
        )
    return Envelope.from_dict(envelope, payload_type=SESSION_PAYLOAD_TYPE)


def _check_body(body: Any, keyid: str) -> None:
    if not isinstance(body, dict) or set(body) != SESSION_FIELDS:
        raise SignInRefused(
            f"the session payload is an object with exactly {sorted(SESSION_FIELDS)}",
            field="payload",
        )
    for name in sorted(SESSION_FIELDS):
        if not isinstance(body[name], str):
            raise SignInRefused("must be a string", field=f"payload.{name}")
    if body["key"] != keyid:
        raise SignInRefused("the payload's key is not the signature's keyid", field="payload.key")


def session_party(token: str) -> tuple[str, str]:
    """The party and session id of a bearer token; ``InvalidToken`` unless it is a live
    session whose key is still unrevoked."""
    session_id, dot, secret = token.partition(".")
    if not dot or len(session_id) != 32 or not secret:
        raise InvalidToken("the bearer token is not this server's operator token or a session")
    now = utc_text(_now())
    with store().reading() as session:
        found = session.execute(
            select(SessionRow, KeyRow.revoked_time)
            .join(KeyRow, KeyRow.keyid == SessionRow.keyid)
            .where(SessionRow.id == session_id)
        ).first()
    if found is None or not hmac.compare_digest(found[0].secret_hash, _digest(secret)):
        raise InvalidToken("the bearer token is not this server's operator token or a session")
    row, revoked = found
    if row.ended_at is not None:
        raise InvalidToken("this session was ended: sign in again")
    if row.expires_at < now:
        raise InvalidToken("this session expired: sign in again")
    if revoked is not None:  # whatever time the key.revoke states, as for events
        raise InvalidToken("the key this session was signed in with was revoked")
    return row.party, row.id


def _session(row: SessionRow) -> dict[str, Any]:
    return {
        "session": row.id,
        "party": row.party,
        "key": row.keyid,
        "created_at": from_utc_text(row.created_at),
        "expires_at": from_utc_text(row.expires_at),
        "client": row.client,
    }


# --- schemas ---------------------------------------------------------------------------------


class ChallengeSchema(schemas.StrictSchema):
    challenge = fields.String(required=True, metadata={"description": "Sign it, once"})
    expires_at = fields.DateTime(required=True)
    ledger = fields.String(
        required=True, metadata={"description": "The ledger id (genesis event) to sign"}
    )
    payload_type = fields.String(required=True, metadata={"example": SESSION_PAYLOAD_TYPE})


class SessionSchema(schemas.StrictSchema):
    session = fields.String(required=True)
    party = fields.String(required=True)
    key = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(required=True)
    client = fields.String(required=True, allow_none=True)


class NewSessionSchema(SessionSchema):
    token = fields.String(
        required=True,
        metadata={"description": "`Authorization: Bearer <token>`; shown once, kept hashed"},
    )


class SessionListSchema(schemas.StrictSchema):
    sessions = fields.List(fields.Nested(SessionSchema), required=True)


SIGNED_CHALLENGE_DOC = {
    "description": "A DSSE envelope (payloadType `application/vnd.trazo.session+json`) whose"
    ' payload is `{"challenge", "ledger", "server", "key"}` (`server`: the `host[:port]` the'
    " client reached), signed by that key: registered to a party and not revoked. The"
    " session is that party's.",
    "required": True,
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}},
}
SESSION_SECURITY: list[dict[str, list[str]]] = [{"session": []}]


# --- views -----------------------------------------------------------------------------------


@blp.route("/challenge")
class Challenge(MethodView):
    @blp.response(201, ChallengeSchema)
    @problems(blp, 429)
    def post(self) -> Any:
        """A challenge to sign (once, within five minutes) to sign in."""
        nonce, expires = new_challenge()
        return {
            "challenge": nonce,
            "expires_at": expires,
            "ledger": store().genesis_id(),
            "payload_type": SESSION_PAYLOAD_TYPE,
        }, 201


@blp.route("")
class Sessions(MethodView):
    @blp.doc(requestBody=SIGNED_CHALLENGE_DOC)
    @blp.response(201, NewSessionSchema)
    @problems(blp, 400, 415, 422, 429)
    def post(self) -> Any:
        """Sign in: a signed challenge in, a bearer token scoped to the party out."""
        return sign_in(read_json()), 201

    @blp.response(200, SessionListSchema)
    @blp.doc(security=SESSION_SECURITY)
    @problems(blp, 401)
    def get(self) -> Any:
        """The signed-in party's live sessions."""
        who = require_party()
        now = utc_text(_now())
        with store().reading() as session:
            rows = session.scalars(
                select(SessionRow)
                .join(KeyRow, KeyRow.keyid == SessionRow.keyid)
                .where(
                    SessionRow.party == who.party,
                    SessionRow.ended_at.is_(None),
                    SessionRow.expires_at >= now,
                    KeyRow.revoked_time.is_(None),  # a revoked key's sessions are over
                )
                .order_by(SessionRow.created_at)
            )
            return {"sessions": [_session(r) for r in rows]}


@blp.route("/<session_id>")
class Session(MethodView):
    @blp.response(204)
    @blp.doc(security=SESSION_SECURITY)
    @problems(blp, 401, 404)
    def delete(self, session_id: str) -> Any:
        """End one of the signed-in party's sessions (its token stops working at once)."""
        who = require_party()
        with store().state() as session:
            ended = session.execute(
                update(SessionRow)
                .where(
                    SessionRow.id == session_id,
                    SessionRow.party == who.party,
                    SessionRow.ended_at.is_(None),
                )
                .values(ended_at=utc_text(_now()))
            )
        if ended.rowcount != 1:  # type: ignore[attr-defined]
            raise SessionNotFound(f"no live session {session_id!r} of {who.party!r}")
        return None
