"""One test per custody rule breach: each is refused with its own error, which names the
event's index in the batch, the field, and the amounts involved; nothing is kept."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from ledger.errors import (
    AlreadyReceived,
    DuplicateId,
    DuplicateLot,
    InsufficientQuantity,
    InvalidEvent,
    NotAuthorized,
    NotHolder,
    ReceiptExceedsShipment,
    TimeError,
    UnknownLot,
    UnknownReference,
    VoidRefused,
    YieldExceeded,
)
from ledger.lots import get_lot
from tests.ledger.custody_support import (
    CERTIFIER,
    COOP,
    EXPORTER,
    IMPORTER,
    M1,
    M2,
    P1,
    P2,
    Chain,
    coffee_chain,
    enroll_body,
    harvest_body,
    held,
    line,
    output,
    transit,
)
from tests.support import World

D = Decimal
LOT = f"{COOP}:h-1"


@pytest.fixture
def chain(sqlite_world: World) -> Chain:
    """Every append of these tests is dry-run first: ``check_batch`` must accept and refuse
    exactly as the append does, and leave the database byte for byte as it was."""
    sqlite_world.dry_run_first = True
    return coffee_chain(sqlite_world)


@pytest.fixture
def stocked(chain: Chain) -> tuple[Chain, str]:
    """The coop holds 460 kg of parchment, lot LOT, through harvest ``h``."""
    h = chain.harvest(LOT, "460", form="parchment")
    return chain, h


def ship(to: str, *lines: dict[str, str]) -> dict[str, Any]:
    return {"type": "ship", "to": to, "lots": list(lines)}


def receive(shipment: str, *lots: tuple[str, str]) -> dict[str, Any]:
    return {
        "type": "receive",
        "shipment": shipment,
        "lots": [{"lot": lot, "quantity": q, "unit": "kg"} for lot, q in lots],
    }


# --- who may sign what ---------------------------------------------------------------------


def test_only_an_spo_enrolls_members(chain: Chain) -> None:
    e = chain.rejected(
        EXPORTER, enroll_body(f"{EXPORTER}:m-1", [(f"{EXPORTER}:p-1", "1")]), NotAuthorized
    )
    assert e.field == "party" and "spo" in e.message


def test_member_and_plot_ids_start_with_the_spo(chain: Chain) -> None:
    e = chain.rejected(COOP, enroll_body("other:m-1", [(f"{COOP}:p-9", "1")]), InvalidEvent)
    assert e.field == "member"


def test_a_member_is_enrolled_once(chain: Chain) -> None:
    e = chain.rejected(COOP, enroll_body(M1, [(f"{COOP}:p-new", "1")]), DuplicateId)
    assert e.field == "member"
    e = chain.rejected(COOP, enroll_body(f"{COOP}:m-new", [(P1, "1")]), DuplicateId)
    assert e.field == "plots[0].plot"


def test_only_a_certifier_issues_certificates(chain: Chain) -> None:
    body = {
        "type": "cert.issue",
        "certificate": "SPP-1",
        "subject": COOP,
        "scheme": "SPP",
        "products": ["coffee"],
        "valid_from": "2025-01-01",
        "valid_until": "2027-12-31",
    }
    e = chain.rejected(COOP, body, NotAuthorized)
    assert "certifier" in e.message


def test_certificate_checks(chain: Chain) -> None:
    base = {
        "type": "cert.issue",
        "certificate": "SPP-1",
        "subject": COOP,
        "scheme": "SPP",
        "products": ["coffee"],
        "valid_from": "2025-01-01",
        "valid_until": "2027-12-31",
    }
    e = chain.rejected(CERTIFIER, {**base, "subject": "nobody"}, UnknownReference)
    assert e.field == "subject"
    e = chain.rejected(CERTIFIER, {**base, "valid_until": "2024-12-31"}, InvalidEvent)
    assert e.field == "valid_until"
    e = chain.rejected(CERTIFIER, {**base, "products": ["tea"]}, InvalidEvent)
    assert e.field == "products[0]"
    chain.record(CERTIFIER, base)
    e = chain.rejected(CERTIFIER, base, DuplicateId)
    assert e.field == "certificate"


def test_only_the_issuing_certifier_revokes(chain: Chain) -> None:
    chain.world.register("other-cert", ["certifier"])
    chain.record(
        CERTIFIER,
        {
            "type": "cert.issue",
            "certificate": "SPP-1",
            "subject": COOP,
            "scheme": "SPP",
            "products": ["coffee"],
            "valid_from": "2025-01-01",
            "valid_until": "2027-12-31",
        },
    )
    revoke = {"type": "cert.revoke", "certificate": "SPP-1", "reason": "audit"}
    e = chain.rejected("other-cert", revoke, NotAuthorized)
    assert CERTIFIER in e.message
    chain.record(CERTIFIER, revoke)
    chain.rejected(CERTIFIER, revoke, InvalidEvent)
    e = chain.rejected(CERTIFIER, {**revoke, "certificate": "nope"}, UnknownReference)
    assert e.field == "certificate"


def test_harvest_names_an_enrolled_member(chain: Chain) -> None:
    e = chain.rejected(
        COOP, harvest_body(LOT, "46", member=f"{COOP}:m-x", plot=P1), UnknownReference
    )
    assert e.field == "member"


def test_harvest_names_a_member_of_the_signing_spo(chain: Chain) -> None:
    chain.world.register("coop-other", ["spo"])
    chain.record("coop-other", enroll_body("coop-other:m-1", [("coop-other:p-1", "1")]))
    e = chain.rejected(
        COOP, harvest_body(LOT, "46", member="coop-other:m-1", plot="coop-other:p-1"), NotAuthorized
    )
    assert e.field == "member" and "coop-other" in e.message


def test_harvest_names_a_plot_of_that_member(chain: Chain) -> None:
    e = chain.rejected(COOP, harvest_body(LOT, "46", member=M1, plot=P2), NotAuthorized)
    assert e.field == "plot" and M2 in e.message


def test_harvest_before_the_member_joined(chain: Chain) -> None:
    chain.record(COOP, enroll_body(f"{COOP}:m-late", [(f"{COOP}:p-late", "1")], since="2030-01-01"))
    e = chain.rejected(
        COOP, harvest_body(LOT, "46", member=f"{COOP}:m-late", plot=f"{COOP}:p-late"), NotAuthorized
    )
    assert e.details["since"] == "2030-01-01"


def test_harvest_after_the_member_left(chain: Chain) -> None:
    chain.record(COOP, {"type": "member.leave", "member": M1, "until": "2026-01-31"})
    e = chain.rejected(COOP, harvest_body(LOT, "46"), NotAuthorized)
    assert e.field == "member" and "left on 2026-01-31" in e.message
    chain.harvest(LOT, "46", member=M2, plot=P2)  # the other member still delivers


def test_member_cannot_leave_before_a_recorded_harvest(chain: Chain) -> None:
    chain.harvest(LOT, "46")
    e = chain.rejected(
        COOP, {"type": "member.leave", "member": M1, "until": "2026-01-31"}, TimeError
    )
    assert e.field == "until"


def test_harvest_for_a_product_the_member_does_not_grow(chain: Chain) -> None:
    e = chain.rejected(
        COOP, harvest_body(LOT, "46", product="cacao", form="wet-beans"), NotAuthorized
    )
    assert e.field == "product"


def test_a_trader_does_not_harvest(chain: Chain) -> None:
    body = {
        "type": "harvest",
        "lot": f"{EXPORTER}:h-1",
        "product": "coffee",
        "form": "cherry",
        "quantity": "46",
        "unit": "kg",
    }
    chain.rejected(EXPORTER, body, NotAuthorized)


def test_plot_map_only_for_the_spo_that_enrolled_the_plot(chain: Chain) -> None:
    chain.world.register("coop-other", ["spo"])
    geometry = {"type": "Point", "coordinates": ["-74.49", "-11.42"]}
    body = {"type": "plot.map", "plot": P1, "method": "gps-point", "geometry": geometry}
    chain.rejected("coop-other", body, NotAuthorized)
    e = chain.rejected(COOP, {**body, "plot": f"{COOP}:p-none"}, UnknownReference)
    assert e.field == "plot"


@pytest.mark.parametrize(
    ("geometry", "field"),
    [
        ({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, "geometry.type"),
        ({"type": "Point", "coordinates": ["-190", "0"]}, "geometry.coordinates[0]"),
        ({"type": "Point", "coordinates": ["0"]}, "geometry.coordinates"),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]},
            "geometry.coordinates[0]",
        ),
    ],
)
def test_plot_map_needs_a_well_formed_geometry(
    chain: Chain, geometry: dict[str, Any], field: str
) -> None:
    body = {"type": "plot.map", "plot": P1, "method": "gps", "geometry": geometry}
    e = chain.rejected(COOP, body, InvalidEvent)
    assert e.field is not None and e.field.startswith(field)


def test_plot_map_polygon_is_accepted(chain: Chain) -> None:
    ring = [
        ["-74.4900", "-11.4200"],
        ["-74.4886", "-11.4200"],
        ["-74.4886", "-11.4186"],
        ["-74.4900", "-11.4186"],
        ["-74.4900", "-11.4200"],
    ]  # about 2.4 ha
    chain.record(
        COOP,
        {
            "type": "plot.map",
            "plot": P1,
            "method": "gps-walk",
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        },
    )


def test_receive_is_signed_by_the_addressee(stocked: tuple[Chain, str]) -> None:
    chain, h = stocked
    s = chain.record(COOP, ship(EXPORTER, line(LOT, h, "460")))
    e = chain.rejected(IMPORTER, receive(s, (LOT, "460")), UnknownReference)
    # the refusal does not say whom the shipment was for: it reads as for no shipment
    assert EXPORTER not in e.message and e.field == "shipment"
    none = chain.rejected(IMPORTER, receive("sha256:" + "0" * 64, (LOT, "460")), UnknownReference)
    assert none.message.replace("sha256:" + "0" * 64, s) == e.message


# --- holdings ------------------------------------------------------------------------------


def test_ship_more_than_held(stocked: tuple[Chain, str]) -> None:
    chain, h = stocked
    e = chain.rejected(COOP, ship(EXPORTER, line(LOT, h, "11", "quintal")), InsufficientQuantity)
    assert e.field == "lots[0].quantity"
    assert (e.details["held"], e.details["asked"]) == (D(460), D(506))
    assert e.to_dict()["held"] == "460" and e.to_dict()["asked"] == "506"
    assert "holds 460 kg" in e.message and "asks for 506 kg" in e.message
    assert str(e).startswith("event 0, field 'lots[0].quantity'")


def test_ship_an_unknown_lot(stocked: tuple[Chain, str]) -> None:
    chain, h = stocked
    e = chain.rejected(COOP, ship(EXPORTER, line(f"{COOP}:nope", h, "1")), UnknownLot)
    assert e.field == "lots[0].lot"


def test_ship_through_an_unknown_event(stocked: tuple[Chain, str]) -> None:
    chain, _h = stocked
    e = chain.rejected(COOP, ship(EXPORTER, line(LOT, "sha256:" + "0" * 64, "1")), NotHolder)
    assert e.field == "lots[0].event"


def test_naming_another_partys_event_reads_as_naming_none(stocked: tuple[Chain, str]) -> None:
    """No refusal tells a signer the type or signer of someone else's event."""
    chain, h = stocked
    foreign = chain.rejected(EXPORTER, ship(IMPORTER, line(LOT, h, "1")), NotHolder)
    missing = "sha256:" + "0" * 64
    none = chain.rejected(EXPORTER, ship(IMPORTER, line(LOT, missing, "1")), NotHolder)
    assert f"signed by {COOP!r}" not in foreign.message and "(a harvest" not in foreign.message
    assert none.message.replace(missing, h) == foreign.message


