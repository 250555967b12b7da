"""What the custody rules share: quantities, holdings, lots, custody edges and voids.

A party holds a lot *through* the event that gave it custody (a harvest, a transform
output or a receive); there is one ``Holding`` per (party, lot, event). Spending
(``ship``, ``transform``, ``dispose``) names that event, takes from that holding only,
and adds a custody edge from the spending event to it. All arithmetic is exact
``Decimal``: an operation that would need rounding raises instead of losing a gram.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow
from typing import Any

from ledger import fields
from ledger.conservation import Amount, amount, kg_text
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
from ledger.fields import from_utc_text
from ledger.payload import Event
from ledger.records import CustodyEdge, EventLot, Holding, Lot, Void
from ledger.view import LedgerView, RowKey, absent, body_of

EXACT = Context(prec=80, traps=[Inexact, InvalidOperation, Overflow])
"""Sums and differences of kilograms never round: a result that would is an error."""

ZERO = Decimal(0)

LINE_FIELDS = frozenset({"lot", "event", "quantity", "unit", "gtin"})

__all__ = ["kg_text"]


def add(a: Decimal, b: Decimal) -> Decimal:
    return EXACT.add(a, b)


def sub(a: Decimal, b: Decimal) -> Decimal:
    return EXACT.subtract(a, b)


# --- reading quantities -----------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One lot taken from a holding: ``{"lot", "event", "quantity", "unit"}``."""

    where: str
    lot: str
    via: str
    amount: Amount


def holding_lines(body: dict[str, Any], name: str, *, max_items: int = 1000) -> tuple[Line, ...]:
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
        fields.gtin(item, prefix=where)
        line = Line(where=where, lot=lot, via=via, amount=amount(item, prefix=where))
        if (lot, via) in seen:
            raise InvalidEvent(
                f"lot {lot!r} through event {via} is already named in {seen[(lot, via)]};"
                " name each holding once per event",
                field=where + "lot",
            )
        seen[(lot, via)] = f"{name}[{i}]"
        lines.append(line)
    return tuple(lines)


# --- the event being applied ------------------------------------------------------------


def event_time(event: Event) -> str:
    return event.time_text


def not_before(event: Event, earlier: str, *, what: str, field: str) -> None:
    """An event is not dated before an event it builds on."""
    if event.time_text < earlier:
        raise TimeError(
            f"time {event.time.isoformat()} is before {what}"
            f" ({from_utc_text(earlier).isoformat()}), which this event builds on",
            field=field,
            builds_on_time=from_utc_text(earlier).isoformat(),
        )


def mention(view: LedgerView, event: Event, lots: Iterable[str]) -> None:
    """Index the event under each of ``lots`` (for listing a lot's events in order)."""
    for lot in dict.fromkeys(lots):
        view.add(EventLot(event=event.id, lot=lot, idx=view.size))


def edge(view: LedgerView, event: Event, *, parent: str, lot: str, kg: Decimal) -> None:
    view.add(CustodyEdge(child=event.id, parent=parent, lot=lot, kg=kg, kind=event.type))


# --- lots and holdings ------------------------------------------------------------------


def spend_rows(party: str, lines: Iterable[Line]) -> list[RowKey]:
    """For ``Rule.prefetch``: the holding and lot records that spending ``lines`` reads."""
    wanted: list[RowKey] = []
    for line in lines:
        wanted.append((Holding, (party, line.lot, line.via)))
        wanted.append((Lot, line.lot))
    return wanted


def create_lot(
    view: LedgerView,
    event: Event,
    *,
    lot: str,
    product: str,
    form: str,
    amount: Amount,
    field: str,
    member: str | None = None,
    plot: str | None = None,
    potential: Decimal | None = None,
) -> None:
    """A new lot, held by the signer through this event. A lot id is created once.

    ``potential`` is what ``conservation.check_yield`` returned for a transform output
    (None for a harvest: all of its mass is real). The caller ``mention``s the lot.
    """
    existing = view.get(Lot, lot)
    if existing is not None:
        raise DuplicateLot(
            f"lot {lot!r} was already created by {existing.kind} {existing.event}",
            field=field,
            lot=lot,
            created_by=existing.event,
        )
    view.add(
        Lot(
            id=lot,
            product=product,
            form=form,
            party=event.party,
            event=event.id,
            kind=event.type,
            kg=amount.kg,
            quantity=amount.quantity,
            unit=amount.unit,
            member=member,
            plot=plot,
            time=event_time(event),
            voided_by=None,
            potential=potential,
        )
    )
    view.add(
        Holding(
            party=event.party,
            lot=lot,
            via=event.id,
            kg=amount.kg,
            received_kg=amount.kg,
            time=event_time(event),
        )
    )


