"""``/api/v1/log``: the transparency log — checkpoints, inclusion and consistency proofs."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from marshmallow import fields, validate

from api.http import schemas
from api.http.access import readable_event
from api.http.base import Blueprint, problems
from api.http.context import log_signer, store
from ledger import log
from ledger.errors import CheckpointNotFound, LogKeyNotFound

blp = Blueprint(
    "log",
    __name__,
    url_prefix="/api/v1/log",
    description="The Merkle log (RFC 6962) and its signed checkpoints",
)

TEXT = {"content": {"text/plain": {"schema": {"type": "string"}}}}


class InclusionQuerySchema(schemas.StrictSchema):
    id = fields.String(
        required=True, metadata={**schemas.EVENT_ID, "description": "The event's id"}
    )
    size = fields.Integer(
        validate=validate.Range(min=1, max=schemas.MAX_INDEX),
        metadata={
            "description": "Tree size of the checkpoint to prove against (default: the latest)"
        },
    )


class InclusionProofSchema(schemas.StrictSchema):
    index = fields.Integer(required=True, metadata={"description": "Leaf index = event index"})
    size = fields.Integer(required=True)
    hashes = fields.List(
        fields.String(metadata={"pattern": "^[0-9a-f]{64}$"}),
        required=True,
        metadata={"description": "RFC 9162 inclusion proof, hex"},
    )


class ConsistencyQuerySchema(schemas.StrictSchema):
    from_ = fields.Integer(
        required=True,
        data_key="from",
        validate=validate.Range(min=1, max=schemas.MAX_INDEX),
        metadata={"description": "The older tree size"},
    )
    to = fields.Integer(
        validate=validate.Range(min=1, max=schemas.MAX_INDEX),
        metadata={"description": "The newer tree size (default: the latest)"},
    )


class ConsistencyProofSchema(schemas.StrictSchema):
    from_ = fields.Integer(required=True, data_key="from")
    to = fields.Integer(required=True)
    hashes = fields.List(
        fields.String(metadata={"pattern": "^[0-9a-f]{64}$"}),
        required=True,
        metadata={"description": "RFC 9162 consistency proof, hex"},
    )


def _note(size: int | None, what: str) -> Response:
    """The checkpoint with the witnesses' cosignatures collected for it."""
    found = log.cosigned(store(), size)
    if found is None:
        raise CheckpointNotFound(f"no checkpoint {what}")
    return Response(found[1], mimetype="text/plain")


@blp.route("/checkpoint")
class LatestCheckpoint(MethodView):
    @blp.doc(responses={"200": {"description": "The latest checkpoint, a signed note", **TEXT}})
    @problems(blp, 404)
    def get(self) -> Any:
        """The latest signed checkpoint (C2SP signed note: origin, size, root, signatures)."""
        return _note(None, "has been signed yet")


@blp.route("/checkpoints/<int:size>")
class CheckpointAt(MethodView):
    @blp.doc(responses={"200": {"description": "The checkpoint at this tree size", **TEXT}})
    @problems(blp, 404)
    def get(self, size: int) -> Any:
        """The checkpoint signed when the log had exactly `size` leaves."""
        if size > schemas.MAX_INDEX:
            raise CheckpointNotFound(f"no checkpoint at size {size}")
        return _note(size, f"at size {size}")


@blp.route("/proof/inclusion")
class Inclusion(MethodView):
    @blp.arguments(InclusionQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, InclusionProofSchema)
    @problems(blp, 404, 422)
    def get(self, id: str, size: int | None = None) -> Any:
        """Prove an event the caller may read is in the log at the given size (RFC 9162
        §2.1.3); 404 for one it may not read, as for a missing one."""
        readable_event(id)
        proof = log.inclusion(store(), id, size)
        return {"index": proof.index, "size": proof.size, "hashes": [h.hex() for h in proof.hashes]}


@blp.route("/proof/consistency")
class Consistency(MethodView):
    @blp.arguments(ConsistencyQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, ConsistencyProofSchema)
    @problems(blp, 422)
    def get(self, from_: int, to: int | None = None) -> Any:
        """Prove the log at `to` only appended to the log at `from` (RFC 9162 §2.1.4)."""
        proof = log.consistency(store(), from_, to)
        return {"from_": proof.size1, "to": proof.size2, "hashes": [h.hex() for h in proof.hashes]}


@blp.route("/key")
class Key(MethodView):
    @blp.doc(responses={"200": {"description": "The log's verifier key string", **TEXT}})
    @problems(blp, 404)
    def get(self) -> Any:
        """The note verifier key of the log: `name+keyid+base64(0x01 ‖ public key)`."""
        signer = log_signer()
        if signer is None:
            raise LogKeyNotFound("this server has no log key")
        return Response(signer.verifier_key() + "\n", mimetype="text/plain")
