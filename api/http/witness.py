"""A witness's HTTP side (C2SP ``tlog-witness``): ``POST /add-checkpoint``, nothing else.

``trazo witness serve`` runs it; the protocol and its durable state are
``ledger.witness``'s. The submission prefix is the server's root.
"""

from __future__ import annotations

from flask import Flask, Response, request

from ledger.witness import Witness

MAX_REQUEST_BYTES = 64 * 1024


def create_witness_app(witness: Witness) -> Flask:
    app = Flask("witness")
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES

    @app.post("/add-checkpoint")
    def add_checkpoint() -> Response:
        answer = witness.add_checkpoint(request.get_data(cache=False))
        response = Response(answer.body, status=answer.status)
        response.headers["Content-Type"] = answer.content_type
        return response

    @app.get("/")
    def about() -> Response:
        key = witness.cosigner.key.verifier_key()
        logs = "".join(f"log {origin}\n" for origin in sorted(witness.logs))
        return Response(f"witness {key}\n{logs}", mimetype="text/plain")

    return app