def test_ship_what_another_party_holds(stocked: tuple[Chain, str]) -> None:
    chain, h = stocked
    e = chain.rejected(EXPORTER, ship(IMPORTER, line(LOT, h, "1")), NotHolder)
    assert e.field == "lots[0].event" and e.details["held"] == 0


def test_ship_to_an_unregistered_party(stocked: tuple[Chain, str]) -> None:
    chain, h = stocked
    e = chain.rejected(COOP, ship("nobody", line(LOT, h, "1")), UnknownReference)
    assert e.field == "to"


def test_no_quantity_spent_twice_within_one_batch(stocked: tuple[Chain, str]) -> None:
    chain, h = stocked
    world = chain.world
    first = world.sign(COOP, ship(EXPORTER, line(LOT, h, "400")))
    second = world.sign(
        COOP,
        {
            "type": "dispose",
            "lot": LOT,
            "event": h,
            "quantity": "100",
            "unit": "kg",
            "reason": "spoiled",
        },
    )
    with pytest.raises(InsufficientQuantity) as info:
        world.append(first, second)
    assert info.value.index == 1
    assert (info.value.details["held"], info.value.details["asked"]) == (D(60), D(100))
    assert str(info.value).startswith("event 1, field 'quantity'")
    assert held(chain.store) == {(COOP, LOT): D(460)}  # nothing of the batch was kept
    assert transit(chain.store) == {}


