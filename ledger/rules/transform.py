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
from decimal import ROUND_CEILING, Context, Decimal
from typing import Any

from ledger import fields, tables
from ledger.errors import InvalidEvent, YieldExceeded
from ledger.payload import Event
from ledger.rules.base import Rule
from ledger.rules.custody import (
    ZERO,
    Amount,
    Line,
    add,
    amount,
    create_lot,
    holding_lines,
    kg_text,
    lot_row,
    mention,
    mul,
    spend_rows,
    take,
)
from ledger.schema import LotRow
from ledger.state import LedgerState, RowKey

OUTPUT_FIELDS = frozenset({"lot", "product", "form", "quantity", "unit"})
_SHARE = Context(prec=40, rounding=ROUND_CEILING)  # rounds a claimed share up, never down


@dataclass(frozen=True)
class Output:
    where: str
    lot: str
    product: str
    form: str
    amount: Amount


def outputs_of(body: dict[str, Any], owner: str) -> list[Output]:
    outputs: list[Output] = []
    seen: set[str] = set()
    for i, item in enumerate(fields.array(body, "outputs", max_items=1000)):
        where = f"outputs[{i}]."
        if not isinstance(item, dict):
            raise InvalidEvent("must be an object", field=f"outputs[{i}]")
        fields.reject_unknown(item, OUTPUT_FIELDS, prefix=where)
        lot = fields.owned_id(item, "lot", owner, prefix=where)
        product = tables.product(fields.require(item, "product", prefix=where),
                                 field=where + "product")
        form = product.require_form(fields.require(item, "form", prefix=where),
                                    field=where + "form")
        if lot in seen:
            raise InvalidEvent(f"output lot {lot!r} is listed twice", field=where + "lot")
        seen.add(lot)
        outputs.append(Output(where, lot, product.name, form, amount(item, prefix=where)))
    return outputs


class Transform(Rule):
    type = "transform"
    fields = frozenset({"process", "inputs", "outputs"})

    def check_fields(self, event: Event) -> None:
        super().check_fields(event)
        body = event.body
        process = fields.text(body, "process", max_len=64)
        known = tables.processes()
        if process not in known:
            raise InvalidEvent(
                f"unknown process {process!r}; known: {', '.join(sorted(known))}",
                field="process",
            )
        inputs = holding_lines(body, "inputs")
        outputs = outputs_of(body, event.party)
        products = {o.product for o in outputs}
        if len(products) > 1:
            raise InvalidEvent(
                f"a transform keeps its product; outputs are {', '.join(sorted(products))}",
                field="outputs",
            )
        names = {line.lot for line in inputs}
        for o in outputs:
            if o.lot in names:
                raise InvalidEvent(f"output lot {o.lot!r} is also an input; an output is a"
                                   " new lot", field=o.where + "lot")

    def prefetch(self, event: Event) -> Iterable[RowKey]:
        outputs = event.body.get("outputs") or []
        return [*spend_rows(event.party, event.body.get("inputs") or []),
                *((LotRow, o.get("lot")) for o in outputs if isinstance(o, dict))]

    def apply(self, event: Event, state: LedgerState) -> None:
        body = event.body
        inputs = holding_lines(body, "inputs")
        outputs = outputs_of(body, event.party)
        product = tables.product(outputs[0].product, field="outputs[0].product")
        forms: list[tuple[Line, str]] = []
        for line in inputs:
            take(state, event, line)  # holder, quantity, time
            lot = lot_row(state, line.lot)
            assert lot is not None
            if lot.product != product.name:
                raise InvalidEvent(
                    f"input lot {line.lot!r} is {lot.product}; this transform makes"
                    f" {product.name} (a transform keeps its product)",
                    field=line.where + "lot",
                )
            forms.append((line, lot.form))
        _check_yield(product, forms, outputs)
        _check_process(body["process"], product, forms, outputs)
        for o in outputs:
            create_lot(state, event, lot=o.lot, product=o.product, form=o.form,
                       amount=o.amount, field=o.where + "lot")
        mention(state, event, [line.lot for line in inputs] + [o.lot for o in outputs])


def _check_process(process: str, product: tables.Product, inputs: list[tuple[Line, str]],
                   outputs: list[Output]) -> None:
    for o in outputs:
        if not any(process in product.processes_for(form, o.form) for _line, form in inputs):
            moves = sorted({f"{form} → {o.form}" for _line, form in inputs})
            raise InvalidEvent(
                f"process {process!r} does not make {product.name} {o.form} from"
                f" {', '.join(moves)}",
                field="process",
            )


def _check_yield(product: tables.Product, inputs: list[tuple[Line, str]],
                 outputs: list[Output]) -> None:
    """Outputs of each form ≤ Σ inputs × max yield(input form → output form) × (1 + tol)."""
    margin = add(Decimal(1), product.tolerance)
    by_form: dict[str, list[Output]] = {}
    for o in outputs:
        by_form.setdefault(o.form, []).append(o)
    share = ZERO
    for form, group in by_form.items():
        claimed = ZERO
        for o in group:
            claimed = add(claimed, o.amount.kg)
        allowed = ZERO
        for line, in_form in inputs:
            best = product.max_yield(in_form, form)
            if best is not None:
                allowed = add(allowed, mul(mul(line.amount.kg, best), margin))
        where = group[0].where + "quantity"
        if allowed == ZERO:
            from_forms = sorted({in_form for _line, in_form in inputs})
            raise YieldExceeded(
                f"{product.name} {', '.join(from_forms)} cannot become {form}: forms move"
                " one way, along the yield table",
                field=group[0].where + "form",
                allowed=ZERO,
                claimed=claimed,
            )
        if claimed > allowed:
            raise YieldExceeded(
                f"outputs of {product.name} {form} total {kg_text(claimed)}; the inputs"
                f" allow at most {kg_text(allowed)} (maximum yield with"
                f" {product.tolerance} tolerance)",
                field=where,
                allowed=allowed,
                claimed=claimed,
            )
        share = _SHARE.add(share, _SHARE.divide(claimed, allowed))
    if share > 1:
        raise YieldExceeded(
            f"outputs of several forms together need {share.quantize(Decimal('0.0001'))} times"
            " the inputs: each form draws its share of the same input mass",
            field="outputs",
            allowed=Decimal(1),
            claimed=share,
        )


RULE = Transform()
