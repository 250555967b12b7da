"""The yield check: tolerance across a change of form only, so no chain creates mass."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledger.conservation import Flow, check_yield
from ledger.errors import YieldExceeded
from ledger.tables import product

COFFEE = product("coffee")


def test_a_change_of_form_gets_the_tolerance() -> None:
    # 100 kg green → at most 90 kg roasted × 1.005 = 90.45 kg
    check_yield(COFFEE, [Flow(Decimal(100), "green")], [Flow(Decimal("90.45"), "roasted")])
    with pytest.raises(YieldExceeded) as err:
        check_yield(COFFEE, [Flow(Decimal(100), "green")], [Flow(Decimal("90.46"), "roasted")])
    assert err.value.details["allowed"] == Decimal("90.45")


def test_within_one_form_outputs_never_exceed_inputs() -> None:
    check_yield(COFFEE, [Flow(Decimal(1000), "green")], [Flow(Decimal(1000), "green")])
    with pytest.raises(YieldExceeded):
        check_yield(COFFEE, [Flow(Decimal(1000), "green")], [Flow(Decimal("1000.001"), "green")])


def test_backward_forms_are_refused() -> None:
    with pytest.raises(YieldExceeded, match="cannot become cherry"):
        check_yield(COFFEE, [Flow(Decimal(10), "green")], [Flow(Decimal(1), "cherry")])


def test_repeated_splits_create_no_mass(sqlite_world) -> None:  # type: ignore[no-untyped-def]
    from tests.graph import chains

    c = chains.base(sqlite_world)
    via = c.harvest(chains.COOP, f"{chains.COOP}:h-1", "1000", chains.M1, chains.P1)
    lot = f"{chains.COOP}:h-1"
    for i in range(3):
        new = f"{chains.COOP}:s-{i}"
        via = c.transform(chains.COOP, "split", [(lot, via, "1000")], [(new, "green", "1000")])
        lot = new
    with pytest.raises(YieldExceeded):
        c.transform(
            chains.COOP, "split", [(lot, via, "1000")], [(f"{chains.COOP}:s-more", "green", "1005")]
        )


# --- hole 8: the tolerance once per path, not once per step ---------------------------------

HONEY = product("honey")


def test_the_tolerance_does_not_compound_through_two_form_changes() -> None:
    """raw 100 → filtered 100.5 → packed 101.0025 kg: each step within 0.5 %, the path not."""
    potential = check_yield(
        HONEY, [Flow(Decimal(100), "raw")], [Flow(Decimal("100.5"), "filtered")]
    )
    assert potential < 1
    with pytest.raises(YieldExceeded, match="once per path") as err:
        check_yield(
            HONEY,
            [Flow(Decimal("100.5"), "filtered", potential=potential)],
            [Flow(Decimal("101.0025"), "packed")],
        )
    assert err.value.field == "outputs"
    # the mass that really came through is still packed in full
    check_yield(
        HONEY,
        [Flow(Decimal("100.5"), "filtered", potential=potential)],
        [Flow(Decimal("100.5"), "packed")],
    )


def test_a_path_at_exact_yields_keeps_all_its_potential() -> None:
    assert check_yield(COFFEE, [Flow(Decimal(100), "parchment")], [Flow(Decimal(82), "green")]) == 1
    # a loss upstream is lost: it is not credit for a later step
    assert check_yield(COFFEE, [Flow(Decimal(100), "parchment")], [Flow(Decimal(50), "green")]) == 1


def test_honey_chain_on_the_ledger_refuses_compounded_tolerance(sqlite_world) -> None:  # type: ignore[no-untyped-def]
    from tests.ledger.custody_support import COOP, coffee_chain, enroll_body, line, output

    chain = coffee_chain(sqlite_world)
    chain.record(
        COOP, enroll_body(f"{COOP}:m-bee", [(f"{COOP}:p-bee", "1.0")], products=("honey",))
    )
    raw = chain.harvest(
        f"{COOP}:honey-1",
        "100",
        form="raw",
        product="honey",
        member=f"{COOP}:m-bee",
        plot=f"{COOP}:p-bee",
    )
    filtered = chain.record(
        COOP,
        {
            "type": "transform",
            "process": "filter",
            "inputs": [line(f"{COOP}:honey-1", raw, "100")],
            "outputs": [output(f"{COOP}:honey-2", "filtered", "100.5", product="honey")],
        },
    )
    err = chain.rejected(
        COOP,
        {
            "type": "transform",
            "process": "pack",
            "inputs": [line(f"{COOP}:honey-2", filtered, "100.5")],
            "outputs": [output(f"{COOP}:honey-3", "packed", "101.0025", product="honey")],
        },
        YieldExceeded,
    )
    assert "once per path" in str(err)
    chain.record(
        COOP,
        {
            "type": "transform",
            "process": "pack",
            "inputs": [line(f"{COOP}:honey-2", filtered, "100.5")],
            "outputs": [output(f"{COOP}:honey-3", "packed", "100.5", product="honey")],
        },
    )