def test_no_quantity_spent_twice_across_events(stocked: tuple[Chain, str]) -> None:
    chain, h = stocked
    chain.record(COOP, ship(EXPORTER, line(LOT, h, "460")))
    e = chain.rejected(COOP, ship(IMPORTER, line(LOT, h, "1")), InsufficientQuantity)
    assert e.details["held"] == 0


def test_the_same_holding_twice_in_one_event(stocked: tuple[Chain, str]) -> None:
    chain, h = stocked
    e = chain.rejected(COOP, ship(EXPORTER, line(LOT, h, "300"), line(LOT, h, "300")), InvalidEvent)
    assert e.field == "lots[1].lot"


def test_dispose_more_than_held(stocked: tuple[Chain, str]) -> None:
    chain, h = stocked
    body = {
        "type": "dispose",
        "lot": LOT,
        "event": h,
        "quantity": "461",
        "unit": "kg",
        "reason": "spoiled",
    }
    e = chain.rejected(COOP, body, InsufficientQuantity)
    assert e.field == "quantity"
    chain.record(COOP, {**body, "quantity": "1"})
    assert held(chain.store) == {(COOP, LOT): D(459)}


def test_spend_dated_before_custody_began(stocked: tuple[Chain, str]) -> None:
    chain, h = stocked
    before = (chain.world.clock - timedelta(minutes=1)).isoformat()  # just before the harvest
    body = {**ship(EXPORTER, line(LOT, h, "1")), "time": before}
    e = chain.rejected(COOP, body, TimeError)
    assert e.field == "time" and h in e.message


