"""What the custody rules share: quantities, holdings, lots, custody edges and voids.

A party holds a lot *through* the event that gave it custody (a harvest, a transform
output or a receive); ``holdings`` has one row per (party, lot, event). Spending
(``ship``, ``transform``, ``dispose``) names that event, takes from that row only, and
adds a custody edge from the spending event to it. All arithmetic is exact ``Decimal``:
an operation that would need rounding raises instead of losing a gram.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow
from typing import Any

from sqlalchemy import select

from ledger import fields
from ledger.conservation import Amount, amount, given_kg
from ledger.errors import (
    DuplicateLot,
    InsufficientQuantity,
    IntegrityError,
    InvalidEvent,
    NotHolder,
    TimeError,
    UnknownLot,
    UnknownReference,
)
from ledger.fields import from_utc_text, utc_text
from ledger.payload import Event, loads_strict
from ledger.schema import CustodyEdgeRow, EventLotRow, HoldingRow, LotRow, VoidRow
from ledger.state import LedgerState, RowKey

EXACT = Context(prec=80, traps=[Inexact, InvalidOperation, Overflow])
"""Sums and differences of kilograms never round: a result that would is an error."""

ZERO = Decimal(0)

LINE_FIELDS = frozenset({"lot", "event", "quantity", "unit"})


def add(a: Decimal, b: Decimal) -> Decimal:
    return EXACT.add(a, b)


def sub(a: Decimal, b: Decimal) -> Decimal:
    return EXACT.subtract(a, b)


def mul(a: Decimal, b: Decimal) -> Decimal:
    return EXACT.multiply(a, b)


def kg_text(kg: Decimal) -> str:
    """Kilograms for a message: "36.5 kg"."""
    text = format(kg.normalize(), "f")
    return f"{text} kg"


# --- reading quantities -----------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One lot taken from a holding: ``{"lot", "event", "quantity", "unit"}``."""

    where: str
    lot: str
    via: str
    amount: Amount


def holding_lines(body: dict[str, Any], name: str, *, max_items: int = 1000) -> list[Line]:
    """Read an array of holding lines (``ship.lots``, ``transform.inputs``).

    One line per (lot, event): naming the same holding twice in one event is refused,
    so each line's quantity is checked against the holding on its own terms.
    """
    lines: list[Line] = []
    seen: dict[tuple[str, str], str] = {}
    for i, item in enumerate(fields.array(body, name, max_items=max_items)):
        where = f"{name}[{i}]."
        if not isinstance(item, dict):
            raise InvalidEvent("must be an object", field=f"{name}[{i}]")
        fields.reject_unknown(item, LINE_FIELDS, prefix=where)
        lot = fields.ident(item, "lot", prefix=where, what="a lot id")
        via = fields.event_ref(item, "event", prefix=where)
        line = Line(where=where, lot=lot, via=via, amount=amount(item, prefix=where))
        if (lot, via) in seen:
            raise InvalidEvent(
                f"lot {lot!r} through event {via} is already named in {seen[(lot, via)]};"
                " name each holding once per event",
                field=where + "lot",
            )
        seen[(lot, via)] = f"{name}[{i}]"
        lines.append(line)
    return lines


# --- the event being applied ------------------------------------------------------------


def index_of(state: LedgerState) -> int:
    """The ledger index the event under ``apply`` will get (the next one)."""
    return state.size


def event_time(event: Event) -> str:
    return utc_text(event.time)


def not_before(event: Event, earlier: str, *, what: str, field: str) -> None:
    """An event is not dated before an event it builds on."""
    if utc_text(event.time) < earlier:
        raise TimeError(
            f"time {event.time.isoformat()} is before {what}"
            f" ({from_utc_text(earlier).isoformat()}), which this event builds on",
            field=field,
            builds_on_time=from_utc_text(earlier).isoformat(),
        )


def mention(state: LedgerState, event: Event, lots: Iterable[str]) -> None:
    """Index the event under each of ``lots`` (for listing a lot's events in order)."""
    index = index_of(state)
    for lot in dict.fromkeys(lots):
        state.add(EventLotRow(event=event.id, lot=lot, idx=index))


def edge(state: LedgerState, event: Event, *, parent: str, lot: str, kg: Decimal) -> None:
    state.add(
        CustodyEdgeRow(child=event.id, parent=parent, lot=lot, kg=kg, kind=event.type)
    )


# --- lots and holdings ------------------------------------------------------------------


def spend_rows(party: str, lines: Iterable[Any]) -> list[RowKey]:
    """For ``Rule.prefetch``: the holding and lot rows that spending ``lines`` reads."""
    wanted: list[RowKey] = []
    for line in lines:
        if isinstance(line, dict):
            wanted.append((HoldingRow, (party, line.get("lot"), line.get("event"))))
            wanted.append((LotRow, line.get("lot")))
    return wanted


def lot_row(state: LedgerState, lot: str) -> LotRow | None:
    return state.get(LotRow, lot)


