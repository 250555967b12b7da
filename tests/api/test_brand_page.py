"""The brand page for the person holding the bag: the unit in the hand, a real map with no
coordinate finer than the page's 0.1° cells, numbers in the reader's locale, the QR code
shown, each harvest season credited to its grower, and a transform's signed package size."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.datastructures import LanguageAccept

from api.pages import publish
from ledger.errors import InvalidEvent
from tests.api.test_pages import (  # noqa: F401  (fixtures)
    EXACT_P1,
    EXACT_P2,
    client,
    log_keys,
    mapped_blend,
    page,
    pages_app,
    text_of,
)
from tests.graph import chains
from tests.support import World

# --- the map -------------------------------------------------------------------------------------


def _precise_forms(coordinate: str) -> set[str]:
    """How a coordinate finer than 0.1° could be written: its 2 to 6 decimal truncations and
    roundings, with and without sign."""
    value = Decimal(coordinate)
    out = set()
    for places in range(2, 7):
        for text in (f"{value:.{places}f}", str(value)[: str(value).index(".") + places + 1]):
            out |= {text, text.lstrip("-")}
    return out


def test_the_map_draws_country_outlines_with_no_coordinate_finer_than_the_cells(
    sqlite_world: World,
    client: FlaskClient,  # noqa: F811
) -> None:
    bag = mapped_blend(sqlite_world)  # plots in Peru and Honduras, an estate in Peru
    exact = [c for c in EXACT_P1] + [c for point in EXACT_P2 for c in point]
    for lang in publish.LANGUAGES:
        html = page(client, bag, lang)
        countries = re.findall(r'<path class="outline" data-country="([A-Z]{2})" d="M', html)
        assert {"PE", "HN"} <= set(countries), countries
        outline = re.search(r'data-country="PE" d="([^"]+)"', html)
        assert outline and outline.group(1).count(" ") > 100  # a real outline, not a box
        for coordinate in exact:
            for form in _precise_forms(coordinate):
                assert form not in html, (lang, form)
        for svg in re.findall(r"<svg.*?</svg>", html, flags=re.S):
            drawn = re.sub(r'(fill|stroke)-opacity="[^"]*"', "", svg)
            assert not re.findall(r"\d\.\d{2,}", drawn)  # positions: one decimal at most
        assert not re.findall(r"\d+\.\d{5,}", html)  # nowhere a number of 1 m precision


def test_outlines_are_package_data_on_the_page_grid() -> None:
    document = json.loads(publish.OUTLINES.read_text("utf-8"))
    assert "Natural Earth" in document["source"]
    assert {"PE", "HN", "MX", "BR", "DO", "CO", "ET"} <= set(document["countries"])
    assert all(
        isinstance(v, int) for rings in document["countries"].values() for r in rings for v in r
    )
    assert publish.OUTLINES.stat().st_size < 400_000


# --- locale -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "locale", "written"),
    [
        ("es-MX,es;q=0.9", "es_MX", "2,109.562"),
        ("es-PE", "es_PE", "2,109.562"),
        ("es-ES,es;q=0.9", "es_ES", "2.109,562"),
        ("es", "es_419", "2,109.562"),  # a bare es: Latin American Spanish
        ("pt-PT,pt", "pt_PT", "2\xa0109,562"),
        ("en-GB,en", "en_GB", "2,109.562"),
    ],
)
def test_numbers_are_written_as_the_reader_writes_them(
    header: str, locale: str, written: str
) -> None:
    lang = header.split("-")[0].split(",")[0]
    accept = LanguageAccept(
        [(v.split(";")[0], 1 - i / 10) for i, v in enumerate(header.split(","))]
    )
    assert publish.number_locale(lang, accept) == locale
    number = publish.environment(lang, locale).filters["number"]
    assert number(Decimal("2109.562")) == written


def test_the_served_page_uses_accept_language_for_numbers(
    sqlite_world: World,
    client: FlaskClient,  # noqa: F811
) -> None:
    bag = mapped_blend(sqlite_world, spo_kg="1200", estate_kg="1000")  # 1,760 kg packed
    mx = text_of(page(client, bag, "es", **{"Accept-Language": "es-MX"}))
    es = text_of(page(client, bag, "es", **{"Accept-Language": "es-ES"}))
    assert "1,760 kg" in mx and "1.760 kg" in es
    assert "1760 kg" not in mx + es


# --- the unit in the hand ------------------------------------------------------------------------


def _packed(world: World, package: dict[str, str] | None, kg: str = "80") -> dict[str, Any]:
    c = chains.base(world)
    h = c.harvest(chains.COOP, f"{chains.COOP}:h-1", "100", chains.M1, chains.P1)
    rec = chains.to_roaster(c, chains.COOP, f"{chains.COOP}:h-1", h, "100")
    roasted = f"{chains.ROASTER}:r-1"
    r = c.transform(
        chains.ROASTER, "roast", [(f"{chains.COOP}:h-1", rec, "100")], [(roasted, "roasted", "80")]
    )
    output: dict[str, Any] = {
        "lot": f"{chains.ROASTER}:bag-250g",
        "product": "coffee",
        "form": "packed",
        "quantity": kg,
        "unit": "kg",
    }
    if package is not None:
        output["package"] = package
    return {
        "type": "transform",
        "process": "pack",
        "inputs": [{"lot": roasted, "event": r, "quantity": "80", "unit": "kg"}],
        "outputs": [output],
    }


def test_a_packed_lot_leads_with_its_unit(
    sqlite_world: World,
    client: FlaskClient,  # noqa: F811
) -> None:
    body = _packed(sqlite_world, {"quantity": "250", "unit": "g"})
    sqlite_world.record(chains.ROASTER, body)
    bag = f"{chains.ROASTER}:bag-250g"
    sqlite_world.record(chains.ROASTER, {"type": "lot.publish", "lot": bag})
    html = page(client, bag, "en")
    h1 = re.search(r"<h1>(.*?)</h1>", html, flags=re.S)
    assert h1 and h1.group(1) == "Coffee, packed · a 250\xa0g bag"
    text = text_of(html)
    assert "This bag: 250\xa0g from members of Coop Pangoa." in text
    assert "80 kg in 320 bags" in text
    assert text.index("a 250\xa0g bag") < text.index("80 kg in 320 bags")
    ld = client.get(f"/p/{bag}.jsonld").get_json(force=True)
    assert ld["weight"]["value"] == "0.250"  # the product is the bag; the lot is its batch
    facts = {p["propertyID"]: p["value"] for p in ld["additionalProperty"]}
    assert facts["lotKg"] == "80" and facts["unitsInLot"] == 320
    assert facts["certifiedSmallProducerKgPerUnit"] == "0.2500"
    es = text_of(page(client, bag, "es"))
    assert "bolsa de 250\xa0g" in es and "Esta bolsa: 250\xa0g de socios de Coop Pangoa." in es


@pytest.mark.parametrize(
    ("package", "kg", "says"),
    [
        ({"quantity": "300", "unit": "g"}, "80", "not a whole number of packages of 300 g"),
        ({"quantity": "90", "unit": "kg"}, "80", "not a whole number of packages"),
        ({"quantity": "0", "unit": "g"}, "80", "quantity"),
        ({"quantity": "250", "unit": "bags"}, "80", "unknown unit"),
        ({"quantity": "250", "unit": "g", "count": "320"}, "80", "count"),
        ("250 g", "80", "must be an object"),
    ],
)
def test_a_package_size_must_divide_the_lot(
    sqlite_world: World, package: Any, kg: str, says: str
) -> None:
    body = _packed(sqlite_world, package, kg)
    with pytest.raises(InvalidEvent) as refused:
        sqlite_world.record(chains.ROASTER, body)
    assert says in str(refused.value)
    assert (refused.value.field or "").startswith("outputs[0].package")


# --- seasons and the QR code ---------------------------------------------------------------------


def test_each_harvest_season_is_credited_to_its_grower(
    sqlite_world: World,
    client: FlaskClient,  # noqa: F811
) -> None:
    bag = mapped_blend(sqlite_world)
    html = page(client, bag, "en")
    seasons = re.search(r'<ul class="plain" id="seasons">(.*?)</ul>', html, flags=re.S)
    assert seasons
    growers = re.findall(r"<li>([^:<]+):", seasons.group(1))
    assert growers == ["Coop Marcala", "Coop Pangoa", "Finca Grande"] or set(growers) == {
        "Coop Marcala",
        "Coop Pangoa",
        "Finca Grande",
    }


def test_the_qr_code_is_in_the_page_and_printable(
    sqlite_world: World,
    client: FlaskClient,  # noqa: F811
) -> None:
    bag = mapped_blend(sqlite_world)
    html = page(client, bag, "en")
    figure = re.search(r'<figure class="qr-code">\s*<svg[^>]*class="qr"(.*?)</figure>', html, re.S)
    assert figure and "<path" in figure.group(1) and f"/p/{bag}" in figure.group(1)
    assert "@media print" in html


def test_the_page_lists_what_the_browser_does_not_check_as_verify_js_does() -> None:
    source = (publish.STATIC / "js" / "verify.js").read_text("utf-8")
    block = re.search(r"export const NOT_CHECKED = \[(.*?)\];", source, flags=re.S)
    assert block
    assert tuple(json.loads(f"[{block.group(1).strip().rstrip(',')}]")) == (
        publish.NOT_CHECKED_IN_BROWSER
    )
    es = publish.verify_texts("es")
    assert len(es["not_checked"]) == 3 and "esquema JSON" in es["not_checked"][0]
    assert set(es["steps"]) == set(publish.VERIFY_STEPS)


def test_the_browser_knows_the_currencies_the_ledger_knows() -> None:
    """prices.js refuses a currency code outside ISO 4217 as ledger/prices.py does."""
    from ledger.prices import CURRENCIES

    source = (publish.STATIC / "js" / "prices.js").read_text("utf-8")
    block = re.search(r"export const CURRENCIES = new Set\(`(.*?)`", source, flags=re.S)
    assert block and set(block.group(1).split()) == CURRENCIES


def test_the_witnesses_of_the_ledger_are_handed_to_the_in_browser_check(
    sqlite_world: World,
    pages_app: Any,  # noqa: F811
    client: FlaskClient,  # noqa: F811
) -> None:
    from ledger.cosignature import Cosigner
    from tests.support import seeded_key

    vkey = Cosigner("witness.example/w1", seeded_key("witness-1")).key.verifier_key()
    pages_app.config["TRAZO_WITNESSES"] = f"http://witness.example:8080={vkey}"
    bag = mapped_blend(sqlite_world)
    html = page(client, bag, "en")
    assert f'data-witnesses="{vkey}"' in html
    other = Cosigner("witness.example/w2", seeded_key("witness-2")).key.verifier_key()
    assert publish.witness_keys([vkey, f"https://w.example={other}"]) == (vkey, other)