# --- receipts ------------------------------------------------------------------------------


def test_receive_more_than_shipped(stocked: tuple[Chain, str]) -> None:
    chain, h = stocked
    s = chain.record(COOP, ship(EXPORTER, line(LOT, h, "400")))
    e = chain.rejected(EXPORTER, receive(s, (LOT, "400.5")), ReceiptExceedsShipment)
    assert e.field == "lots[0].quantity"
    assert (e.details["shipped"], e.details["claimed"]) == (D(400), D("400.5"))


def test_a_shipment_is_received_once(stocked: tuple[Chain, str]) -> None:
    chain, h = stocked
    s = chain.record(COOP, ship(EXPORTER, line(LOT, h, "400")))
    r = chain.record(EXPORTER, receive(s, (LOT, "399")))
    e = chain.rejected(EXPORTER, receive(s, (LOT, "1")), AlreadyReceived)
    assert e.details["received_by"] == r
    view = get_lot(chain.store, LOT)
    assert view is not None and view.lost == D(1)


def test_receive_a_lot_not_in_the_shipment(stocked: tuple[Chain, str]) -> None:
    chain, h = stocked
    s = chain.record(COOP, ship(EXPORTER, line(LOT, h, "400")))
    e = chain.rejected(EXPORTER, receive(s, (f"{COOP}:other", "1")), UnknownLot)
    assert e.field == "lots[0].lot"


def test_receive_something_that_is_not_a_shipment(stocked: tuple[Chain, str]) -> None:
    chain, h = stocked
    e = chain.rejected(EXPORTER, receive(h, (LOT, "1")), UnknownReference)
    assert "harvest" not in e.message  # another party's event: nothing about it is told
    own = chain.rejected(COOP, receive(h, (LOT, "1")), UnknownReference)
    assert "harvest" in own.message


def test_receive_dated_before_the_shipment(stocked: tuple[Chain, str]) -> None:
    chain, h = stocked
    s = chain.record(COOP, ship(EXPORTER, line(LOT, h, "400")))
    before = (chain.world.clock - timedelta(minutes=1)).isoformat()  # just before the ship
    body = {**receive(s, (LOT, "400")), "time": before}
    e = chain.rejected(EXPORTER, body, TimeError)
    assert s in e.message


