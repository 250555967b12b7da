from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

import pytest

from ledger import tables
from ledger.errors import InvalidEvent
from ledger.tables import InvalidTables, RuleTables

D = Decimal


# --- quantities ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("46", D("46")),
        ("36.5", D("36.5")),
        ("0.001", D("0.001")),
        ("0.000001", D("0.000001")),
        ("1", D(1)),
        ("999999999999.999999", D("999999999999.999999")),
        ("10.50", D("10.5")),
    ],
)
def test_parse_quantity_accepts(text: str, expected: Decimal) -> None:
    assert tables.parse_quantity(text, field="quantity") == expected


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "0.0",
        "0.000000",
        "-1",
        "+1",
        "1e3",
        "1E3",
        "1.5.2",
        " 1",
        "1 ",
        "1\n",
        "",
        "NaN",
        "Infinity",
        "1,5",
        "01",
        "00.5",
        ".5",
        "5.",
        "0.0000001",
        "1000000000000",
        "١٢",  # Arabic-Indic digits: Decimal() would accept them
        "1_000",
    ],
)
def test_parse_quantity_rejects(text: str) -> None:
    with pytest.raises(InvalidEvent) as raised:
        tables.parse_quantity(text, field="inputs[0].quantity")
    assert raised.value.field == "inputs[0].quantity"
    assert "quantity" in raised.value.message


@pytest.mark.parametrize("value", [46, 36.5, None, D("46")])
def test_parse_quantity_rejects_non_strings(value: Any) -> None:
    with pytest.raises(InvalidEvent) as raised:
        tables.parse_quantity(value, field="quantity")
    assert raised.value.field == "quantity"
    assert "decimal string" in raised.value.message


# --- units --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "unit", "kg"),
    [
        ("46", "kg", "46"),
        ("1", "quintal", "46"),
        ("36.5", "quintal", "1679"),
        ("1", "lb", "0.45359237"),
        ("100", "lb", "45.359237"),
        ("16", "oz", "0.45359237"),
        ("1500", "g", "1.5"),
        ("0.001", "g", "0.000001"),
        ("2.5", "t", "2500"),
        ("1", "bag-60", "60"),
        ("3", "bag-69", "207"),
        ("1", "bag-70", "70"),
    ],
)
def test_to_kg_is_exact(quantity: str, unit: str, kg: str) -> None:
    assert tables.to_kg(D(quantity), unit) == D(kg)


def test_to_kg_is_exact_at_the_largest_quantity() -> None:
    largest = D("999999999999.999999")
    # 30 significant digits: Python's default 28-digit context would round this
    assert str(tables.to_kg(largest, "oz")) == "28349523124.999999971650476875"
    assert str(tables.to_kg(largest, "lb")) == "453592369999.99999954640763"


def test_unit_table() -> None:
    units = tables.unit_table()
    assert units["quintal"] == D(46)
    assert units["lb"] == D("0.45359237")
    assert units["g"] == D("0.001")
    assert units["kg"] == D(1)
    assert all(isinstance(factor, Decimal) and factor > 0 for factor in units.values())
    with pytest.raises(TypeError):
        units["kg"] = D(2)  # type: ignore[index]


@pytest.mark.parametrize("unit", ["KG", "kilo", "qq", "", "bag-46", " kg"])
def test_to_kg_unknown_unit_lists_known_ones(unit: str) -> None:
    with pytest.raises(InvalidEvent) as raised:
        tables.to_kg(D(1), unit, field="inputs[0].unit")
    assert raised.value.field == "inputs[0].unit"
    assert repr(unit) in raised.value.message
    assert "quintal" in raised.value.message and "lb" in raised.value.message


@pytest.mark.parametrize("quantity", [D(0), D(-1), D("NaN"), D("Infinity")])
def test_to_kg_rejects_non_positive(quantity: Decimal) -> None:
    with pytest.raises(InvalidEvent):
        tables.to_kg(quantity, "kg")


# --- products -----------------------------------------------------------------------------


def test_known_products() -> None:
    assert {"coffee", "cacao", "honey", "sugar"} <= set(tables.products())


