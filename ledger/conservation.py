"""Conservation of mass in a transform, as a pure function of kilograms and forms.

The append rule (``ledger.rules.transform``) and the offline bundle verifier both call
``check_yield``, so a bundle is judged by exactly the numbers the ledger enforced.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Context, Decimal, Inexact, InvalidOperation, Overflow
from typing import Any

from ledger import fields, tables
from ledger.errors import YieldExceeded
from ledger.tables import Product

_EXACT = Context(prec=80, traps=[Inexact, InvalidOperation, Overflow])
_SHARE = Context(prec=40, rounding=ROUND_CEILING)  # rounds a claimed share up, never down
_POTENTIAL_CONTEXT = Context(prec=40, rounding=ROUND_CEILING)
"""A potential rounds up (at 27 places): mass that really came through is never refused
for rounding; what that grants is below 1e-27 of a lot."""
ZERO = Decimal(0)


ONE = Decimal(1)
_POTENTIAL = Decimal("1e-27")  # 27 places: stored exactly as text (28 digits)


@dataclass(frozen=True)
class Flow:
    """An input or output of a transform: kilograms of a form; ``where`` names its field.

    ``potential`` (inputs only) is the share of these kilograms that the exact maximum
    yields account for along the lot's whole path from harvest: 1 for a harvested lot,
    below 1 for a lot that used part of the tolerance upstream.
    """

    kg: Decimal
    form: str
    where: str = ""
    potential: Decimal = ONE


# --- reading quantities -----------------------------------------------------------------


@dataclass(frozen=True)
class Amount:
    """A quantity as signed (decimal text and unit) and normalized to kilograms."""

    quantity: str
    unit: str
    kg: Decimal


def amount(body: dict[str, Any], *, prefix: str = "") -> Amount:
    """Read ``quantity`` + ``unit`` of ``body``: strict decimal text > 0, a known unit."""
    raw = fields.require(body, "quantity", prefix=prefix)
    value = tables.parse_quantity(raw, field=prefix + "quantity")
    unit = fields.require(body, "unit", prefix=prefix)
    kg = tables.to_kg(value, unit, field=prefix + "unit")
    return Amount(quantity=raw, unit=unit, kg=kg)


def kg_text(kg: Decimal) -> str:
    """Kilograms for a message: "36.5 kg" (the one formatting every rule and command uses)."""
    text = format(kg.normalize(), "f")
    return f"{'0' if text == '-0' else text} kg"


def check_yield(product: Product, inputs: Sequence[Flow], outputs: Sequence[Flow]) -> Decimal:
    """Outputs of each form ≤ Σ inputs × max yield(input form → output form) × (1 + tol).

    The tolerance applies to a change of form only; within one form (split, blend, sort,
    re-packing) outputs never exceed inputs.

    When outputs of several forms come from one pool of inputs, each form draws its share
    of every input: the shares together are at most 1.

    Along a whole path the tolerance applies once, not per step: the outputs are also
    held to the inputs' *potential* (the mass the exact maximum yields allow from the
    harvest, see ``Flow.potential``) × (1 + tol). Returns the outputs' potential, the
    value their lots carry into the next transform.
    """
    margin = _EXACT.add(Decimal(1), product.tolerance)
    by_form: dict[str, list[Flow]] = {}
    for o in outputs:
        by_form.setdefault(o.form, []).append(o)
    share = ZERO
    for form, group in by_form.items():
        claimed = _total(group)
        # The tolerance allows for scale error across a change of form only: on a split,
        # blend or sort within one form it would compound, lot after lot.
        allowed = _reachable(product, inputs, form, _step_factor(form, margin))
        if allowed == ZERO:
            from_forms = sorted({i.form for i in inputs})
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
                field=group[0].where + "quantity",
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
    return _check_path(product, inputs, by_form, margin)


def _step_factor(form: str, margin: Decimal) -> Callable[[Flow], Decimal]:
    def factor(i: Flow) -> Decimal:
        return margin if i.form != form else ONE

    return factor


def _total(flows: Sequence[Flow]) -> Decimal:
    total = ZERO
    for f in flows:
        total = _EXACT.add(total, f.kg)
    return total


def _reachable(
    product: Product, inputs: Sequence[Flow], form: str, factor: Callable[[Flow], Decimal]
) -> Decimal:
    """Σ input kg × max yield(input form → ``form``) × ``factor(input)``, exactly."""
    total = ZERO
    for i in inputs:
        best = product.max_yield(i.form, form)
        if best is not None:
            total = _EXACT.add(total, _EXACT.multiply(_EXACT.multiply(i.kg, best), factor(i)))
    return total


def _check_path(
    product: Product, inputs: Sequence[Flow], by_form: dict[str, list[Flow]], margin: Decimal
) -> Decimal:
    """The tolerance once per path: outputs ≤ the inputs' exact potential × (1 + tol)."""
    demand = ZERO  # how many times the exact potential of the inputs the outputs claim
    for form, group in by_form.items():
        claimed = _total(group)
        exact = _reachable(product, inputs, form, lambda i: i.potential)
        if claimed == ZERO:
            continue
        if exact == ZERO:  # only inputs with no potential left at all
            demand = margin + 1
            break
        demand = _SHARE.add(demand, _SHARE.divide(claimed, exact))
    if demand > margin:
        raise YieldExceeded(
            f"outputs need {demand.quantize(Decimal('0.0001'))} times what the maximum yields"
            f" allow along the whole path from harvest; the {product.tolerance} tolerance"
            " applies once per path, not at every step",
            field="outputs",
            allowed=margin,
            claimed=demand,
        )
    if demand <= ONE:
        return ONE
    return _POTENTIAL_CONTEXT.divide(ONE, demand).quantize(
        _POTENTIAL, rounding=ROUND_CEILING, context=_POTENTIAL_CONTEXT
    )
