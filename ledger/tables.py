"""The rule tables: units, products, forms, yields and small-producer limits.

The numbers live as package data in ``ledger/data/units.json`` and
``ledger/data/products.json`` — decimal strings, never floats — and are parsed once
into frozen dataclasses. A proof bundle embeds :func:`tables_document` so that a
verifier applies the same numbers; :meth:`RuleTables.from_document` rebuilds the tables
from such an embedded document, and :func:`tables_digest` names them.

What the tables say:

- **Units.** A unit code maps to kilograms per unit (``quintal`` is the Latin American
  coffee quintal of 46 kg). :func:`to_kg` normalizes a quantity exactly.
- **Forms move one way per product.** Each step (``cherry`` → ``parchment``) has a
  maximum yield, output kg per input kg. A move over several steps is bounded by the
  product of their yields; a move within one form (blend, split, pack) by 1; a move
  backwards, or between forms on no common path, is impossible.
- **Tolerance.** A transform is within the rules when
  ``outputs <= inputs × max_yield × (1 + tolerance)``; the tolerance allows for scale
  error and is stated per product.
- **Reference form.** Mass-balance reports express every form in one reference form
  per product (coffee: green, cacao: dry beans), see :meth:`Product.to_reference`.
- **Processes.** Each step lists the processes that may perform it; processes marked
  ``keeps_form`` (blend, split, pack, sort, dry) may also run within one form.

Arithmetic: :func:`to_kg` and :meth:`Product.max_yield` are exact. Conversions to the
reference form that divide by a yield are rounded to 28 significant digits,
ROUND_HALF_EVEN (Python's default decimal context, fixed here so a caller's context
cannot change the result).

Nothing here performs I/O beyond reading this package's own data files.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
)
from importlib.resources import files
from types import MappingProxyType
from typing import Any, NoReturn

from ledger.errors import InvalidEvent, LedgerError
from ledger.payload import loads_strict

__all__ = [
    "InvalidTables",
    "Process",
    "Product",
    "RuleTables",
    "Step",
    "default_tables",
    "parse_quantity",
    "processes",
    "product",
    "products",
    "tables_digest",
    "tables_document",
    "to_kg",
    "unit_table",
]

#: A quantity on the wire: no sign, no exponent, no leading zeros, no whitespace,
#: at most 12 integer digits and 6 fraction digits.
_QUANTITY = re.compile(r"(?:0|[1-9][0-9]{0,11})(?:\.[0-9]{1,6})?")
#: A number in the tables themselves (factors, yields, limits): same shape, any length.
_TABLE_NUMBER = re.compile(r"(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")
#: Unit codes, product, form and process names.
_NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")

# Exact arithmetic: any result that would need rounding raises instead.
_EXACT = Context(
    prec=64,
    rounding=ROUND_HALF_EVEN,
    traps=[Inexact, InvalidOperation, DivisionByZero, Overflow],
)
# Reporting arithmetic for divisions by a yield: 28 digits, half-even, always.
_REPORT = Context(
    prec=28,
    rounding=ROUND_HALF_EVEN,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)

_ONE = Decimal(1)


class InvalidTables(LedgerError):
    """A rule-table document is malformed or inconsistent.

    Raised for the packaged tables (then the ledger itself is broken) and for tables
    embedded in a proof bundle (then the bundle is).
    """

    title = "Invalid rule tables"


# --- quantities and units ---------------------------------------------------------------


def parse_quantity(text: str, *, field: str) -> Decimal:
    """Parse a wire quantity such as ``"46"`` or ``"36.5"``; it must be greater than 0.

    Accepted: ``0`` or a digit string without leading zeros (at most 12 digits),
    optionally followed by a point and 1 to 6 digits. Rejected: signs, exponents,
    whitespace, commas, ``NaN``/``Infinity``, non-strings, and zero.
    Raises :class:`~ledger.errors.InvalidEvent` naming ``field``.
    """
    if not isinstance(text, str):
        raise InvalidEvent(
            f'quantity must be a decimal string such as "36.5", not {type(text).__name__}',
            field=field,
        )
    if _QUANTITY.fullmatch(text) is None:
        raise InvalidEvent(
            f"quantity {text!r} is not a plain decimal string: digits with an optional "
            "point and at most 6 decimals, no sign, exponent, spaces or leading zeros",
            field=field,
        )
    value = Decimal(text)
    if value <= 0:
        raise InvalidEvent(f"quantity must be greater than zero, got {text!r}", field=field)
    return value


def to_kg(quantity: Decimal, unit: str, *, field: str = "unit") -> Decimal:
    """Convert ``quantity`` in ``unit`` to kilograms, exactly (see :func:`unit_table`)."""
    return default_tables().to_kg(quantity, unit, field=field)


def unit_table() -> Mapping[str, Decimal]:
    """Unit code → kilograms per unit, read-only."""
    return default_tables().units


# --- products -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Process:
    """A named process a transform may state (``wet-mill``, ``roast``, ``blend``, …)."""

    name: str
    keeps_form: bool
    """True if the process may also run within one form (blend, split, pack, …)."""
    note: str


@dataclass(frozen=True)
class Step:
    """One one-way form step of a product, with its maximum yield."""

    from_form: str
    to_form: str
    max_yield: Decimal
    """Output kg per input kg, in (0, 1]."""
    processes: frozenset[str]
    """The processes that may perform this step."""
    sources: tuple[str, ...]
    """Ids into the tables' ``sources`` saying where the number comes from."""