def test_unknown_product_lists_known_ones() -> None:
    with pytest.raises(InvalidEvent) as raised:
        tables.product("tea", field="outputs[0].product")
    assert raised.value.field == "outputs[0].product"
    assert "'tea'" in raised.value.message and "coffee" in raised.value.message


@pytest.mark.parametrize("name", sorted(tables.products()))
def test_every_product_is_consistent(name: str) -> None:
    product = tables.product(name)
    assert product.name == name
    assert len(product.forms) >= 2
    assert product.reference_form in product.forms
    assert D(0) <= product.tolerance < D("0.05")
    for step in product.steps:
        assert D(0) < step.max_yield <= D(1)
        assert step.processes <= tables.processes()
        assert product.max_yield(step.from_form, step.to_form) == step.max_yield
        assert product.max_yield(step.to_form, step.from_form) is None
    for form in product.forms:
        assert product.has_form(form)
        assert product.max_yield(form, form) == D(1)
        assert product.conversion_factor(form) > 0
        for other in product.forms:
            y = product.max_yield(form, other)
            assert y is None or D(0) < y <= D(1)


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        ("cherry", "parchment", "0.22"),
        ("parchment", "green", "0.82"),
        ("green", "roasted", "0.90"),
        ("roasted", "packed", "1.0"),
        ("dried-cherry", "green", "0.55"),
        ("cherry", "green", "0.1804"),  # 0.22 × 0.82
        ("parchment", "roasted", "0.738"),  # 0.82 × 0.90
        ("cherry", "packed", "0.16236"),  # 0.22 × 0.82 × 0.90 × 1.0
        ("dried-cherry", "roasted", "0.495"),  # 0.55 × 0.90
        ("green", "green", "1"),
    ],
)
def test_coffee_yields_as_designed(source: str, target: str, expected: str) -> None:
    assert tables.product("coffee").max_yield(source, target) == D(expected)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("green", "parchment"),
        ("roasted", "green"),
        ("packed", "cherry"),
        ("parchment", "cherry"),
        ("cherry", "dried-cherry"),
        ("dried-cherry", "parchment"),
        ("parchment", "dried-cherry"),
        ("green", "beans"),
        ("wet-beans", "dry-beans"),
    ],
)
def test_backward_unrelated_or_unknown_moves_have_no_yield(source: str, target: str) -> None:
    assert tables.product("coffee").max_yield(source, target) is None


def test_cacao_and_other_products() -> None:
    cacao = tables.product("cacao")
    assert cacao.reference_form == "dry-beans"
    assert cacao.max_yield("wet-beans", "dry-beans") == D("0.45")
    assert cacao.max_yield("dry-beans", "wet-beans") is None
    assert cacao.area_limit_ha == D(15)
    assert tables.product("coffee").area_limit_ha == D(15)
    assert tables.product("coffee").reference_form == "green"
    honey = tables.product("honey")
    assert honey.area_limit_ha is None  # beekeepers are sized by hives, not land
    assert honey.max_yield("raw", "packed") == D(1)
    sugar = tables.product("sugar")
    assert sugar.max_yield("cane", "packed") == D("0.16")
    assert sugar.max_yield("packed", "cane") is None


def test_processes() -> None:
    coffee = tables.product("coffee")
    assert {"wet-mill", "dry-mill", "roast", "blend", "pack", "split"} <= tables.processes()
    assert coffee.processes_for("cherry", "parchment") == {"wet-mill"}
    assert coffee.processes_for("parchment", "green") == {"dry-mill", "hull"}
    assert coffee.processes_for("roasted", "packed") == {"pack"}
    assert {"blend", "split", "pack"} <= coffee.processes_for("green", "green")
    assert "roast" not in coffee.processes_for("green", "green")
    assert coffee.processes_for("green", "parchment") == frozenset()
    # no single process covers both wet and dry milling
    assert coffee.processes_for("cherry", "green") == frozenset()
    assert tables.product("honey").processes_for("raw", "packed") == {"pack"}


# --- reference form ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "kg", "green"),
    [
        ("green", "60", "60"),
        ("parchment", "100", "82"),
        ("cherry", "1000", "180.4"),
        ("dried-cherry", "120", "66"),
        ("roasted", "0.9", "1"),
        ("roasted", "45", "50"),
        ("packed", "9", "10"),
    ],
)
def test_coffee_to_green_equivalent(form: str, kg: str, green: str) -> None:
    assert tables.product("coffee").to_reference(D(kg), form) == D(green)


