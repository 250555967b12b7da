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


def test_every_set_a_rule_refuses_unknown_keys_against_is_in_the_table() -> None:
    """Each ``reject_unknown(item, NAME, ...)`` in the rule modules (and ledger/prices.py,
    which they call) names a set some rule's ``nested`` carries: a new nested object whose
    keys a rule checks cannot be left out of what the browser is shipped."""
    import ast
    import importlib
    from pathlib import Path

    import ledger.prices
    import ledger.rules

    shipped = [keys for rule in RULES.values() for keys in rule.nested.values()]
    sources = [*Path(ledger.rules.__file__).parent.glob("*.py"), Path(ledger.prices.__file__)]
    seen = 0
    for source in sources:
        if source.name == "base.py":  # the top level: COMMON | fields, in every row
            continue
        module_name = (
            "ledger.prices" if source.name == "prices.py" else f"ledger.rules.{source.stem}"
        )
        module = importlib.import_module(module_name)
        for node in ast.walk(ast.parse(source.read_text("utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "reject_unknown"
            ):
                allowed = node.args[1]
                assert isinstance(allowed, ast.Name), (source.name, ast.unparse(allowed))
                value = getattr(module, allowed.id)
                assert any(value is keys for keys in shipped), (source.name, allowed.id)
                seen += 1
    assert seen >= 7