def create_lot(state: LedgerState, event: Event, *, lot: str, product: str, form: str,
               amount: Amount, field: str, member: str | None = None,
               plot: str | None = None, potential: Decimal | None = None) -> None:
    """A new lot, held by the signer through this event. A lot id is created once.

    ``potential`` is what ``conservation.check_yield`` returned for a transform output
    (None for a harvest: all of its mass is real). The caller ``mention``s the lot.
    """
    existing = lot_row(state, lot)
    if existing is not None:
        raise DuplicateLot(
            f"lot {lot!r} was already created by {existing.kind} {existing.event}",
            field=field,
            lot=lot,
            created_by=existing.event,
        )
    state.add(LotRow(
        id=lot, product=product, form=form, party=event.party, event=event.id,
        kind=event.type, kg=amount.kg, quantity=amount.quantity, unit=amount.unit,
        member=member, plot=plot, time=event_time(event), voided_by=None,
        potential=potential,
    ))
    state.add(HoldingRow(
        party=event.party, lot=lot, via=event.id, kg=amount.kg, received_kg=amount.kg,
        time=event_time(event),
    ))


def take(state: LedgerState, event: Event, line: Line) -> HoldingRow:
    """Spend ``line`` from the signer's holding, with the checks a spend must pass.

    Unknown lot → ``UnknownLot``; unknown or voided event → ``UnknownReference``; the
    signer holds nothing of the lot through that event → ``NotHolder``; less held than
    asked → ``InsufficientQuantity``; spending before custody began → ``TimeError``.
    The caller ``mention``s the lot.
    """
    holding = state.get(HoldingRow, (event.party, line.lot, line.via))
    if holding is None:
        raise _why_not_held(state, event, line)
    _check_against_signed(state, holding)
    asked = line.amount.kg
    if holding.kg < asked:
        raise InsufficientQuantity(
            f"{event.party!r} holds {kg_text(holding.kg)} of lot {line.lot!r} through"
            f" event {line.via}, and this event asks for {kg_text(asked)}",
            field=line.where + "quantity",
            lot=line.lot,
            event=line.via,
            held=holding.kg,
            asked=asked,
        )
    not_before(event, holding.time, what=f"event {line.via}", field="time")
    holding.kg = sub(holding.kg, asked)
    edge(state, event, parent=line.via, lot=line.lot, kg=asked)
    return holding


def _check_against_signed(state: LedgerState, holding: HoldingRow) -> None:
    """Trust a holdings row only as far as the signed event behind it.

    The row is a projection anyone with the database can edit: what its ``via`` event
    gave is read from that event's stored bytes (insert-only), and the balance can be
    neither negative nor above it. A row that disagrees is the ledger's fault, not the
    client's: the batch is refused and the audit names the row.
    """
    via = state.event(holding.via)
    given = None
    if via is not None:
        try:
            given = given_kg(via.type, loads_strict(bytes(via.payload)), holding.lot)
        except (InvalidEvent, KeyError, TypeError, AttributeError):
            given = None
    if given is None or holding.received_kg != given \
            or not ZERO <= holding.kg <= holding.received_kg:
        raise IntegrityError(
            f"the stored holding of lot {holding.lot!r} by {holding.party!r} through"
            f" {holding.via} ({kg_text(holding.kg)} of {kg_text(holding.received_kg)})"
            " disagrees with the signed event behind it: the projections were altered;"
            " run `trazo audit`, then `trazo rebuild`",
            lot=holding.lot, event=holding.via,
        )


def _why_not_held(state: LedgerState, event: Event, line: Line) -> Exception:
    lot = lot_row(state, line.lot)
    if lot is None:
        return UnknownLot(f"no lot {line.lot!r} exists in the ledger", field=line.where + "lot",
                          lot=line.lot)
    void = state.get(VoidRow, line.via)
    if void is not None:
        return UnknownReference(
            f"event {line.via} was voided by {void.void_event}; it gives no custody",
            field=line.where + "event",
        )
    via = state.event(line.via)
    if via is None:
        return UnknownReference(f"no event {line.via} exists in the ledger",
                                field=line.where + "event")
    return NotHolder(
        f"{event.party!r} holds nothing of lot {line.lot!r} through event {line.via}"
        f" (a {via.type} signed by {via.party!r}); custody comes from a harvest, a"
        " transform output or a receive of the signer",
        field=line.where + "event",
        lot=line.lot,
        event=line.via,
        held=ZERO,
        asked=line.amount.kg,
    )


def give_back(state: LedgerState, child: str, owner: str) -> None:
    """Undo the spends of a voided event of ``owner``: each edge's kg returns to its holding."""
    session = state.session
    query = (
        select(CustodyEdgeRow)
        .where(CustodyEdgeRow.child == child)
        .order_by(CustodyEdgeRow.parent, CustodyEdgeRow.lot)
    )
    for e in list(session.scalars(query)):
        holding = state.get(HoldingRow, (owner, e.lot, e.parent))
        if holding is None:  # pragma: no cover - a holding is never removed while spent
            raise UnknownReference(f"holding of lot {e.lot!r} through {e.parent} is gone")
        holding.kg = add(holding.kg, e.kg)
        state.delete(e)


def builds_on(state: LedgerState, event_id: str) -> CustodyEdgeRow | None:
    """The first custody edge that builds on ``event_id`` (a later spend of its custody)."""
    return state.session.scalar(
        select(CustodyEdgeRow).where(CustodyEdgeRow.parent == event_id).limit(1)
    )
