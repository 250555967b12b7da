"""Helpers for custody tests: a small coffee supply chain of registered parties.

Everything is recorded as real signed envelopes through ``World`` (tests/support.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from ledger.errors import ClientError
from ledger.lots import holdings, in_transit
from ledger.schema import PROJECTIONS, Base
from ledger.store import Store
from tests.support import World

D = Decimal

COOP = "coop-pangoa"
CERTIFIER = "certi-sur"
EXPORTER = "andes-trading"
IMPORTER = "nordic-import"
ROASTER = "tostaduria"
BRAND = "buen-cafe"

M1, P1 = f"{COOP}:m-0042", f"{COOP}:p-0042-1"
M2, P2 = f"{COOP}:m-0043", f"{COOP}:p-0043-1"


@dataclass
class Chain:
    """A world with the parties of a coffee chain and two enrolled members."""

    world: World

    @property
    def store(self) -> Store:
        return self.world.store

    def record(self, party: str, body: dict[str, Any]) -> str:
        return self.world.record(party, body)

    def rejected(self, party: str, body: dict[str, Any], error: type[ClientError]) -> ClientError:
        """Sign ``body`` as ``party``, expect ``error``, and check nothing was appended.

        The rejected envelope consumed a seq of the party's key chain; it is rewound so
        the next event continues the stored chain.
        """
        chain = self.world.chains[party]
        seq, prev, size = chain.seq, chain.prev, self.store.size()
        with pytest.raises(error) as info:
            self.world.append(self.world.sign(party, body))
        chain.seq, chain.prev = seq, prev
        assert self.store.size() == size
        assert type(info.value) is error, f"{type(info.value).__name__}: {info.value}"
        return info.value

    def harvest(
        self,
        lot: str,
        quantity: str,
        *,
        unit: str = "kg",
        form: str = "cherry",
        member: str = M1,
        plot: str = P1,
        product: str = "coffee",
    ) -> str:
        return self.record(
            COOP,
            harvest_body(
                lot, quantity, unit=unit, form=form, member=member, plot=plot, product=product
            ),
        )


def harvest_body(
    lot: str,
    quantity: str,
    *,
    unit: str = "kg",
    form: str = "cherry",
    member: str = M1,
    plot: str = P1,
    product: str = "coffee",
) -> dict[str, Any]:
    return {
        "type": "harvest",
        "lot": lot,
        "product": product,
        "form": form,
        "quantity": quantity,
        "unit": unit,
        "member": member,
        "plot": plot,
    }


def line(lot: str, event: str, quantity: str, unit: str = "kg") -> dict[str, str]:
    return {"lot": lot, "event": event, "quantity": quantity, "unit": unit}


def output(
    lot: str, form: str, quantity: str, unit: str = "kg", product: str = "coffee"
) -> dict[str, str]:
    return {"lot": lot, "product": product, "form": form, "quantity": quantity, "unit": unit}


def enroll_body(
    member: str,
    plots: list[tuple[str, str]],
    *,
    since: str = "2019-05-01",
    products: tuple[str, ...] = ("coffee",),
) -> dict[str, Any]:
    return {
        "type": "member.enroll",
        "member": member,
        "products": list(products),
        "plots": [{"plot": p, "area_ha": a} for p, a in plots],
        "since": since,
    }


def coffee_chain(world: World) -> Chain:
    world.register(COOP, ["spo"])
    world.register(CERTIFIER, ["certifier"], country="DE")
    world.register(EXPORTER, ["trader"])
    world.register(IMPORTER, ["trader"], country="SE")
    world.register(ROASTER, ["roaster"], country="SE")
    world.register(BRAND, ["brand"], country="SE")
    chain = Chain(world)
    chain.record(COOP, enroll_body(M1, [(P1, "2.4")]))
    chain.record(COOP, enroll_body(M2, [(P2, "3.1")]))
    return chain


def held(store: Store) -> dict[tuple[str, str], Decimal]:
    return holdings(store)


def transit(store: Store) -> dict[str, Decimal]:
    return in_transit(store)


def projection_rows(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every projection table, in primary-key order, as plain tuples."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with store.reading() as session:
        for model in PROJECTIONS:
            table = Base.metadata.tables[model.__tablename__]
            rows = session.execute(select(*table.columns).order_by(*table.primary_key)).all()
            out[table.name] = [tuple(r) for r in rows]
    return out