@dataclass(frozen=True)
class Product:
    """A product's forms, one-way steps, reference form and small-producer limits.

    Built and checked by :class:`RuleTables`; the consistency checks run here, so a
    product with a cycle, a yield outside (0, 1], or a form unrelated to its reference
    form cannot exist.
    """

    name: str
    forms: tuple[str, ...]
    reference_form: str
    tolerance: Decimal
    """Allowance on the yield bound for scale error: ``0.005`` means +0.5 %."""
    area_limit_ha: Decimal | None
    """Largest cultivated area of this product per producer; None: no area limit."""
    hive_limit: int | None
    """Largest number of hives per beekeeper; None: no hive limit."""
    steps: tuple[Step, ...]
    form_keeping: frozenset[str]
    """Processes that may run within one form of this product."""
    _yields: Mapping[tuple[str, str], Decimal] = dataclasses.field(
        init=False, repr=False, compare=False, hash=False
    )
    _moves: Mapping[tuple[str, str], frozenset[str]] = dataclasses.field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        self._check()
        yields, moves = self._paths()
        object.__setattr__(self, "_yields", MappingProxyType(yields))
        object.__setattr__(self, "_moves", MappingProxyType(moves))
        for form in self.forms:
            if form != self.reference_form and not (
                (form, self.reference_form) in yields or (self.reference_form, form) in yields
            ):
                _bad(
                    f"product {self.name!r}: form {form!r} has no one-way path to or from "
                    f"the reference form {self.reference_form!r}"
                )

    def has_form(self, form: str) -> bool:
        return form in self.forms

    def require_form(self, form: str, *, field: str = "form") -> str:
        """Return ``form`` if this product has it, else raise InvalidEvent naming ``field``."""
        if not isinstance(form, str) or form not in self.forms:
            raise InvalidEvent(
                f"unknown form {form!r} for {self.name}; known forms: {', '.join(self.forms)}",
                field=field,
                product=self.name,
                known=list(self.forms),
            )
        return form

    def max_yield(self, from_form: str, to_form: str) -> Decimal | None:
        """Largest output kg per input kg when moving ``from_form`` → ``to_form``.

        1 within one form; the product of the step yields along a forward path
        (the largest such product if there are several paths); None for a backward
        move, a move between unrelated forms, or a form the product does not have.
        """
        if from_form not in self.forms or to_form not in self.forms:
            return None
        if from_form == to_form:
            return _ONE
        return self._yields.get((from_form, to_form))

    def processes_for(self, from_form: str, to_form: str) -> frozenset[str]:
        """The processes that may perform ``from_form`` → ``to_form``.

        Within one form: the form-keeping processes. Otherwise a process qualifies when
        some forward path from one form to the other lists it on every step. Empty for
        backward or unrelated moves.
        """
        if from_form not in self.forms or to_form not in self.forms:
            return frozenset()
        if from_form == to_form:
            return self.form_keeping
        return self._moves.get((from_form, to_form), frozenset())

    def conversion_factor(self, form: str) -> Decimal:
        """Reference-form kg per kg of ``form`` (see :meth:`to_reference`).

        Upstream of the reference: the yield form → reference. Downstream: 1 divided by
        the yield reference → form, rounded to 28 significant digits.
        """
        return self.to_reference(_ONE, form)

    def to_reference(self, kg: Decimal, form: str) -> Decimal:
        """Express ``kg`` of ``form`` as kilograms of the reference form.

        A form upstream of the reference is multiplied by the maximum yield from it to
        the reference: 100 kg of coffee parchment = 82 kg green equivalent. A form
        downstream of the reference is DIVIDED by the maximum yield from the reference
        to it: 1 kg of roasted coffee = 1 / 0.90 kg green equivalent. Both directions
        therefore give the credit most favourable to the holder — the most reference
        mass an input could have yielded, the least reference mass an output could have
        needed — the same bound the transform rule enforces, so a mass balance never
        flags what the custody rules accept.

        Raises InvalidEvent for a form the product does not have.
        """
        self.require_form(form)
        if form == self.reference_form:
            return kg
        up = self._yields.get((form, self.reference_form))
        if up is not None:
            return _REPORT.multiply(kg, up)
        down = self._yields.get((self.reference_form, form))
        if down is None:  # excluded when the product was built
            _bad(f"product {self.name!r}: no path between {form!r} and the reference form")
        return _REPORT.divide(kg, down)

    # -- construction checks -----------------------------------------------------------

    def _check(self) -> None:
        where = f"product {self.name!r}"
        if len(self.forms) < 2:
            _bad(f"{where}: needs at least two forms")
        if len(set(self.forms)) != len(self.forms):
            _bad(f"{where}: a form is listed twice")
        if self.reference_form not in self.forms:
            _bad(f"{where}: reference form {self.reference_form!r} is not one of its forms")
        if not Decimal(0) <= self.tolerance < _ONE:
            _bad(f"{where}: tolerance must be in [0, 1), got {self.tolerance}")
        if self.area_limit_ha is not None and self.area_limit_ha <= 0:
            _bad(f"{where}: area_limit_ha must be positive or null")
        if self.hive_limit is not None and self.hive_limit <= 0:
            _bad(f"{where}: hive_limit must be positive or null")
        seen: set[tuple[str, str]] = set()
        for step in self.steps:
            label = f"{where}, step {step.from_form!r} -> {step.to_form!r}"
            if step.from_form not in self.forms or step.to_form not in self.forms:
                _bad(f"{label}: names a form the product does not list")
            if step.from_form == step.to_form:
                _bad(f"{label}: a step must change the form")
            if (step.from_form, step.to_form) in seen:
                _bad(f"{label}: listed twice")
            seen.add((step.from_form, step.to_form))
            if not Decimal(0) < step.max_yield <= _ONE:
                _bad(f"{label}: max_yield must be in (0, 1], got {step.max_yield}")
            if not step.processes:
                _bad(f"{label}: names no process")
        _topological_order(self.forms, self.steps, where)

    def _paths(
        self,
    ) -> tuple[dict[tuple[str, str], Decimal], dict[tuple[str, str], frozenset[str]]]:
        """Best yield and qualifying processes for every forward (from, to) pair."""
        order = _topological_order(self.forms, self.steps, self.name)
        outgoing: dict[str, list[Step]] = {form: [] for form in self.forms}
        for step in self.steps:
            outgoing[step.from_form].append(step)
        yields: dict[tuple[str, str], Decimal] = {}
        moves: dict[tuple[str, str], frozenset[str]] = {}
        for start in self.forms:
            best: dict[str, Decimal] = {start: _ONE}
            # processes that cover every step of some path start → form
            carried: dict[str, set[str]] = {start: set()}
            for form in order:
                if form not in best:
                    continue
                for step in outgoing[form]:
                    candidate = _EXACT.multiply(best[form], step.max_yield)
                    if step.to_form not in best or candidate > best[step.to_form]:
                        best[step.to_form] = candidate
                    through = (
                        set(step.processes) if form == start else (carried[form] & step.processes)
                    )
                    carried.setdefault(step.to_form, set()).update(through)
            for form, value in best.items():
                if form != start:
                    yields[(start, form)] = value
                    moves[(start, form)] = frozenset(carried[form])
        return yields, moves


