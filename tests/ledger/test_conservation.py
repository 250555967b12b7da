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
        c.transform(chains.COOP, "split", [(lot, via, "1000")],
                    [(f"{chains.COOP}:s-more", "green", "1005")])
