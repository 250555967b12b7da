"""``/api/v1/keys``: the head of a signing key's hash chain, for offline signers."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api.http import schemas
from api.http.access import readable_key
from api.http.base import Blueprint, problems
from api.http.context import store
from ledger import query
from ledger.errors import KeyNotFound

blp = Blueprint(
    "keys",
    __name__,
    url_prefix="/api/v1/keys",
    description="Signing keys and the heads of their hash chains",
)


@blp.route("/<keyid>/head")
class KeyHead(MethodView):
    @blp.response(200, schemas.KeyHeadSchema)
    @problems(blp, 404)
    def get(self, keyid: str) -> Any:
        """What a signer needs to continue the key's chain: the next event has `seq` + 1."""
        readable_key(keyid)
        head = query.key_head(store(), keyid)
        if head is None:
            raise KeyNotFound(f"no key {keyid} is registered")
        return head