def _topological_order(forms: Iterable[str], steps: Iterable[Step], where: str) -> list[str]:
    """Kahn's algorithm; a cycle means forms do not move one way, which is rejected."""
    forms = list(forms)
    steps = list(steps)
    indegree = {form: 0 for form in forms}
    for step in steps:
        indegree[step.to_form] += 1
    ready = [form for form in forms if indegree[form] == 0]
    order: list[str] = []
    while ready:
        form = ready.pop(0)
        order.append(form)
        for step in steps:
            if step.from_form == form:
                indegree[step.to_form] -= 1
                if indegree[step.to_form] == 0:
                    ready.append(step.to_form)
    if len(order) != len(forms):
        _bad(f"{where}: the form steps contain a cycle; forms must move one way")
    return order


def product(name: str, *, field: str = "product") -> Product:
    """The product called ``name``; InvalidEvent naming ``field`` if there is none."""
    return default_tables().product(name, field=field)


def products() -> Mapping[str, Product]:
    """Product name → :class:`Product`, read-only."""
    return default_tables().products


def processes() -> frozenset[str]:
    """Every process name a transform may state."""
    return frozenset(default_tables().processes)


# --- the tables as a whole ------------------------------------------------------------------


@dataclass(frozen=True)
class RuleTables:
    """Units, processes and products parsed from one tables document."""

    units: Mapping[str, Decimal]
    processes: Mapping[str, Process]
    products: Mapping[str, Product]
    canonical: bytes
    """The document as canonical JSON (sorted keys, no spaces, UTF-8)."""

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> RuleTables:
        """Build and check tables from ``{"units": …, "products": …}``.

        That is the shape :func:`tables_document` returns and a proof bundle embeds.
        Raises :class:`InvalidTables` for anything malformed or inconsistent.
        """
        doc = _as_object(document, "tables")
        _only_keys(doc, {"units", "products"}, "tables")
        units_doc = _as_object(doc.get("units"), "units")
        products_doc = _as_object(doc.get("products"), "products")
        units = _parse_units(units_doc)
        process_table = _parse_processes(products_doc)
        product_table = _parse_products(products_doc, process_table)
        try:
            canonical = json.dumps(
                doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
            ).encode("utf-8")
        except (TypeError, ValueError) as e:
            raise InvalidTables(f"tables are not plain JSON: {e}") from e
        return cls(
            units=MappingProxyType(units),
            processes=MappingProxyType(process_table),
            products=MappingProxyType(product_table),
            canonical=canonical,
        )

    @property
    def digest(self) -> str:
        """Lowercase hex SHA-256 of :attr:`canonical`."""
        return hashlib.sha256(self.canonical).hexdigest()

    def document(self) -> dict[str, Any]:
        """A fresh, JSON-ready copy of the tables document."""
        value: dict[str, Any] = json.loads(self.canonical)
        return value

    def to_kg(self, quantity: Decimal, unit: str, *, field: str = "unit") -> Decimal:
        """``quantity`` of ``unit`` in kilograms, exactly; InvalidEvent for an unknown unit."""
        if not isinstance(unit, str) or unit not in self.units:
            known = sorted(self.units)
            raise InvalidEvent(
                f"unknown unit {unit!r}; known units: {', '.join(known)}",
                field=field,
                unit=unit,
                known=known,
            )
        if not isinstance(quantity, Decimal) or not quantity.is_finite() or quantity <= 0:
            raise InvalidEvent(
                f"quantity must be a positive decimal, got {quantity!r}", field=field
            )
        try:
            return _EXACT.multiply(quantity, self.units[unit])
        except Inexact as e:
            raise InvalidEvent(
                f"quantity {quantity} {unit} has too many digits to convert exactly",
                field=field,
            ) from e

    def product(self, name: str, *, field: str = "product") -> Product:
        """The product called ``name``; InvalidEvent naming ``field`` if there is none."""
        if not isinstance(name, str) or name not in self.products:
            known = sorted(self.products)
            raise InvalidEvent(
                f"unknown product {name!r}; known products: {', '.join(known)}",
                field=field,
                product=name,
                known=known,
            )
        return self.products[name]


