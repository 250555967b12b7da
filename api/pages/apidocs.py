"""``/api/v1/docs``: the API reference as one HTML page, made from the OpenAPI document.

Rendered on the server from the app's own OpenAPI document with the package's own
template: no scripts, no fonts, no other host (its Content-Security-Policy says so).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, render_template

bp = Blueprint("apidocs", __name__, template_folder="templates")

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none';"
    " form-action 'none'; frame-ancestors 'none'"
)
METHODS = ("get", "post", "put", "patch", "delete")


@bp.get("/api/v1/docs")
def api_docs() -> Response:
    spec = current_app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict()
    html = render_template("apidocs.html", info=spec.get("info", {}), operations=operations(spec))
    return Response(html, mimetype="text/html", headers={"Content-Security-Policy": CSP})


def operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every operation of the document: method, path, summary, parameters, responses."""
    out = []
    for path, item in sorted(spec.get("paths", {}).items()):
        shared = item.get("parameters", [])
        for method in METHODS:
            if method not in item:
                continue
            op = item[method]
            out.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "tag": (op.get("tags") or [""])[0],
                    "parameters": [
                        {
                            "name": p.get("name"),
                            "in": p.get("in"),
                            "required": p.get("required", False),
                            "description": p.get("description", ""),
                        }
                        for p in [*shared, *op.get("parameters", [])]
                    ],
                    "responses": [
                        {"status": status, "description": response.get("description", "")}
                        for status, response in sorted(op.get("responses", {}).items())
                    ],
                }
            )
    return out
