"""The price section: exactly the disclosed figures, recomputed by `trazo verify`, and an
undisclosed payment in neither a page nor a bundle."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from typing import Any

from sqlalchemy import select

from graph.ancestry import gather
from graph.bundle import build_bundle
from graph.origin import origin_verdict
from graph.verify import verify_bundle
from ledger.checkpoint import LogKey
from ledger.envelope import Envelope, raw_public_key
from ledger.log import SqlNodes, latest_row
from ledger.merkle import inclusion_proof
from ledger.schema import EventRow
from ledger.store import Store
from tests.graph import chains
from tests.graph.fair import paid_chain
from tests.support import World

TRUSTED = LogKey(raw_public_key(chains.log_private().public_key()))


def payloads(bundle: dict[str, Any]) -> list[bytes]:
    return [base64.b64decode(e["envelope"]["payload"]) for e in bundle["events"]]


def bundle_ids(bundle: dict[str, Any]) -> set[str]:
    return {"sha256:" + hashlib.sha256(p).hexdigest() for p in payloads(bundle)}


def with_events(store: Store, bundle: dict[str, Any], *ids: str) -> dict[str, Any]:
    """``bundle`` with the stored events ``ids`` added, each with a true inclusion proof:
    what an operator holding the database and the log can serve."""
    forged = copy.deepcopy(bundle)
    with store.reading() as session:
        checkpoint = latest_row(session)
        assert checkpoint is not None
        nodes = SqlNodes(session)
        for event_id in ids:
            row = session.scalar(select(EventRow).where(EventRow.id == event_id))
            assert row is not None
            forged["events"].append(
                {
                    "index": row.index,
                    "envelope": Envelope.from_json(row.envelope).to_dict(),
                    "inclusion": [
                        h.hex() for h in inclusion_proof(row.index, checkpoint.size, nodes)
                    ],
                }
            )
    forged["events"].sort(key=lambda e: e["index"])
    return forged


def test_the_bundle_shows_exactly_the_disclosed_figures_and_verify_recomputes_them(
    sqlite_world: World,
) -> None:
    fair = paid_chain(sqlite_world)
    assert fair.bag is not None
    bundle = build_bundle(sqlite_world.store, fair.bag)
    (figures,) = bundle["verdict"]["prices"]
    assert figures == {
        "spo": chains.COOP,
        "buyers": [chains.EXPORTER],
        "scheme": "SPP",
        "standard": "spp-global",
        "basis": "FOB",
        "currency": "USD",
        "unit": "lb",
        "form": "green",
        "kg": "100.000",
        "price": "3.10",
        "minimum": "2.52",
        "above_minimum": "0.58",
        "premium_paid": "0.20",
        "premium_due": "0.20",
        # 9.50 PEN/kg × 0.27 USD/PEN = 2.565 USD/kg = 1.1635 USD/lb: 37.5 % of 3.10
        "farmgate": "1.16",
        "farmgate_percent": "37.5",
        "farmgate_kg": "100.000",
        "events": {
            "payments": [fair.payment],
            "confirmations": [fair.confirmation],
            "price_lists": [fair.price_list],
            "member_payments": [fair.member_payment],
        },
    }
    assert {fair.payment, fair.confirmation, fair.price_list, fair.member_payment} <= bundle_ids(
        bundle
    )
    report = verify_bundle(json.loads(json.dumps(bundle)), TRUSTED)
    assert report.ok, [str(f) for f in report.findings]
    assert report.verdict is not None and report.verdict.prices.to_list() == [figures]


def test_a_changed_figure_is_a_verdict_finding(sqlite_world: World) -> None:
    fair = paid_chain(sqlite_world)
    assert fair.bag is not None
    bundle = build_bundle(sqlite_world.store, fair.bag)
    bundle["verdict"]["prices"][0]["price"] = "3.50"
    bundle["verdict"]["prices"][0]["above_minimum"] = "0.98"
    report = verify_bundle(json.loads(json.dumps(bundle)), TRUSTED)
    assert [f.check for f in report.findings] == ["verdict"]
    assert 'verdict.prices[0].price: claimed "3.50", recomputed "3.10"' in str(report.findings[0])


def test_figures_claimed_without_their_events_are_a_finding(sqlite_world: World) -> None:
    fair = paid_chain(sqlite_world)
    assert fair.bag is not None
    bundle = build_bundle(sqlite_world.store, fair.bag)
    stripped = copy.deepcopy(bundle)
    stripped["events"] = [
        e
        for e in stripped["events"]
        if e["index"] not in _indexes(sqlite_world.store, fair.confirmation)
    ]
    report = verify_bundle(json.loads(json.dumps(stripped)), TRUSTED)
    assert "verdict" in {f.check for f in report.findings}


def _indexes(store: Store, *ids: str | None) -> set[int]:
    with store.reading() as session:
        return {
            row.index
            for row in session.scalars(
                select(EventRow).where(EventRow.id.in_([i for i in ids if i]))
            )
        }


def test_an_undisclosed_payment_is_in_neither_the_bundle_nor_the_verdict(
    sqlite_world: World,
) -> None:
    # the buyer disclosed, the cooperative did not: nothing of it is public
    fair = paid_chain(sqlite_world, confirm_disclose=False, member_disclose=False, price="3.37")
    assert fair.bag is not None
    bundle = build_bundle(sqlite_world.store, fair.bag)
    raw = json.dumps(bundle).encode()
    assert "prices" not in bundle["verdict"]
    for event_id in (fair.payment, fair.confirmation, fair.member_payment):
        assert event_id is not None and event_id.encode() not in raw
    assert not any(b'"payment' in p or b'"member.payment"' in p for p in payloads(bundle))
    assert b"3.37" not in raw and not any(b"3.37" in p for p in payloads(bundle))
    assert verify_bundle(json.loads(raw), TRUSTED).ok
    # nor in the verdict the API and the page show
    verdict = origin_verdict(fair.bag, gather(sqlite_world.store, fair.bag))
    assert not verdict.prices and "prices" not in verdict.to_dict()


def test_a_disclosed_member_payment_alone_is_not_in_the_bundle(sqlite_world: World) -> None:
    fair = paid_chain(sqlite_world, confirm_disclose=False)
    assert fair.bag is not None and fair.member_payment
    bundle = build_bundle(sqlite_world.store, fair.bag)
    assert fair.member_payment not in bundle_ids(bundle)
    assert fair.price_list not in bundle_ids(bundle)
    assert verify_bundle(json.loads(json.dumps(bundle)), TRUSTED).ok


def test_an_undisclosed_payment_smuggled_into_a_bundle_is_named(sqlite_world: World) -> None:
    """The operator adds the undisclosed payment and its confirmation, with true inclusion
    proofs, and claims its figures: the verifier does not show them and names both events."""
    fair = paid_chain(sqlite_world, confirm_disclose=False)
    assert fair.bag is not None and fair.payment and fair.confirmation
    honest = build_bundle(sqlite_world.store, fair.bag)
    forged = with_events(sqlite_world.store, honest, fair.payment, fair.confirmation)
    report = verify_bundle(json.loads(json.dumps(forged)), TRUSTED)
    assert {(f.check, f.event) for f in report.findings} == {
        ("references", fair.payment),
        ("references", fair.confirmation),
    }
    assert report.verdict is not None and not report.verdict.prices


def test_a_forged_disclosure_breaks_the_signature(sqlite_world: World) -> None:
    """Rewriting the cooperative's confirmation to say ``"disclose": true`` changes the
    signed bytes: the event is refused and no figure is shown."""
    fair = paid_chain(sqlite_world, confirm_disclose=False)
    assert fair.bag is not None and fair.payment and fair.confirmation
    honest = build_bundle(sqlite_world.store, fair.bag)
    forged = with_events(sqlite_world.store, honest, fair.payment, fair.confirmation)
    for item in forged["events"]:
        payload = base64.b64decode(item["envelope"]["payload"])
        if b'"payment.confirm"' in payload:
            body = json.loads(payload)
            body["disclose"] = True
            rewritten = json.dumps(body).encode()
            item["envelope"]["payload"] = base64.b64encode(rewritten).decode()
            forged_id = "sha256:" + hashlib.sha256(rewritten).hexdigest()
    report = verify_bundle(json.loads(json.dumps(forged)), TRUSTED)
    assert ("signatures", forged_id) in {(f.check, f.event) for f in report.findings}
    assert report.verdict is not None and not report.verdict.prices


def test_a_confirmation_signed_by_the_buyer_discloses_nothing(sqlite_world: World) -> None:
    """A ``payment.confirm`` by the payer itself (forged behind the append path, with the
    payer's real key) is refused by the rules, so it cannot disclose the figures."""
    from tests.graph.test_forged_bundles import smuggle

    fair = paid_chain(sqlite_world, confirm_disclose=False)
    assert fair.bag is not None and fair.payment
    fake = sqlite_world.sign(
        chains.EXPORTER, {"type": "payment.confirm", "payment": fair.payment, "disclose": True}
    )
    smuggle(sqlite_world, fake)
    honest = build_bundle(sqlite_world.store, fair.bag)
    forged = with_events(
        sqlite_world.store, honest, fair.payment, fake.id if hasattr(fake, "id") else ""
    )
    report = verify_bundle(json.loads(json.dumps(forged)), TRUSTED)
    assert not report.ok
    assert report.verdict is not None and not report.verdict.prices


def test_a_settlement_naming_deliveries_outside_the_lot_still_verifies(
    sqlite_world: World,
) -> None:
    """A member payment settles all of a member's deliveries, and a payment may cover
    several receipts; a bundle carries only those of its lot, and `trazo verify` checks
    those (what it does not carry is not in evidence, and no figure rests on it)."""
    from tests.graph.chains import COOP, EXPORTER, M1, P1, ROASTER
    from tests.graph.fair import LOT, member_payment_body, payment_body, setup

    fair = setup(sqlite_world)
    c = fair.c
    other = c.harvest(COOP, f"{COOP}:h-2", "50", M1, P1)
    other_receipt = c.move(COOP, EXPORTER, f"{COOP}:h-2", other, "50")
    settled = c.append(
        COOP, member_payment_body(fair.harvest, harvests=[fair.harvest, other], amount="1425")
    )
    paid = c.append(
        EXPORTER, payment_body(fair.receipt, receipts=[fair.receipt, other_receipt], kg="150")
    )
    c.append(COOP, {"type": "payment.confirm", "payment": paid, "disclose": True})
    at_roaster = c.move(EXPORTER, ROASTER, LOT, fair.receipt, "100")
    bag = chains.roast_and_pack(c, [(LOT, at_roaster, "100")], "100")
    bundle = build_bundle(sqlite_world.store, bag)
    assert {settled, paid} <= bundle_ids(bundle) and other not in bundle_ids(bundle)
    report = verify_bundle(json.loads(json.dumps(bundle)), TRUSTED)
    assert report.ok, [str(f) for f in report.findings]
    (figures,) = report.verdict.prices.figures if report.verdict else ()
    assert (str(figures.kg), str(figures.farmgate_kg)) == ("100.000", "100.000")


def passed_on_premium(world: World) -> tuple[str, dict[str, str]]:
    """A cooperative that pays its member a large second payment and passes almost all of
    its 0.20/lb incentive on as premium: the bag, and the member payments by part."""
    from tests.graph.chains import EXPORTER, ROASTER
    from tests.graph.fair import LOT, member_payment_body, payment_body, setup

    fair = setup(world)
    c = fair.c
    parts = {
        "price": c.append(chains.COOP, member_payment_body(fair.harvest)),
        # 1.80 US$/lb × 220.462 lb
        "second-payment": c.append(
            chains.COOP,
            member_payment_body(
                fair.harvest,
                part="second-payment",
                price="1.80",
                unit="lb",
                currency="USD",
                rate=None,
                amount="396.83",
            ),
        ),
        # 0.18 of the 0.20 US$/lb incentive distributed
        "premium": c.append(
            chains.COOP,
            member_payment_body(
                fair.harvest,
                part="premium",
                price="0.18",
                unit="lb",
                currency="USD",
                rate=None,
                amount="39.68",
            ),
        ),
    }
    paid = c.append(EXPORTER, payment_body(fair.receipt))
    c.append(chains.COOP, {"type": "payment.confirm", "payment": paid, "disclose": True})
    at_roaster = c.move(EXPORTER, ROASTER, LOT, fair.receipt, "100")
    return chains.roast_and_pack(c, [(LOT, at_roaster, "100")], "100"), parts


def test_the_farm_gate_share_compares_coffee_price_with_coffee_price(
    sqlite_world: World,
) -> None:
    """The FOB price excludes the premium, so the farm-gate price it is divided by does
    too: premium distributed to members is not coffee price. Counting it inflated the
    share past 100 % (1.16 + 1.80 + 0.18 = 3.14/lb against 3.10: "101.4")."""
    bag, parts = passed_on_premium(sqlite_world)
    bundle = build_bundle(sqlite_world.store, bag)
    (figures,) = bundle["verdict"]["prices"]
    # 1.1635 + 1.80 = 2.9635 US$/lb: 95.6 % of 3.10
    assert (figures["price"], figures["premium_paid"]) == ("3.10", "0.20")
    assert (figures["farmgate"], figures["farmgate_percent"]) == ("2.96", "95.6")
    assert figures["events"]["member_payments"] == [parts["price"], parts["second-payment"]]
    assert parts["premium"] not in bundle_ids(bundle)  # no figure rests on it
    report = verify_bundle(json.loads(json.dumps(bundle)), TRUSTED)
    assert report.ok, [str(f) for f in report.findings]
    assert report.verdict is not None and report.verdict.prices.to_list() == [figures]
