"""Public product pages: content in four languages, privacy, strict HTML, no foreign hosts."""

from __future__ import annotations

import gettext
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from api import create_app
from api.cli.core import main
from api.pages import publish
from graph.verify import verify_bundle
from ledger.append import append_batch
from ledger.checkpoint import LogKey
from ledger.envelope import raw_public_key
from ledger.keys import write_keypair
from ledger.store import Store
from tests.graph import chains
from tests.support import World

PUBLIC = "https://cafe.example.org"
TRUSTED = LogKey(raw_public_key(chains.log_private().public_key()))
EXACT_P1 = ("-74.493612", "-11.429711")  # lon, lat: one family's farm
EXACT_P2 = [
    ["-87.702345", "14.081234"],
    ["-87.700745", "14.081234"],
    ["-87.700745", "14.082804"],
    ["-87.702345", "14.082804"],
    ["-87.702345", "14.081234"],
]  # about 3 ha, as enrolled
FORBIDDEN = (
    "74.49",
    "493612",
    "11.42",
    "11.43",
    "429711",
    "87.70",
    "702345",
    "700745",
    "14.08",
    "081234",
    "082804",
    "coordinates",
)
"""Digits of the exact plot positions beyond the 0.1° rounding, and GeoJSON's key."""
PERSONAL = (chains.M1, chains.P1, chains.M2, chains.P2, chains.MBIG, chains.PBIG)
"""Member and plot ids: pseudonymous, but never needed on a consumer's page."""
URL = re.compile(r"https?://[^\s\"'<>)]+")


# --- chains with mapped plots ----------------------------------------------------------


def _map_plots(c: chains.Coffee) -> None:
    c.append(
        chains.COOP,
        {
            "type": "plot.map",
            "plot": chains.P1,
            "method": "gps-point",
            "geometry": {"type": "Point", "coordinates": list(EXACT_P1)},
        },
    )
    c.append(
        chains.COOP2,
        {
            "type": "plot.map",
            "plot": chains.P2,
            "method": "gps-walk",
            "geometry": {"type": "Polygon", "coordinates": [EXACT_P2]},
        },
    )


def mapped_single_origin(world: World) -> str:
    c = chains.base(world)
    _map_plots(c)
    h = c.harvest(chains.COOP, f"{chains.COOP}:h-1", "100", chains.M1, chains.P1)
    rec = chains.to_roaster(c, chains.COOP, f"{chains.COOP}:h-1", h, "100")
    return chains.roast_and_pack(c, [(f"{chains.COOP}:h-1", rec, "100")], "100")


