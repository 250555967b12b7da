"""An optional GTIN on lot lines (harvest, transform outputs and inputs, ship, receive,
dispose), checked like a GLN: GS1 length and check digit (``ledger.fields``)."""

from __future__ import annotations

import pytest

from ledger.errors import InvalidEvent
from ledger.fields import gs1_check_digit, gs1_check_digit_ok, gtin
from tests.graph import chains
from tests.graph.chains import COOP, EXPORTER, M1, P1
from tests.support import World

GOOD = ["4012345999990", "07501234567893", "96385074", "012345678905"]


@pytest.mark.parametrize("value", GOOD)
def test_valid_gtins(value: str) -> None:
    assert gtin({"gtin": value}) == value


@pytest.mark.parametrize(
    "value", ["4012345999991", "0750123456789", "12345", "4O12345999990", 4012345999990, ""]
)
def test_invalid_gtins_name_the_field(value: object) -> None:
    with pytest.raises(InvalidEvent) as e:
        gtin({"gtin": value}, prefix="lots[0].")
    assert e.value.field == "lots[0].gtin"


def test_the_check_digit_is_the_gs1_one() -> None:
    assert gs1_check_digit("401234599999") == "0"
    assert gs1_check_digit_ok("4012345000016") and not gs1_check_digit_ok("4012345000017")
    assert not gs1_check_digit_ok("x")


def test_a_wrong_gtin_on_a_shipment_line_is_refused(world: World) -> None:
    c = chains.base(world)
    h = c.harvest(COOP, f"{COOP}:h-1", "10", M1, P1)
    line = {"lot": f"{COOP}:h-1", "event": h, "quantity": "4", "unit": "kg"}
    shipped = c.append(COOP, {"type": "ship", "to": EXPORTER, "lots": [{**line, "gtin": GOOD[0]}]})
    received = c.append(
        EXPORTER,
        {
            "type": "receive",
            "shipment": shipped,
            "lots": [{"lot": f"{COOP}:h-1", "quantity": "4", "unit": "kg", "gtin": GOOD[0]}],
        },
    )
    assert received.startswith("sha256:")
    with pytest.raises(InvalidEvent) as e:
        c.append(
            COOP, {"type": "ship", "to": EXPORTER, "lots": [{**line, "gtin": "4012345999991"}]}
        )
    assert e.value.field == "lots[0].gtin"