@functools.cache
def default_tables() -> RuleTables:
    """The tables shipped in ``ledger/data``, parsed once."""
    data = files("ledger") / "data"
    document = {
        "units": _load_json(data.joinpath("units.json").read_text(encoding="utf-8"), "units.json"),
        "products": _load_json(
            data.joinpath("products.json").read_text(encoding="utf-8"), "products.json"
        ),
    }
    return RuleTables.from_document(document)


def tables_document() -> dict[str, Any]:
    """The packaged tables as a JSON-ready dict ``{"units": …, "products": …}``.

    A fresh copy on every call: a caller may embed or change it freely.
    """
    return default_tables().document()


def tables_digest() -> str:
    """Hex SHA-256 of the canonical JSON of :func:`tables_document`.

    Canonical JSON: keys sorted, separators ``,`` and ``:`` without spaces,
    non-ASCII characters as UTF-8.
    """
    return default_tables().digest


# --- parsing the documents ------------------------------------------------------------------


def _bad(message: str) -> NoReturn:
    raise InvalidTables(message)


def _load_json(text: str, name: str) -> Any:
    """The tables are read as strictly as a signed payload (``payload.loads_strict``): no
    duplicate keys, no floating-point numbers, no NaN."""
    try:
        return loads_strict(text.encode("utf-8"), what=name)
    except InvalidEvent as e:
        where = f" (at {e.field})" if e.field else ""
        raise InvalidTables(f"{name}: {e.message}{where}") from e