def take(view: LedgerView, event: Event, line: Line) -> Holding:
    """Spend ``line`` from the signer's holding, with the checks a spend must pass.

    Unknown lot → ``UnknownLot``; unknown or voided event → ``UnknownReference``; the
    signer holds nothing of the lot through that event → ``NotHolder``; less held than
    asked → ``InsufficientQuantity``; spending before custody began → ``TimeError``.
    The caller ``mention``s the lot.
    """
    holding = view.get(Holding, (event.party, line.lot, line.via))
    if holding is None:
        raise _why_not_held(view, event, line)
    _check_against_signed(view, holding)
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
    view.update(holding, kg=sub(holding.kg, asked))
    edge(view, event, parent=line.via, lot=line.lot, kg=asked)
    return holding


def _check_against_signed(view: LedgerView, holding: Holding) -> None:
    """Trust a holding only as far as the signed event behind it.

    A stored holding is a projection anyone with the database can edit: what its ``via``
    event gave is read from that event's stored bytes (insert-only), and the balance can
    be neither negative nor above it. A row that disagrees is the ledger's fault, not the
    client's: the batch is refused and the audit names the row.
    """
    from ledger.rules import typed_body  # the registry imports this module

    via = view.event(holding.via)
    given = None
    if via is not None:
        try:
            gives = getattr(typed_body(via.type, body_of(via), via.party), "gives", None)
            given = gives(holding.lot) if gives is not None else None
        except InvalidEvent:
            given = None
    if (
        given is None
        or holding.received_kg != given
        or not ZERO <= holding.kg <= holding.received_kg
    ):
        raise IntegrityError(
            f"the stored holding of lot {holding.lot!r} by {holding.party!r} through"
            f" {holding.via} ({kg_text(holding.kg)} of {kg_text(holding.received_kg)})"
            " disagrees with the signed event behind it: the projections were altered;"
            " run `trazo audit`, then `trazo rebuild`",
            lot=holding.lot,
            event=holding.via,
        )


def _why_not_held(view: LedgerView, event: Event, line: Line) -> Exception:
    """Why a line names no holding of the signer. The details (a voided event, an unknown
    lot) are told only about the signer's own events: about anyone else's, or none, the
    answer is one and the same, so that a refusal (or a dry run) reveals nothing of
    another party's events or lots."""
    lot = view.get(Lot, line.lot)
    via = view.event(line.via)
    if not view.complete and (lot is None or via is None):  # a bundle: outside its evidence
        error = UnknownReference(
            f"lot {line.lot!r} or event {line.via} is not in the bundle",
            field=line.where + "event",
        )
        return absent(view, error)
    if via is not None and via.party == event.party:
        void = view.get(Void, line.via)
        if void is not None:
            return UnknownReference(
                f"event {line.via} was voided by {void.void_event}; it gives no custody",
                field=line.where + "event",
            )
        if lot is None:
            return UnknownLot(
                f"no lot {line.lot!r} exists in the ledger", field=line.where + "lot", lot=line.lot
            )
    return NotHolder(
        f"{event.party!r} holds nothing of lot {line.lot!r} through event {line.via};"
        " custody comes from a harvest, a transform output or a receive of the signer",
        field=line.where + "event",
        lot=line.lot,
        event=line.via,
        held=ZERO,
        asked=line.amount.kg,
    )


def give_back(view: LedgerView, child: str, owner: str) -> None:
    """Undo the spends of a voided event of ``owner``: each edge's kg returns to its holding."""
    for e in view.find(CustodyEdge, child=child):
        holding = view.get(Holding, (owner, e.lot, e.parent))
        if holding is None:  # pragma: no cover - a holding is never removed while spent
            raise UnknownReference(f"holding of lot {e.lot!r} through {e.parent} is gone")
        view.update(holding, kg=add(holding.kg, e.kg))
        view.delete(e)


def builds_on(view: LedgerView, event_id: str) -> CustodyEdge | None:
    """The first custody edge that builds on ``event_id`` (a later spend of its custody)."""
    found = view.find(CustodyEdge, parent=event_id)
    return found[0] if found else None
