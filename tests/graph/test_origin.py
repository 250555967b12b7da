"""Origin verdicts on hand-built chains with known answers."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from graph.ancestry import LotNotFound, downstream_ids, gather, lot_row, upstream_ids
from graph.origin import origin_verdict
from tests.graph import chains
from tests.support import World


def verdict(world: World, bag: str):  # type: ignore[no-untyped-def]
    return origin_verdict(bag, gather(world.store, bag))


def codes(share) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.code for r in share.reasons]


def test_single_origin_is_100_percent(world: World) -> None:
    v = verdict(world, chains.single_origin(world))
    assert bool(v) and v.certified_fraction == 1
    assert v.certified_percent == Decimal("100.00")
    assert v.kg == Decimal("80") and v.certified_kg == Decimal("80.000")
    (share,) = v.shares
    assert share.source == chains.COOP and share.member == chains.M1 and share.plot == chains.P1
    assert share.country == "PE" and share.certified
    assert v.summary["spos"] == [chains.COOP] and v.summary["members"] == 1
    assert v.summary["countries"] == ["PE"]


def test_blend_of_spp_and_plantation_is_60_percent(world: World) -> None:
    v = verdict(world, chains.blend_60_40(world))
    assert not v
    assert v.certified_fraction == Fraction(3, 5)
    assert v.certified_percent == Decimal("60.00")
    assert v.certified_kg == Decimal("48.000")
    by_source = {s.source: s for s in v.shares}
    assert by_source[chains.COOP].certified
    estate = by_source[chains.ESTATE]
    assert estate.fraction == Fraction(2, 5) and estate.kg == Decimal("32.000")
    assert "non-member-source" in codes(estate)


def test_blend_of_two_spos_gives_shares_per_spo(world: World) -> None:
    v = verdict(world, chains.two_spos(world))
    assert bool(v)
    by_source = {s.source: s.fraction for s in v.shares}
    assert by_source == {chains.COOP: Fraction(3, 10), chains.COOP2: Fraction(7, 10)}
    assert v.summary["spos"] == [chains.COOP2, chains.COOP]
    assert v.summary["countries"] == ["HN", "PE"]
    assert sum(s.kg for s in v.shares) == v.kg
    assert sum(s.percent for s in v.shares) == Decimal("100.00")


def test_expired_certificate_at_harvest_fails_the_share(world: World) -> None:
    v = verdict(world, chains.single_origin(world, cert_until="2025-12-31"))
    assert v.certified_fraction == 0
    reasons = v.shares[0].reasons
    assert any(r.code == "certificate" and "expired on 2025-12-31" in r.message for r in reasons)


def test_oversize_plot_fails_its_share_only(world: World) -> None:
    v = verdict(world, chains.oversize_plot(world))
    assert v.certified_fraction == Fraction(1, 2)
    bad = [s for s in v.shares if not s.certified]
    assert len(bad) == 1 and bad[0].plot == chains.PBIG
    assert "22 ha" in bad[0].reasons[0].message and "15 ha" in bad[0].reasons[0].message


def test_uncertified_trader_in_the_middle_fails_everything(world: World) -> None:
    v = verdict(world, chains.single_origin(world, uncertified=(chains.EXPORTER,)))
    assert v.certified_fraction == 0
    assert {r.code for r in v.shares[0].reasons} == {"uncertified-intermediary"}
    assert all(chains.EXPORTER in r.message for r in v.shares[0].reasons)


def test_voided_receipt_is_not_in_the_ancestry(world: World) -> None:
    bag = chains.voided_receipt(world)
    v = verdict(world, bag)
    assert bool(v)
    evidence = gather(world.store, bag)
    voided = evidence.voided()
    assert len(voided) == 0  # the voided receipt is no link of this bag's custody
    assert sum(1 for r in evidence.of_type("receive")) == 3


def test_ancestry_and_descendants(world: World) -> None:
    bag = chains.single_origin(world)
    with world.store.reading() as session:
        up = upstream_ids(session, bag)
        harvest = lot_row(session, f"{chains.COOP}:h-1").event
        down = downstream_ids(session, f"{chains.COOP}:h-1")
        assert len(up) == 9  # harvest, 2×(ship, receive), roast, ship, receive, pack
        assert harvest in up and harvest not in down
        assert up - {harvest} == down  # nothing else was made from this harvest
        with pytest.raises(LotNotFound):
            upstream_ids(session, "nobody:nothing")


def test_rounding_adds_up_exactly(world: World) -> None:
    c = chains.base(world)
    parts = []
    for i, kg in enumerate(("1", "1", "1")):
        lot = f"{chains.COOP}:h-{i}"
        h = c.harvest(chains.COOP, lot, kg, chains.M1, chains.P1)
        parts.append((lot, chains.to_roaster(c, chains.COOP, lot, h, kg), kg))
    roasted = f"{chains.ROASTER}:r"
    c.transform(chains.ROASTER, "roast", parts, [(roasted, "roasted", "1.001")])
    v = origin_verdict(roasted, gather(world.store, roasted))
    assert [s.fraction for s in v.shares] == [Fraction(1, 3)] * 3
    assert sum(s.kg for s in v.shares) == Decimal("1.001")
    assert sum(s.percent for s in v.shares) == Decimal("100.00")
    assert sorted(str(s.percent) for s in v.shares) == ["33.33", "33.33", "33.34"]


def test_a_voided_member_leave_does_not_end_the_membership(world: World) -> None:
    """The ledger undoes a voided member.leave: the verdict must not count it either."""
    c = chains.base(world)
    leave = c.append(
        chains.COOP, {"type": "member.leave", "member": chains.M1, "until": "2026-03-01"}
    )
    c.append(chains.COOP, {"type": "void", "event": leave, "reason": "recorded in error"})
    world.clock = world.clock.replace(month=6)  # a harvest after the voided `until`
    h = c.harvest(chains.COOP, f"{chains.COOP}:h-late", "100", chains.M1, chains.P1)
    rec = chains.to_roaster(c, chains.COOP, f"{chains.COOP}:h-late", h, "100")
    bag = chains.roast_and_pack(c, [(f"{chains.COOP}:h-late", rec, "100")], "100")
    assert verdict(world, bag).certified_percent == Decimal("100.00")
    # evidence that carries the leave and its void (gather leaves out what was voided)
    from tests.graph.test_bundle import _ledger_evidence

    v = origin_verdict(bag, _ledger_evidence(world))
    assert v.certified_percent == Decimal("100.00"), [
        r.message for s in v.shares for r in s.reasons
    ]