def _as_object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        _bad(f"{where}: expected an object")
    return value


def _only_keys(value: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(value) - allowed)
    if unknown:
        _bad(f"{where}: unknown field(s) {', '.join(unknown)}")


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        _bad(f"{where}: expected a string")
    return value


def _name(value: Any, where: str) -> str:
    text = _text(value, where)
    if _NAME.fullmatch(text) is None:
        _bad(f"{where}: {text!r} is not a lowercase hyphenated name")
    return text


def _number(value: Any, where: str) -> Decimal:
    text = _text(value, where)
    if _TABLE_NUMBER.fullmatch(text) is None:
        _bad(f"{where}: {text!r} is not a plain decimal string")
    return Decimal(text)


def _parse_units(doc: Mapping[str, Any]) -> dict[str, Decimal]:
    _only_keys(doc, {"schema", "note", "units"}, "units")
    if doc.get("schema") != 1:
        _bad("units: schema must be 1")
    entries = _as_object(doc.get("units"), "units.units")
    units: dict[str, Decimal] = {}
    for code, entry in entries.items():
        where = f"units.units.{code}"
        _name(code, where)
        body = _as_object(entry, where)
        _only_keys(body, {"kg", "note"}, where)
        _text(body.get("note"), f"{where}.note")
        factor = _number(body.get("kg"), f"{where}.kg")
        if factor <= 0:
            _bad(f"{where}.kg: must be greater than zero")
        units[code] = factor
    if units.get("kg") != _ONE:
        _bad("units: the table must define kg as 1")
    return units


