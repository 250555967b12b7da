"""The log as C2SP ``tlog-tiles`` under ``/log/``: what any transparency-log client reads.

``GET /log/checkpoint``               the latest signed checkpoint (``text/plain``), with
                                      the witnesses' cosignatures it has collected
``GET /log/tile/<L>/<N>[.p/<W>]``     Merkle tiles (``application/octet-stream``, immutable)
``GET /log/tile/entries/<N>[.p/<W>]`` entry bundles: each leaf input (the payload's
                                      SHA-256), never the payload

Public like the rest of the log (``api.http.access``): a leaf is a digest. The checkpoint
origin is ``TRAZO_LOG_ORIGIN``; the README says how to choose it (this prefix's URL
without the scheme, e.g. ``ledger.example.org/log``). ``trazo log tiles DIR`` writes the
same files for a static mirror.
"""

from __future__ import annotations

import gzip

from flask import Blueprint, Response, request

from api.http.context import store
from ledger import log
from ledger.errors import CheckpointNotFound

bp = Blueprint("tiles", __name__, url_prefix="/log")

IMMUTABLE = "public, max-age=31536000, immutable"
CHECKPOINT_CACHE = "public, max-age=5"


@bp.get("/checkpoint")
def checkpoint() -> Response:
    found = log.cosigned(store())
    if found is None:
        raise CheckpointNotFound("the log has no checkpoint yet")
    response = Response(found[1], mimetype="text/plain")
    response.headers["Content-Type"] = "text/plain; charset=utf-8"
    response.headers["Cache-Control"] = CHECKPOINT_CACHE
    return response


@bp.get("/tile/<path:path>")
def tile(path: str) -> Response:
    _tile, data = log.read_tile(store(), path)
    response = Response(data, mimetype="application/octet-stream")
    response.headers["Cache-Control"] = IMMUTABLE
    response.vary.add("Accept-Encoding")
    if request.accept_encodings.quality("gzip") > 0:
        response.set_data(gzip.compress(data, mtime=0))
        response.headers["Content-Encoding"] = "gzip"
    return response