def test_an_unlisted_lot_is_lost_whole(chain: Chain) -> None:
    a, b = f"{COOP}:a", f"{COOP}:b"
    ha = chain.harvest(a, "100", form="parchment")
    hb = chain.harvest(b, "50", form="parchment")
    s = chain.record(COOP, ship(EXPORTER, line(a, ha, "100"), line(b, hb, "50")))
    chain.record(EXPORTER, receive(s, (a, "100")))
    assert held(chain.store) == {(EXPORTER, a): D(100)}
    view = get_lot(chain.store, b)
    assert view is not None and view.lost == D(50) and view.transit_kg == 0


# --- conservation --------------------------------------------------------------------------


def test_transform_beyond_the_maximum_yield(stocked: tuple[Chain, str]) -> None:
    chain, h = stocked
    body = {
        "type": "transform",
        "process": "dry-mill",
        "inputs": [line(LOT, h, "460")],
        "outputs": [output(f"{COOP}:g-1", "green", "380")],
    }
    e = chain.rejected(COOP, body, YieldExceeded)
    allowed = D(460) * D("0.82") * D("1.005")
    assert (e.details["allowed"], e.details["claimed"]) == (allowed, D(380))
    assert e.field == "outputs[0].quantity"
    chain.record(COOP, {**body, "outputs": [output(f"{COOP}:g-1", "green", str(allowed))]})


def test_forms_move_one_way(chain: Chain) -> None:
    g = chain.harvest(LOT, "100", form="green")
    body = {
        "type": "transform",
        "process": "wet-mill",
        "inputs": [line(LOT, g, "100")],
        "outputs": [output(f"{COOP}:c-1", "cherry", "1")],
    }
    e = chain.rejected(COOP, body, YieldExceeded)
    assert e.field == "outputs[0].form" and "one way" in e.message
    assert (e.details["allowed"], e.details["claimed"]) == (0, 1)


def test_outputs_of_several_forms_share_the_inputs(chain: Chain) -> None:
    member, plot = f"{COOP}:m-bee", f"{COOP}:p-bee"
    chain.record(COOP, enroll_body(member, [(plot, "1")], products=("honey",)))
    h = chain.harvest(LOT, "100", product="honey", form="raw", member=member, plot=plot)
    body: dict[str, Any] = {
        "type": "transform",
        "process": "pack",
        "inputs": [line(LOT, h, "100")],
        "outputs": [
            output(f"{COOP}:jar-1", "packed", "60", product="honey"),
            output(f"{COOP}:drum-1", "raw", "60", product="honey"),
        ],
    }
    e = chain.rejected(COOP, body, YieldExceeded)  # each ≤ 100.5 kg, together 120 kg
    assert e.field == "outputs" and e.details["claimed"] > 1
    body["outputs"][1]["quantity"] = "40"
    chain.record(COOP, body)
    assert held(chain.store) == {(COOP, f"{COOP}:jar-1"): D(60), (COOP, f"{COOP}:drum-1"): D(40)}


def test_a_process_must_fit_the_form_step(stocked: tuple[Chain, str]) -> None:
    chain, h = stocked
    body = {
        "type": "transform",
        "process": "roast",
        "inputs": [line(LOT, h, "460")],
        "outputs": [output(f"{COOP}:g-1", "green", "300")],
    }
    e = chain.rejected(COOP, body, InvalidEvent)
    assert e.field == "process" and "parchment → green" in e.message
    e = chain.rejected(COOP, {**body, "process": "teleport"}, InvalidEvent)
    assert e.field == "process"


def test_split_keeps_mass(stocked: tuple[Chain, str]) -> None:
    chain, h = stocked
    body: dict[str, Any] = {
        "type": "transform",
        "process": "split",
        "inputs": [line(LOT, h, "460")],
        "outputs": [
            output(f"{COOP}:s-1", "parchment", "300"),
            output(f"{COOP}:s-2", "parchment", "200"),
        ],
    }
    e = chain.rejected(COOP, body, YieldExceeded)
    assert e.details["claimed"] == D(500)
    body["outputs"][1]["quantity"] = "160"
    chain.record(COOP, body)
    assert held(chain.store) == {(COOP, f"{COOP}:s-1"): D(300), (COOP, f"{COOP}:s-2"): D(160)}


