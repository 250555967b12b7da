"""``/`` and ``/api/v1/`` answer with an index of links (the demo prints ``/api/v1/``),
and every link the index gives is a route this server has."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.exceptions import MethodNotAllowed, NotFound

from api.http.index import LINKS


def test_root_and_api_index_list_the_entry_points(client: FlaskClient) -> None:
    for path in ("/", "/api/v1/"):
        response = client.get(path)
        assert response.status_code == 200, path
        body = response.get_json()
        assert body["links"]["openapi"] == "/api/v1/openapi.json"
        assert body["links"] == LINKS
    assert client.get("/api/v1").status_code in (301, 308)


def test_every_link_of_the_index_is_a_route(app: Flask) -> None:
    adapter = app.url_map.bind("localhost")
    for name, template in LINKS.items():
        path = re.sub(r"\{[^}]+\}", "x", template)
        try:
            adapter.match(path, method="GET")
        except (NotFound, MethodNotAllowed) as e:
            raise AssertionError(f"index link {name} ({template}) is no route: {e}") from e


def test_the_api_docs_are_a_page_of_this_server_only(client: FlaskClient) -> None:
    """``/api/v1/docs``: every operation of the OpenAPI document, from the package's own
    files; nothing is loaded from another host."""
    import re

    response = client.get("/api/v1/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    spec = client.get("/api/v1/openapi.json").get_json()
    for path, item in spec["paths"].items():
        for method in item:
            if method in ("get", "post"):
                assert f'id="{method.upper()}-{path}"' in page, (method, path)
    assert "<script" not in page
    assert not re.findall(r'(?:src|href)="(?:https?:)?//', page), "an external resource"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
