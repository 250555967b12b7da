"""The browser verifier's allowed fields (api/static/js/fields.js) are the rule modules'
(``ledger.rules.field_table``): generated from them, never a second hand-made list."""

from __future__ import annotations

from api.pages import publish
from ledger.rules import RULES, field_table
from ledger.rules.fields_js import TARGET, render


def test_the_shipped_fields_js_is_the_rule_modules_table() -> None:
    assert TARGET == publish.STATIC / "js" / "fields.js"
    assert "fields.js" in publish.SCRIPTS  # trazo publish copies it beside verify.js
    shipped = TARGET.read_text("utf-8")
    assert shipped == render(), "stale: run python -m ledger.rules.fields_js"


def test_the_table_is_every_rule_and_its_nested_objects_hang_off_its_fields() -> None:
    table = field_table()
    assert set(table) == set(RULES)
    for kind, spec in table.items():
        assert set(spec["fields"]) >= RULES[kind].fields
        for path, keys in spec["nested"].items():
            assert path.split(".")[0].removesuffix("[]") in RULES[kind].fields, (kind, path)
            assert keys == sorted(set(keys)), (kind, path)