def test_a_lot_id_is_created_once(stocked: tuple[Chain, str]) -> None:
    chain, h = stocked
    e = chain.rejected(COOP, harvest_body(LOT, "46"), DuplicateLot)
    assert e.field == "lot" and e.details["created_by"] == h
    body = {
        "type": "transform",
        "process": "split",
        "inputs": [line(LOT, h, "100")],
        "outputs": [output(f"{COOP}:s-1", "parchment", "50")],
    }
    chain.record(COOP, body)
    body["inputs"] = [line(LOT, h, "50")]
    e = chain.rejected(COOP, body, DuplicateLot)
    assert e.field == "outputs[0].lot"


def test_output_lot_ids_belong_to_the_signer(stocked: tuple[Chain, str]) -> None:
    chain, h = stocked
    body = {
        "type": "transform",
        "process": "split",
        "inputs": [line(LOT, h, "100")],
        "outputs": [output(f"{EXPORTER}:s-1", "parchment", "50")],
    }
    e = chain.rejected(COOP, body, InvalidEvent)
    assert e.field == "outputs[0].lot"


def test_a_transform_keeps_its_product(stocked: tuple[Chain, str]) -> None:
    chain, h = stocked
    body = {
        "type": "transform",
        "process": "dry",
        "inputs": [line(LOT, h, "100")],
        "outputs": [output(f"{COOP}:x-1", "dry-beans", "1", product="cacao")],
    }
    e = chain.rejected(COOP, body, InvalidEvent)
    assert e.field == "inputs[0].lot"


# --- units and quantities ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "unit", "field"),
    [
        ("46", "sack", "unit"),
        ("0", "kg", "quantity"),
        ("-1", "kg", "quantity"),
        ("1e3", "kg", "quantity"),
        (46, "kg", "quantity"),
    ],
)
def test_bad_quantities(chain: Chain, quantity: Any, unit: str, field: str) -> None:
    e = chain.rejected(COOP, harvest_body(LOT, quantity, unit=unit), InvalidEvent)
    assert e.field == field


@pytest.mark.parametrize(
    ("quantity", "unit", "kg"),
    [
        ("1", "quintal", "46"),
        ("2", "bag-69", "138"),
        ("1", "bag-70", "70"),
        ("1", "t", "1000"),
        ("500", "g", "0.5"),
        ("100", "lb", "45.359237"),
    ],
)
def test_units_are_stored_in_kg_with_the_original(
    chain: Chain, quantity: str, unit: str, kg: str
) -> None:
    chain.harvest(LOT, quantity, unit=unit)
    view = get_lot(chain.store, LOT)
    assert view is not None
    assert (view.quantity, view.unit, view.kg) == (quantity, unit, D(kg))


def test_unknown_fields_are_rejected(stocked: tuple[Chain, str]) -> None:
    chain, h = stocked
    e = chain.rejected(COOP, {**ship(EXPORTER, line(LOT, h, "1")), "price": "3"}, InvalidEvent)
    assert e.field == "price"
    bad = {**line(LOT, h, "1"), "grade": "AA"}
    e = chain.rejected(COOP, ship(EXPORTER, bad), InvalidEvent)
    assert e.field == "lots[0].grade"


# --- void ----------------------------------------------------------------------------------


def _void(event: str) -> dict[str, Any]:
    return {"type": "void", "event": event, "reason": "quantity typed wrong"}


def test_only_the_original_signer_voids(stocked: tuple[Chain, str]) -> None:
    chain, h = stocked
    e = chain.rejected(EXPORTER, _void(h), UnknownReference)
    assert COOP not in e.message  # as for an event that does not exist
    none = chain.rejected(EXPORTER, _void("sha256:" + "0" * 64), UnknownReference)
    assert none.message.replace("sha256:" + "0" * 64, h) == e.message


def test_void_refused_while_something_builds_on_it(stocked: tuple[Chain, str]) -> None:
    chain, h = stocked
    s = chain.record(COOP, ship(EXPORTER, line(LOT, h, "10")))
    e = chain.rejected(COOP, _void(h), VoidRefused)
    assert e.details["built_on_by"] == s
    chain.record(EXPORTER, receive(s, (LOT, "10")))
    e = chain.rejected(COOP, _void(s), VoidRefused)  # received: the receipt builds on it