def mapped_blend(world: World, spo_kg: str = "60", estate_kg: str = "40") -> str:
    """Two SPOs (Peru, Honduras) and an estate: the estate's part is not certified."""
    c = chains.base(world)
    _map_plots(c)
    coop, coop2, estate = f"{chains.COOP}:h-1", f"{chains.COOP2}:h-1", f"{chains.ESTATE}:h-1"
    half = str(int(spo_kg) // 2)
    h1 = c.harvest(chains.COOP, coop, half, chains.M1, chains.P1)
    h2 = c.harvest(chains.COOP2, coop2, half, chains.M2, chains.P2)
    e = c.harvest(chains.ESTATE, estate, estate_kg)
    r1 = chains.to_roaster(c, chains.COOP, coop, h1, half)
    r2 = chains.to_roaster(c, chains.COOP2, coop2, h2, half)
    r3 = c.move(chains.ESTATE, chains.ROASTER, estate, e, estate_kg)
    total = str(int(spo_kg) + int(estate_kg))
    return chains.roast_and_pack(
        c, [(coop, r1, half), (coop2, r2, half), (estate, r3, estate_kg)], total
    )


# --- the app ---------------------------------------------------------------------------


def make_app(store: Store, keys: Path) -> Flask:
    """The app as the factory builds it, with the pages blueprint registered once."""
    from api import pages

    app = create_app(
        {
            "TESTING": True,
            "TRAZO_DATABASE_URL": store.url,
            "TRAZO_KEYS": str(keys),
            "TRAZO_PUBLIC_URL": PUBLIC,
            "TRAZO_LOG_ORIGIN": chains.LOG_ORIGIN,
        }
    )
    if pages.bp.name not in app.blueprints:
        app.register_blueprint(pages.bp)
    return app


@pytest.fixture
def log_keys(tmp_path: Path) -> Path:
    """TRAZO_KEYS holding the key that signed the test chains' checkpoints."""
    folder = tmp_path / "keys"
    write_keypair(folder, "log", chains.log_private())
    return folder


@pytest.fixture
def pages_app(sqlite_world: World, log_keys: Path) -> Iterator[Flask]:
    app = make_app(sqlite_world.store, log_keys)
    yield app
    app.extensions["trazo.store"].dispose()


@pytest.fixture
def client(pages_app: Flask) -> FlaskClient:
    return pages_app.test_client()


def page(
    client: FlaskClient, lot: str, lang: str | None = None, status: int = 200, **headers: str
) -> str:
    url = f"/p/{lot}" + (f"?lang={lang}" if lang else "")
    response = client.get(url, headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def text_of(html: str) -> str:
    """The visible text, one space between words (non-breaking spaces kept)."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"[ \t\r\n]+", " ", re.sub(r"<[^>]+>", " ", body))


def every_output(client: FlaskClient, lot: str) -> dict[str, str]:
    out = {f"page.{lang}": page(client, lot, lang) for lang in publish.LANGUAGES}
    out["jsonld"] = client.get(f"/p/{lot}.jsonld").get_data(as_text=True)
    out["qr.svg"] = client.get(f"/p/{lot}/qr.svg").get_data(as_text=True)
    out["bundle"] = client.get(f"/p/{lot}/bundle.json").get_data(as_text=True)
    return out


# --- content -----------------------------------------------------------------------------


def test_single_origin_page_in_english_and_spanish(
    sqlite_world: World, client: FlaskClient
) -> None:
    bag = mapped_single_origin(sqlite_world)
    en = text_of(page(client, bag, "en"))
    assert "100% from organized small producers" in en
    assert "Only" not in en and "Why the other" not in en
    assert "Buen Cafe" in en and bag in en and "80 kg" in en
    assert "1 member family on 1 plot" in en
    assert "Coop Pangoa (Peru)" in en
    for step in (
        "Harvest by member families of Coop Pangoa",
        "Export from Peru",
        "Import into Sweden",
        "Roasting",
        "Packing",
    ):
        assert step in en
    assert en.index("Harvest by member families") < en.index("Roasting") < en.index("Packing")
    assert "SPP-PE-1" in en and "valid when this lot was made" in en
    assert "11.4° S, 74.5° W" in page(client, bag, "en")  # the map's cell, in its title
    es = page(client, bag, "es")
    assert '<html lang="es">' in es
    es_text = text_of(es)
    assert "100% de pequeños productores organizados" in es_text  # a bare es: es_419
    assert "Cosecha de familias socias de Coop Pangoa" in es_text
    assert "Exportación desde Perú" in es_text and "Tostado" in es_text
    assert "1 familia socia" in es_text
    assert "Verifíquelo usted mismo" in es_text


def test_check_it_yourself_names_bundle_key_checkpoint_and_command(
    sqlite_world: World, client: FlaskClient
) -> None:
    bag = mapped_single_origin(sqlite_world)
    html = page(client, bag, "en")
    vkey = chains.log_signer().verifier_key()
    assert f'href="/p/{bag}/bundle.json"' in html
    assert f'<pre id="log-key">{vkey}</pre>' in html
    size = sqlite_world.store.size()
    assert f"Latest signed checkpoint of the ledger ({size} events)" in html
    assert f"{chains.LOG_ORIGIN}\n{size}\n" in html
    assert f"trazo verify {publish.bundle_filename(bag)} --log-key '{vkey}'" in html


def test_blended_page_shows_its_true_share_and_why(
    sqlite_world: World, client: FlaskClient
) -> None:
    bag = mapped_blend(sqlite_world)
    en = text_of(page(client, bag, "en"))
    assert "Only 60% from organized small producers" in en
    assert "100%" not in en.split("How the coffee got here")[0]  # the verdict
    assert "Why the other 40% does not count:" in en
    assert (
        "40%: not grown by members of a small producers' organization (for example a"
        " plantation or estate)"
    ) in en
    assert "Harvest by Finca Grande, which is not a small producers' organization" in en
    assert "2 member families on 2 plots" in en
    assert "Coop Marcala (Honduras)" in en and "Coop Pangoa (Peru)" in en
    fr = text_of(page(client, bag, "fr"))
    assert "Seulement 60\xa0% de petits producteurs organisés" in fr
    assert "Pourquoi les 40\xa0% restants ne comptent pas" in fr
    assert "Ne provient pas" not in fr
    pt = text_of(page(client, bag, "pt"))
    assert "Apenas 60% de pequenos produtores organizados" in pt


def test_a_share_is_rounded_down_never_up(sqlite_world: World, client: FlaskClient) -> None:
    bag = mapped_blend(sqlite_world, spo_kg="200", estate_kg="100")  # 2/3 certified
    en = text_of(page(client, bag, "en"))
    assert "Only 66.66% from organized small producers" in en
    assert "66.67" not in en and "67%" not in en
    ld = json.loads(client.get(f"/p/{bag}.jsonld").get_data(as_text=True))
    share = next(
        p for p in ld["additionalProperty"] if p["propertyID"] == "certifiedSmallProducerShare"
    )
    assert share["value"] == "66.66"


def test_flow_picture_is_inline_svg_with_title_and_every_source(
    sqlite_world: World, client: FlaskClient
) -> None:
    bag = mapped_blend(sqlite_world)
    html = page(client, bag, "en")
    flow = html[html.index('<section aria-labelledby="flow">') :]
    flow = flow[: flow.index("</section>")]
    assert '<svg viewBox="0 0 360' in flow and 'role="img"' in flow
    assert '<title id="flow-title">Mass flow from the producers to this lot</title>' in flow
    assert "Coop Pangoa: 30%" in flow and "Coop Marcala: 30%" in flow
    assert "Finca Grande: 40% (not certified: 40%)" in flow
    assert flow.count("<path d=") == 6  # 2 SPOs → exporter, it and the estate → roaster,
    #                                     roaster → brand → lot
    assert "This lot: 60% certified" in flow
    assert "<img" not in html and "<script src" not in html


def test_unknown_lot_gets_a_friendly_404_in_the_visitors_language(client: FlaskClient) -> None:
    es = page(client, "buen-cafe:nope", status=404, **{"Accept-Language": "es-PE,es;q=0.9"})
    assert '<html lang="es">' in es and "No encontramos este producto" in es
    assert "buen-cafe:nope" in es
    fr = page(client, "buen-cafe:nope", "fr", status=404)
    assert "Nous n’avons pas trouvé ce produit" in fr
    en = page(client, "buen-cafe:nope", status=404)
    assert "We could not find this product" in en
    hostile = page(client, "x<b>y", status=404)
    assert "x<b>y" not in hostile and "x&lt;b&gt;y" in hostile
    for suffix in (".jsonld", "/qr.svg", "/qr.png", "/bundle.json"):
        response = client.get(f"/p/buen-cafe:nope{suffix}?lang=pt")
        assert response.status_code == 404 and response.mimetype == "text/html"
        assert "Não encontramos este produto" in response.get_data(as_text=True)


def test_a_lot_not_sold_to_consumers_has_no_page(sqlite_world: World, client: FlaskClient) -> None:
    mapped_single_origin(sqlite_world)
    html = page(client, f"{chains.COOP}:h-1", "en", status=404)  # green coffee, a harvest
    assert "not a product sold to consumers" in html


def test_language_from_query_then_accept_language_then_english(
    sqlite_world: World, client: FlaskClient
) -> None:
    bag = mapped_single_origin(sqlite_world)
    cases = [
        ({"Accept-Language": "pt-BR,pt;q=0.9,en;q=0.5"}, None, "pt"),
        ({"Accept-Language": "fr-CH, de;q=0.8"}, None, "fr"),
        ({"Accept-Language": "de-DE"}, None, "en"),
        ({}, None, "en"),
        ({"Accept-Language": "fr"}, "es", "es"),
        ({}, "xx", "en"),
    ]
    for headers, lang, expected in cases:
        url = f"/p/{bag}" + (f"?lang={lang}" if lang else "")
        response = client.get(url, headers=headers)
        assert response.headers["Content-Language"] == expected, (headers, lang)
        assert f'<html lang="{expected}">' in response.get_data(as_text=True)
        assert "Accept-Language" in response.headers["Vary"]


# --- privacy -----------------------------------------------------------------------------


def test_no_exact_plot_position_or_member_id_in_any_output(
    sqlite_world: World, client: FlaskClient, log_keys: Path, tmp_path: Path
) -> None:
    bag = mapped_blend(sqlite_world)
    outputs = every_output(client, bag)
    published = _publish(sqlite_world.store, log_keys, bag, tmp_path / "site")
    outputs.update({f"file:{p.name}": p.read_bytes().decode("utf-8", "replace") for p in published})
    for name, text in outputs.items():
        for digits in FORBIDDEN:
            assert digits not in text, f"{digits!r} appears in {name}"
        if name != "bundle" and name != "file:bundle.json":
            for ident in PERSONAL:
                assert ident not in text, f"{ident!r} appears in {name}"
    en = outputs["page.en"]
    assert "11.4° S, 74.5° W" in en  # the coarse cells are there instead
    assert "14.1° N, 87.7° W" in en


# --- well-formed and self-contained ----------------------------------------------------------


def test_html_parses_strictly(sqlite_world: World, client: FlaskClient) -> None:
    html5lib = pytest.importorskip("html5lib")
    bag = mapped_blend(sqlite_world)
    documents = [page(client, bag, lang) for lang in publish.LANGUAGES]
    documents.append(page(client, "nope:x", "es", status=404))
    for html in documents:
        parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
        tree = parser.parse(html)
        assert tree.find(".//main") is not None
        assert tree.get("lang") in publish.LANGUAGES


def _foreign_urls(name: str, text: str) -> list[str]:
    allowed = {PUBLIC}
    found = []
    for url in URL.findall(text):
        if any(url == a or url.startswith(a + "/") for a in allowed):
            continue
        if url == "https://schema.org" and (
            name.endswith(("jsonld", "html")) or name.startswith("page")
        ):
            continue  # JSON-LD's vocabulary identifier, in the JSON-LD only (checked below)
        if url == "http://www.w3.org/2000/svg" and name.endswith("svg"):
            continue  # the SVG namespace name of a standalone SVG file: not fetched
        found.append(url)
    return found


def test_no_reference_to_another_host(
    sqlite_world: World, client: FlaskClient, log_keys: Path, tmp_path: Path
) -> None:
    bag = mapped_blend(sqlite_world)
    outputs = every_output(client, bag)
    outputs.pop("bundle")
    for p in _publish(sqlite_world.store, log_keys, bag, tmp_path / "site"):
        # The bundle is the proof as graph.bundle builds it: its rule tables cite their
        # sources (ICO, SPP) by URL; it is data for `trazo verify`, never loaded by a page.
        if p.suffix != ".png" and p.name != "bundle.json":
            outputs[f"file.{p.name}"] = p.read_text("utf-8")
    for name, text in outputs.items():
        assert _foreign_urls(name, text) == [], name
    pages = [
        text for name, text in outputs.items() if name.startswith("page") or name.endswith(".html")
    ]
    assert len(pages) == 9
    for html in pages:
        outside = re.sub(r'<script type="application/ld\+json">.*?</script>', "", html, flags=re.S)
        assert "schema.org" not in outside
        # the one script is the in-browser verifier, from the page's own server or folder
        assert re.findall(r"\b(?:src|srcset)=\"([^\"]*)\"", html) in (
            ["/static/js/page-verify.js"],
            ["js/page-verify.js"],
        )
        assert "@import" not in html and "url(http" not in html and '<link rel="style' not in html


def test_jsonld_is_a_schema_org_product_with_origin_facts(
    sqlite_world: World, client: FlaskClient
) -> None:
    bag = mapped_blend(sqlite_world)
    response = client.get(f"/p/{bag}.jsonld")
    assert response.status_code == 200 and response.mimetype == "application/ld+json"
    ld = response.get_json(force=True)
    assert ld["@context"] == "https://schema.org" and ld["@type"] == "Product"
    assert ld["@id"] == ld["url"] == f"{PUBLIC}/p/{bag}"
    assert ld["sku"] == bag and ld["brand"]["name"] == "Buen Cafe"
    assert {c["identifier"] for c in ld["countryOfOrigin"]} == {"BR", "HN", "PE"}
    props = {p["propertyID"]: p["value"] for p in ld["additionalProperty"]}
    assert props["certifiedSmallProducerShare"] == "60.00"
    assert props["memberFamilies"] == 2 and props["plots"] == 2
    assert props["notCertified:non-member-source"] == "40.00"
    assert ld["subjectOf"]["url"] == f"{PUBLIC}/p/{bag}/bundle.json"
    assert {c["identifier"] for c in ld["hasCertification"]} >= {"SPP-PE-1", "SPP-HN-2"}
    embedded = page(client, bag, "en")
    match = re.search(r'<script type="application/ld\+json">(.*?)</script>', embedded, re.S)
    assert match and json.loads(match.group(1)) == ld


def test_qr_codes_point_at_the_page(sqlite_world: World, client: FlaskClient) -> None:
    zxingcpp = pytest.importorskip("zxingcpp")
    image = pytest.importorskip("PIL.Image")
    bag = mapped_single_origin(sqlite_world)
    png = client.get(f"/p/{bag}/qr.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    decoded = zxingcpp.read_barcodes(image.open(io.BytesIO(png.data)))
    assert [d.text for d in decoded] == [f"{PUBLIC}/p/{bag}"]
    svg = client.get(f"/p/{bag}/qr.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert svg.data.startswith(b"<?xml") and b"<svg" in svg.data


def test_bundle_download_verifies_offline(sqlite_world: World, client: FlaskClient) -> None:
    bag = mapped_blend(sqlite_world)
    response = client.get(f"/p/{bag}/bundle.json")
    assert response.status_code == 200
    assert publish.bundle_filename(bag) in response.headers["Content-Disposition"]
    report = verify_bundle(json.loads(response.data), TRUSTED)
    assert report.ok, [str(f) for f in report.findings]
    assert report.verdict is not None and str(report.verdict.certified_percent) == "60.00"


# --- trazo publish ---------------------------------------------------------------------------


def _publish(store: Store, keys: Path, lot: str, out: Path, *extra: str) -> list[Path]:
    result = CliRunner().invoke(
        main,
        [
            "publish",
            lot,
            "-o",
            str(out),
            "--db",
            store.url,
            "--keys",
            str(keys),
            "--origin",
            chains.LOG_ORIGIN,
            "--public-url",
            PUBLIC,
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    return [Path(line) for line in result.stdout.splitlines() if line.strip()]


def test_publish_writes_a_static_site(sqlite_world: World, log_keys: Path, tmp_path: Path) -> None:
    zxingcpp = pytest.importorskip("zxingcpp")
    image = pytest.importorskip("PIL.Image")
    bag = mapped_blend(sqlite_world)
    out = tmp_path / "site"
    files = _publish(sqlite_world.store, log_keys, bag, out, "--lang", "es")
    names = {p.name for p in files}
    assert names == {
        "index.html",
        "es.html",
        "en.html",
        "pt.html",
        "fr.html",
        "product.jsonld",
        "qr.svg",
        "qr.png",
        "bundle.json",
        *publish.SCRIPTS,
    }
    index = (out / "index.html").read_text("utf-8")
    assert index == (out / "es.html").read_text("utf-8")
    assert "Solo 60% de pequeños productores organizados" in text_of(index)
    assert 'href="bundle.json"' in index and 'href="fr.html"' in index
    assert chains.log_signer().verifier_key() in index
    decoded = zxingcpp.read_barcodes(image.open(out / "qr.png"))
    assert [d.text for d in decoded] == [f"{PUBLIC}/p/{bag}/"]
    ld = json.loads((out / "product.jsonld").read_text("utf-8"))
    assert ld["subjectOf"]["url"] == f"{PUBLIC}/p/{bag}/bundle.json"
    report = verify_bundle(json.loads((out / "bundle.json").read_text("utf-8")), TRUSTED)
    assert report.ok


def test_publish_refuses_a_lot_without_a_page(
    sqlite_world: World, log_keys: Path, tmp_path: Path
) -> None:
    mapped_single_origin(sqlite_world)
    result = CliRunner().invoke(
        main,
        [
            "publish",
            "buen-cafe:nope",
            "-o",
            str(tmp_path / "x"),
            "--db",
            sqlite_world.store.url,
            "--public-url",
            PUBLIC,
        ],
    )
    assert result.exit_code == 1 and "no public page" in result.output
    result = CliRunner(env={"TRAZO_PUBLIC_URL": None}).invoke(
        main,
        ["publish", "buen-cafe:bag", "-o", str(tmp_path / "y"), "--db", sqlite_world.store.url],
    )
    assert result.exit_code == 1 and "--public-url" in result.output


# --- weight ------------------------------------------------------------------------------------


def three_hundred_members(world: World) -> str:
    """One SPO, 300 enrolled members with mapped plots, 300 small harvests, one retail lot."""
    c = chains.Coffee(world)
    for pid, roles, country in (
        (chains.COOP, ["spo"], "PE"),
        ("certi-sur", ["certifier"], "DE"),
        (chains.ROASTER, ["roaster"], "SE"),
        (chains.BRAND, ["brand"], "SE"),
    ):
        c.party(pid, roles, country)
    for subject in (chains.COOP, chains.ROASTER, chains.BRAND):
        c.certify(subject, f"SPP-{subject}")

    def batch(party: str, bodies: list[dict[str, Any]]) -> list[str]:
        envelopes = [world.sign(party, b) for b in bodies]
        result = append_batch(world.store, envelopes, log_signer=chains.log_signer())
        return [e.id for e in result.events]

    n = 300
    members = [(f"{chains.COOP}:m-{i:03d}", f"{chains.COOP}:p-{i:03d}") for i in range(n)]
    batch(
        chains.COOP,
        [
            {
                "type": "member.enroll",
                "member": m,
                "products": ["coffee"],
                "plots": [{"plot": p, "area_ha": "1.5"}],
                "since": "2019-01-01",
            }
            for m, p in members
        ],
    )
    batch(
        chains.COOP,
        [
            {
                "type": "plot.map",
                "plot": p,
                "method": "gps-point",
                "geometry": {
                    "type": "Point",
                    "coordinates": [
                        f"{-74.9 + (i % 20) * 0.0437:.6f}",
                        f"{-11.6 + (i // 20) * 0.0311:.6f}",
                    ],
                },
            }
            for i, (_m, p) in enumerate(members)
        ],
    )
    lots = [f"{chains.COOP}:h-{i:03d}" for i in range(n)]
    harvests = batch(
        chains.COOP,
        [
            {
                "type": "harvest",
                "lot": lot,
                "product": "coffee",
                "form": "green",
                "quantity": "46",
                "unit": "kg",
                "member": m,
                "plot": p,
            }
            for lot, (m, p) in zip(lots, members, strict=True)
        ],
    )
    blends = []
    for part in range(2):
        chunk = range(part * 150, (part + 1) * 150)
        blend = f"{chains.COOP}:g-{part}"
        blends.append(
            (
                blend,
                c.transform(
                    chains.COOP,
                    "blend",
                    [(lots[i], harvests[i], "46") for i in chunk],
                    [(blend, "green", "6900")],
                ),
            )
        )
    shipment = c.ship(chains.COOP, chains.ROASTER, [(b, ev, "6900") for b, ev in blends])
    receipt = c.receive(chains.ROASTER, shipment, [(b, "6900") for b, _ in blends])
    return chains.roast_and_pack(c, [(b, receipt, "6900") for b, _ in blends], "13800")


@pytest.mark.slow
def test_page_of_a_lot_from_300_members_weighs_under_150_kb(
    sqlite_world: World, client: FlaskClient
) -> None:
    bag = three_hundred_members(sqlite_world)
    for lang in publish.LANGUAGES:
        html = page(client, bag, lang)
        assert len(html.encode("utf-8")) < 150 * 1024, (lang, len(html))
    en = text_of(page(client, bag, "en"))
    assert "100% from organized small producers" in en
    assert "300 member families on 300 plots" in en
    assert "300 deliveries" in en
    for digits in ("0437", "0311"):  # the grid steps of the exact positions
        assert digits not in page(client, bag, "en")


# --- catalogs ----------------------------------------------------------------------------------


def _extracted() -> set[str | tuple[str, str]]:
    from babel.messages.extract import extract_from_dir

    api = Path(publish.__file__).parent
    method_map = [("templates/page/**.html", "jinja2.ext:babel_extract"), ("publish.py", "python")]
    options = {
        "templates/page/**.html": {
            "extensions": "jinja2.ext.i18n",
            "trim_blocks": "True",
            "lstrip_blocks": "True",
        }
    }
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    return {
        m if isinstance(m, str) else tuple(m)
        for _f, _l, m, _c, _x in extract_from_dir(str(api), method_map, options, keywords=keywords)
    }


@pytest.mark.parametrize("lang", [lang for lang in publish.LANGUAGES if lang != "en"])
def test_catalog_translates_every_message_and_is_compiled(lang: str) -> None:
    from babel.messages.pofile import read_po

    folder = publish.TRANSLATIONS / lang / "LC_MESSAGES"
    with (folder / "messages.po").open("rb") as f:
        catalog = read_po(f)
    messages = {m.id if isinstance(m.id, str) else tuple(m.id): m for m in catalog if m.id}
    wanted = _extracted()
    assert wanted - set(messages) == set(), "untranslated: run the extraction"
    compiled = gettext.GNUTranslations((folder / "messages.mo").open("rb"))
    for msgid, message in messages.items():
        assert message.string and all(message.string), msgid
        assert not message.fuzzy, msgid
        if isinstance(msgid, tuple):
            assert compiled.ngettext(*msgid, 1) == message.string[0]
            assert compiled.ngettext(*msgid, 5) == message.string[1]
        else:
            assert compiled.gettext(msgid) == message.string, f".mo is stale: {msgid}"
