"""``/console/``: the capture console, a browser app that signs events on the user's device.

Plain files from this package (``api/console/static/``: HTML, CSS, JavaScript modules, a
service worker, a web manifest, one message catalogue per language) and the shared DSSE
module ``/static/js/dsse.js``. No build step, nothing from another host: the
Content-Security-Policy allows this origin only and no inline script or style.

The console holds its Ed25519 key in the browser (WebCrypto, non-extractable, kept in
IndexedDB), signs with it, and talks to the JSON API like any other client: the session
(``api.http.sessions``), the dry run (``POST /api/v1/events/check``), appends, and the
reads ``api.http.access`` allows the party. The server sees envelopes, never a key.

Besides the files, one document: ``/console/tables.json``, the rule tables
(``ledger.tables.tables_document``: units, products, forms, yields), so the forms offer
the same vocabulary and show the yield limit as quantities are typed. They are public:
every proof bundle carries them.
"""

from __future__ import annotations

import json
import mimetypes
from importlib.resources import files
from typing import Any

from flask import Blueprint, Response, abort

from ledger.tables import tables_document

bp = Blueprint("console", __name__, url_prefix="/console")

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; worker-src 'self'; manifest-src 'self'; base-uri 'none';"
    " form-action 'none'; frame-ancestors 'none'"
)
"""This origin only; no inline script or style, no frames, no form posts."""

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
}


def _static() -> Any:
    return files("api.console") / "static"


def _file(name: str) -> Response:
    """A file of the console's folder, by name (no path outside it)."""
    parts = name.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        abort(404)
    node = _static()
    for part in parts:
        node = node / part
    if not node.is_file():
        abort(404)
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    mimetype = _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    return Response(node.read_bytes(), content_type=mimetype)


@bp.get("/")
def index() -> Response:
    return _file("index.html")


@bp.get("/tables.json")
def tables() -> Response:
    return Response(
        json.dumps(tables_document(), ensure_ascii=False, sort_keys=True),
        content_type="application/json",
    )


@bp.get("/<path:name>")
def asset(name: str) -> Response:
    return _file(name)


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    # always asked again when online: the service worker keeps the copy for offline
    response.headers["Cache-Control"] = "no-cache"
    return response