def test_void_a_harvest(stocked: tuple[Chain, str]) -> None:
    chain, h = stocked
    v = chain.record(COOP, _void(h))
    assert held(chain.store) == {}
    view = get_lot(chain.store, LOT)
    assert view is not None and view.voided_by == v
    chain.rejected(COOP, _void(h), VoidRefused)  # once
    e = chain.rejected(COOP, ship(EXPORTER, line(LOT, h, "1")), UnknownReference)
    assert "voided" in e.message
    chain.rejected(COOP, harvest_body(LOT, "460"), DuplicateLot)  # the id stays taken


def test_void_a_shipment_gives_custody_back(stocked: tuple[Chain, str]) -> None:
    chain, h = stocked
    s = chain.record(COOP, ship(EXPORTER, line(LOT, h, "100")))
    assert held(chain.store) == {(COOP, LOT): D(360)}
    chain.record(COOP, _void(s))
    assert held(chain.store) == {(COOP, LOT): D(460)}
    assert transit(chain.store) == {}
    e = chain.rejected(EXPORTER, receive(s, (LOT, "100")), UnknownReference)
    assert "voided" in e.message


def test_void_a_receipt_puts_the_shipment_back_in_transit(stocked: tuple[Chain, str]) -> None:
    chain, h = stocked
    s = chain.record(COOP, ship(EXPORTER, line(LOT, h, "100")))
    r = chain.record(EXPORTER, receive(s, (LOT, "10")))
    chain.record(EXPORTER, _void(r))
    assert transit(chain.store) == {LOT: D(100)}
    assert held(chain.store) == {(COOP, LOT): D(360)}
    chain.record(EXPORTER, receive(s, (LOT, "100")))
    assert held(chain.store) == {(COOP, LOT): D(360), (EXPORTER, LOT): D(100)}


def test_void_a_transform_restores_its_inputs(stocked: tuple[Chain, str]) -> None:
    chain, h = stocked
    t = chain.record(
        COOP,
        {
            "type": "transform",
            "process": "dry-mill",
            "inputs": [line(LOT, h, "460")],
            "outputs": [output(f"{COOP}:g-1", "green", "370")],
        },
    )
    assert held(chain.store) == {(COOP, f"{COOP}:g-1"): D(370)}
    chain.record(COOP, _void(t))
    assert held(chain.store) == {(COOP, LOT): D(460)}


def test_master_data_events_are_not_voidable(chain: Chain) -> None:
    with chain.store.reading() as session:
        from sqlalchemy import select

        from ledger.schema import EventRow

        first = session.scalar(select(EventRow.id).where(EventRow.index == 0))
    assert first is not None
    e = chain.rejected("operator", _void(first), VoidRefused)
    assert "party.register" in e.message


def test_void_an_enrolment_only_without_harvests(chain: Chain) -> None:
    enroll = chain.record(COOP, enroll_body(f"{COOP}:m-9", [(f"{COOP}:p-9", "1")]))
    h = chain.harvest(LOT, "46", member=f"{COOP}:m-9", plot=f"{COOP}:p-9")
    e = chain.rejected(COOP, _void(enroll), VoidRefused)
    assert e.details["built_on_by"] == h
    chain.record(COOP, _void(h))
    chain.record(COOP, _void(enroll))
    chain.rejected(
        COOP,
        harvest_body(f"{COOP}:h-2", "46", member=f"{COOP}:m-9", plot=f"{COOP}:p-9"),
        UnknownReference,
    )


def test_a_rejected_batch_keeps_nothing(stocked: tuple[Chain, str]) -> None:
    chain, h = stocked
    world = chain.world
    size = chain.store.size()
    good = world.sign(COOP, ship(EXPORTER, line(LOT, h, "100")))
    bad = world.sign(
        COOP,
        {
            "type": "transform",
            "process": "dry-mill",
            "inputs": [line(LOT, h, "360")],
            "outputs": [output(f"{COOP}:g-1", "green", "360")],
        },
    )
    with pytest.raises(YieldExceeded) as info:
        world.append(good, bad)
    assert info.value.index == 1
    assert chain.store.size() == size
    assert held(chain.store) == {(COOP, LOT): D(460)} and transit(chain.store) == {}
    assert get_lot(chain.store, f"{COOP}:g-1") is None