def _parse_processes(doc: Mapping[str, Any]) -> dict[str, Process]:
    entries = _as_object(doc.get("processes"), "products.processes")
    table: dict[str, Process] = {}
    for name, entry in entries.items():
        where = f"products.processes.{name}"
        _name(name, where)
        body = _as_object(entry, where)
        _only_keys(body, {"keeps_form", "note"}, where)
        keeps_form = body.get("keeps_form")
        if not isinstance(keeps_form, bool):
            _bad(f"{where}.keeps_form: expected true or false")
        table[name] = Process(name, keeps_form, _text(body.get("note"), f"{where}.note"))
    if not table:
        _bad("products.processes: no process is defined")
    return table


_PRODUCT_KEYS = {
    "forms",
    "reference_form",
    "tolerance",
    "area_limit_ha",
    "hive_limit",
    "limit_source",
    "limit_note",
    "steps",
}


def _parse_products(
    doc: Mapping[str, Any], process_table: Mapping[str, Process]
) -> dict[str, Product]:
    _only_keys(doc, {"schema", "note", "processes", "products", "sources"}, "products")
    if doc.get("schema") != 1:
        _bad("products: schema must be 1")
    _text(doc.get("note"), "products.note")
    sources = _as_object(doc.get("sources"), "products.sources")
    for source_id, source in sources.items():
        where = f"products.sources.{source_id}"
        _name(source_id, where)
        body = _as_object(source, where)
        _only_keys(body, {"title", "url", "says"}, where)
        _text(body.get("title"), f"{where}.title")
        _text(body.get("says"), f"{where}.says")
    form_keeping = frozenset(p.name for p in process_table.values() if p.keeps_form)
    entries = _as_object(doc.get("products"), "products.products")
    if not entries:
        _bad("products.products: no product is defined")
    table: dict[str, Product] = {}
    for name, entry in entries.items():
        where = f"products.products.{name}"
        _name(name, where)
        body = _as_object(entry, where)
        _only_keys(body, _PRODUCT_KEYS, where)
        forms = body.get("forms")
        if not isinstance(forms, list):
            _bad(f"{where}.forms: expected a list")
        limit_source = _text(body.get("limit_source"), f"{where}.limit_source")
        if limit_source not in sources:
            _bad(f"{where}.limit_source: unknown source {limit_source!r}")
        if "limit_note" in body:
            _text(body["limit_note"], f"{where}.limit_note")
        area = body.get("area_limit_ha")
        hives = body.get("hive_limit")
        if hives is not None and (not isinstance(hives, int) or isinstance(hives, bool)):
            _bad(f"{where}.hive_limit: expected an integer or null")
        steps_doc = body.get("steps")
        if not isinstance(steps_doc, list):
            _bad(f"{where}.steps: expected a list")
        table[name] = Product(
            name=name,
            forms=tuple(_name(f, f"{where}.forms") for f in forms),
            reference_form=_name(body.get("reference_form"), f"{where}.reference_form"),
            tolerance=_number(body.get("tolerance"), f"{where}.tolerance"),
            area_limit_ha=None if area is None else _number(area, f"{where}.area_limit_ha"),
            hive_limit=hives,
            steps=tuple(
                _parse_step(step, f"{where}.steps[{i}]", process_table, sources)
                for i, step in enumerate(steps_doc)
            ),
            form_keeping=form_keeping,
        )
    return table


def _parse_step(
    value: Any, where: str, process_table: Mapping[str, Process], sources: Mapping[str, Any]
) -> Step:
    body = _as_object(value, where)
    _only_keys(body, {"from", "to", "max_yield", "processes", "sources"}, where)
    names = body.get("processes")
    cited = body.get("sources")
    if not isinstance(names, list) or not isinstance(cited, list) or not cited:
        _bad(f"{where}: processes and sources must be lists, sources not empty")
    for process_name in names:
        if process_name not in process_table:
            _bad(f"{where}.processes: unknown process {process_name!r}")
    for source_id in cited:
        if source_id not in sources:
            _bad(f"{where}.sources: unknown source {source_id!r}")
    return Step(
        from_form=_name(body.get("from"), f"{where}.from"),
        to_form=_name(body.get("to"), f"{where}.to"),
        max_yield=_number(body.get("max_yield"), f"{where}.max_yield"),
        processes=frozenset(names),
        sources=tuple(cited),
    )