def test_downstream_forms_divide_by_the_yield() -> None:
    coffee = tables.product("coffee")
    assert coffee.to_reference(D(1), "roasted") == D(1) / D("0.90")
    assert coffee.conversion_factor("roasted") == D("1.111111111111111111111111111")
    assert coffee.conversion_factor("parchment") == D("0.82")
    assert coffee.conversion_factor("green") == D(1)
    assert tables.product("cacao").to_reference(D(100), "wet-beans") == D(45)


def test_to_reference_rejects_unknown_form() -> None:
    with pytest.raises(InvalidEvent) as raised:
        tables.product("coffee").to_reference(D(1), "nibs")
    assert "nibs" in raised.value.message and "green" in raised.value.message


# --- the document and its digest -------------------------------------------------------------


def test_document_is_json_ready_and_a_copy() -> None:
    document = tables.tables_document()
    text = json.dumps(document, allow_nan=False)
    assert "0.45359237" in text and '"0.22"' in text
    assert json.loads(text) == document
    document["units"]["units"]["kg"]["kg"] = "2"
    assert tables.unit_table()["kg"] == D(1)
    assert tables.tables_document()["units"]["units"]["kg"]["kg"] == "1"


def test_digest_is_sha256_of_canonical_json_and_stable() -> None:
    canonical = json.dumps(
        tables.tables_document(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    digest = tables.tables_digest()
    assert digest == hashlib.sha256(canonical).hexdigest()
    assert len(digest) == 64 and digest == digest.lower()
    assert tables.tables_digest() == digest
    rebuilt = RuleTables.from_document(tables.tables_document())
    assert rebuilt.digest == digest
    assert rebuilt.product("coffee") == tables.product("coffee")


def test_digest_changes_with_any_number() -> None:
    document = tables.tables_document()
    document["products"]["products"]["coffee"]["steps"][0]["max_yield"] = "0.23"
    changed = RuleTables.from_document(document)
    assert changed.digest != tables.tables_digest()
    assert changed.product("coffee").max_yield("cherry", "parchment") == D("0.23")


# --- malformed tables (as a bundle might embed them) ----------------------------------------


def _coffee_steps(document: dict[str, Any]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = document["products"]["products"]["coffee"]["steps"]
    return steps


def _break_yield(value: Any) -> Any:
    def edit(document: dict[str, Any]) -> None:
        _coffee_steps(document)[0]["max_yield"] = value

    return edit


def _add_cycle(document: dict[str, Any]) -> None:
    _coffee_steps(document).append(
        {
            "from": "green",
            "to": "cherry",
            "max_yield": "0.5",
            "processes": ["roast"],
            "sources": ["trazo-design"],
        }
    )


def _unknown_reference(document: dict[str, Any]) -> None:
    document["products"]["products"]["coffee"]["reference_form"] = "cherries"


def _unknown_process(document: dict[str, Any]) -> None:
    _coffee_steps(document)[0]["processes"] = ["teleport"]


def _unknown_source(document: dict[str, Any]) -> None:
    _coffee_steps(document)[0]["sources"] = ["hearsay"]


def _float_factor(document: dict[str, Any]) -> None:
    document["units"]["units"]["lb"]["kg"] = 0.45359237


def _orphan_form(document: dict[str, Any]) -> None:
    document["products"]["products"]["coffee"]["forms"].append("capsule")


def _extra_field(document: dict[str, Any]) -> None:
    document["products"]["products"]["coffee"]["max_area"] = "100"


@pytest.mark.parametrize(
    "edit",
    [
        _break_yield("1.01"),
        _break_yield("0"),
        _break_yield("-0.2"),
        _break_yield("2e-1"),
        _break_yield(0.22),
        _add_cycle,
        _unknown_reference,
        _unknown_process,
        _unknown_source,
        _float_factor,
        _orphan_form,
        _extra_field,
    ],
)
def test_malformed_tables_are_rejected(edit: Any) -> None:
    document = tables.tables_document()
    edit(document)
    with pytest.raises(InvalidTables):
        RuleTables.from_document(document)
