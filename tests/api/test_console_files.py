"""The console's files as the server serves them (no browser): headers, the offline shell,
nothing from another host, nothing outside the console's folder."""

from __future__ import annotations

import json
import re
from importlib.resources import files
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from api import create_app
from ledger.tables import tables_document
from tests.support import World

STATIC = Path(str(files("api.console") / "static"))
DSSE = Path(str(files("api") / "static" / "js" / "dsse.js"))


@pytest.fixture
def anonymous(sqlite_world: World, keys_dir: Path) -> FlaskClient:
    """The files do not depend on the database: SQLite alone."""
    app = create_app(
        {
            "TESTING": True,
            "TRAZO_DATABASE_URL": sqlite_world.store.url,
            "TRAZO_KEYS": str(keys_dir),
        }
    )
    return app.test_client()


def _shell() -> list[str]:
    text = (STATIC / "sw.js").read_text("utf-8")
    block = text.split("const SHELL = [", 1)[1].split("];", 1)[0]
    return re.findall(r'"([^"]+)"', block)


def test_the_console_is_served_with_a_strict_policy(anonymous: FlaskClient) -> None:
    page = anonymous.get("/console/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert b'<script type="module" src="/console/app.js">' in page.data
    assert anonymous.get("/console/app.js").mimetype == "text/javascript"
    assert anonymous.get("/console/sw.js").mimetype == "text/javascript"
    assert anonymous.get("/static/js/dsse.js").status_code == 200


def test_the_tables_are_the_ledgers_own(anonymous: FlaskClient) -> None:
    assert anonymous.get("/console/tables.json").get_json() == json.loads(
        json.dumps(tables_document())
    )


@pytest.mark.parametrize(
    "path",
    [
        "/console/../__init__.py",
        "/console/..%2f__init__.py",
        "/console/.hidden",
        "/console/nope.js",
    ],
)
def test_nothing_outside_the_console_folder(anonymous: FlaskClient, path: str) -> None:
    assert anonymous.get(path).status_code == 404


def test_the_offline_shell_holds_every_file_the_console_loads(anonymous: FlaskClient) -> None:
    """A module the service worker does not keep would break the console offline."""
    shell = set(_shell())
    # the API's answers (a party's private reads, signed events) are never kept by the
    # service worker: only what is public and unsigned is
    assert not [p for p in shell if p.startswith("/api/")], shell
    for path in shell:
        assert anonymous.get(path).status_code == 200, path
    needed = {"/console/", "/console/tables.json", "/static/js/dsse.js"}
    for source in STATIC.glob("*.js"):
        if source.name == "sw.js":
            continue
        for target in re.findall(r'from "([^"]+)"', source.read_text("utf-8")):
            needed.add(target if target.startswith("/") else f"/console/{target[2:]}")
    for html in re.findall(r'(?:src|href)="(/[^"]+)"', (STATIC / "index.html").read_text()):
        needed.add(html)
    needed |= {f"/console/messages/{p.name}" for p in (STATIC / "messages").glob("*.json")}
    assert needed <= shell, sorted(needed - shell)


def test_nothing_is_loaded_from_another_host() -> None:
    for path in [*STATIC.rglob("*.*"), DSSE]:
        text = path.read_text("utf-8")
        hosts = set(re.findall(r"https?://[^\s\"')]+", text)) - {"http://www.w3.org/2000/svg"}
        assert not hosts, (path.name, hosts)


def test_every_catalogue_has_every_message() -> None:
    catalogues = {
        p.stem: json.loads(p.read_text("utf-8")) for p in (STATIC / "messages").glob("*.json")
    }
    assert set(catalogues) == {"en", "es", "pt", "fr"}
    used = set()
    for source in STATIC.glob("*.js"):
        used |= set(re.findall(r'\bt\("([^"]+)"', source.read_text("utf-8")))
    for lang in ("es", "pt", "fr"):
        missing = sorted(used - set(catalogues[lang]))
        assert not missing, (lang, missing)
        for english, text in catalogues[lang].items():
            assert set(re.findall(r"\{\w+\}", english)) == set(re.findall(r"\{\w+\}", text))
