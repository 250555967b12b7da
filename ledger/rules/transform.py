"""``transform``: the holder turns input lots into new output lots (mill, roast, blend, pack…).

Every input names the event through which the signer holds it and the quantity consumed;
every output is a new lot of the same product. Conservation: the outputs of each form
never exceed the inputs times the maximum yield of the form step (the yield table, plus
the product's tolerance). When outputs of several forms come from one pool of inputs,
each output form draws its share of every input: the sum of the shares is at most 1.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from ledger import fields, tables
from ledger.conservation import Amount, Flow, amount, check_yield
from ledger.errors import InvalidEvent
from ledger.payload import Event
from ledger.records import Lot
from ledger.rules.base import Rule
from ledger.rules.custody import (
    LINE_FIELDS,
    Line,
    create_lot,
    holding_lines,
    mention,
    spend_rows,
    take,
)
from ledger.view import LedgerView, Wanted

OUTPUT_FIELDS = frozenset({"lot", "product", "form", "quantity", "unit", "gtin", "package"})
PACKAGE_FIELDS = frozenset({"quantity", "unit"})


@dataclass(frozen=True)
class Output:
    where: str
    lot: str
    product: str
    form: str
    amount: Amount
    package: Amount | None = None
    """The net content of one retail unit of the lot (a 250 g bag), when it is packed in
    units: optional, and then the lot is a whole number of them."""


def _package(item: dict[str, Any], lot: Amount, where: str) -> Amount | None:
    """``{"quantity", "unit"}`` of one unit; the lot's mass is a whole number of units."""
    if "package" not in item:
        return None
    raw = item["package"]
    if not isinstance(raw, dict):
        raise InvalidEvent('must be an object {"quantity", "unit"}', field=where + "package")
    fields.reject_unknown(raw, PACKAGE_FIELDS, prefix=where + "package.")
    unit = amount(raw, prefix=where + "package.")
    if unit.kg > lot.kg or lot.kg % unit.kg != 0:
        raise InvalidEvent(
            f"the lot's {lot.quantity} {lot.unit} is not a whole number of packages of"
            f" {unit.quantity} {unit.unit}",
            field=where + "package.quantity",
        )
    return unit


def outputs_of(body: dict[str, Any], owner: str) -> tuple[Output, ...]:
    outputs: list[Output] = []
    seen: set[str] = set()
    for i, item in enumerate(fields.array(body, "outputs", max_items=1000)):
        where = f"outputs[{i}]."
        if not isinstance(item, dict):
            raise InvalidEvent("must be an object", field=f"outputs[{i}]")
        fields.reject_unknown(item, OUTPUT_FIELDS, prefix=where)
        lot = fields.owned_id(item, "lot", owner, prefix=where)
        fields.gtin(item, prefix=where)
        product = tables.product(
            fields.require(item, "product", prefix=where), field=where + "product"
        )
        form = product.require_form(
            fields.require(item, "form", prefix=where), field=where + "form"
        )
        if lot in seen:
            raise InvalidEvent(f"output lot {lot!r} is listed twice", field=where + "lot")
        seen.add(lot)
        mass = amount(item, prefix=where)
        outputs.append(Output(where, lot, product.name, form, mass, _package(item, mass, where)))
    return tuple(outputs)


@dataclass(frozen=True)
class TransformBody:
    process: str
    inputs: tuple[Line, ...]
    outputs: tuple[Output, ...]

    def gives(self, lot: str) -> Decimal | None:
        """What the transform gave of ``lot`` to spend: an output's quantity."""
        return next((o.amount.kg for o in self.outputs if o.lot == lot), None)


class Transform(Rule[TransformBody]):
    type = "transform"
    fields = frozenset({"process", "inputs", "outputs"})
    nested = MappingProxyType(
        {
            "inputs[]": LINE_FIELDS,
            "outputs[]": OUTPUT_FIELDS,
            "outputs[].package": PACKAGE_FIELDS,
        }
    )

    def from_body(self, body: dict[str, Any], party: str) -> TransformBody:
        process = fields.text(body, "process", max_len=64)
        known = tables.processes()
        if process not in known:
            raise InvalidEvent(
                f"unknown process {process!r}; known: {', '.join(sorted(known))}",
                field="process",
            )
        inputs = holding_lines(body, "inputs")
        outputs = outputs_of(body, party)
        products = {o.product for o in outputs}
        if len(products) > 1:
            raise InvalidEvent(
                f"a transform keeps its product; outputs are {', '.join(sorted(products))}",
                field="outputs",
            )
        names = {line.lot for line in inputs}
        for o in outputs:
            if o.lot in names:
                raise InvalidEvent(
                    f"output lot {o.lot!r} is also an input; an output is a new lot",
                    field=o.where + "lot",
                )
        return TransformBody(process, inputs, outputs)

    def prefetch(self, event: Event, body: TransformBody) -> Iterable[Wanted]:
        return [*spend_rows(event.party, body.inputs), *((Lot, o.lot) for o in body.outputs)]

    def apply(self, event: Event, body: TransformBody, view: LedgerView) -> None:
        product = tables.product(body.outputs[0].product, field="outputs[0].product")
        forms: list[tuple[Line, str]] = []
        potentials: list[Decimal] = []
        for line in body.inputs:
            take(view, event, line)  # holder, quantity, time
            lot = view.get(Lot, line.lot)
            assert lot is not None
            if lot.product != product.name:
                raise InvalidEvent(
                    f"input lot {line.lot!r} is {lot.product}; this transform makes"
                    f" {product.name} (a transform keeps its product)",
                    field=line.where + "lot",
                )
            forms.append((line, lot.form))
            # a projection: never trusted above 1 (all of the lot's mass real)
            potentials.append(
                min(lot.potential, Decimal(1)) if lot.potential is not None else Decimal(1)
            )
        potential = check_yield(
            product,
            [
                Flow(line.amount.kg, form, line.where, p)
                for (line, form), p in zip(forms, potentials, strict=True)
            ],
            [Flow(o.amount.kg, o.form, o.where) for o in body.outputs],
        )
        _check_process(body.process, product, forms, body.outputs)
        for o in body.outputs:
            create_lot(
                view,
                event,
                lot=o.lot,
                product=o.product,
                form=o.form,
                amount=o.amount,
                field=o.where + "lot",
                potential=potential,
            )
        mention(view, event, [line.lot for line in body.inputs] + [o.lot for o in body.outputs])


def _check_process(
    process: str,
    product: tables.Product,
    inputs: list[tuple[Line, str]],
    outputs: tuple[Output, ...],
) -> None:
    for o in outputs:
        if not any(process in product.processes_for(form, o.form) for _line, form in inputs):
            moves = sorted({f"{form} → {o.form}" for _line, form in inputs})
            raise InvalidEvent(
                f"process {process!r} does not make {product.name} {o.form} from"
                f" {', '.join(moves)}",
                field="process",
            )


RULE = Transform()
