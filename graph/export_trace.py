"""A lot's traceability spreadsheet: one row per custody event, upstream and downstream.

The shape buyers ask for (FSMA 204 "sortable spreadsheet" style): for every custody
event behind a lot (its ancestry back to the harvests) and after it (every event that
consumed it or anything made from it), one row with the key data elements:

========================  ===========================================================
``event_index``           ledger position (sort by it for ledger order)
``event_date``            the event's ``time`` as signed (RFC 3339, with its offset)
``event_type``            harvest, transform, ship, receive, dispose
``direction``             ``lot`` (the lot's creating event), ``upstream``, ``downstream``
``lot``                   the lot(s) the event moves or creates; ``; `` between several
``input_lots``            a transform's inputs, ``lot (quantity unit)``
``quantity``, ``unit``    as signed; for several lines in one unit, their sum; several
                          units: blank (see ``quantity_kg``)
``quantity_kg``           the same in kilograms (exact)
``product``, ``form``     of the lot(s), from the events that created them
``process``               a transform's process (wet-mill, roast, blend, …)
``from_party`` …          who the goods came from and went to, with each party's name and
``to_country``            country (the party's registered country stands for its location)
``plot``                  a harvest's plot id (pseudonymous; never its geometry)
``transactions``          business transaction references, ``type:id``; a receipt
                          repeats those of its shipment
``reason``                a disposal's reason
``voided_by``             the void event, when the event was declared erroneous
``event_id``              the signed event's id
========================  ===========================================================

Rows are sorted by ``event_index``. Which events: exactly the event nodes of
:func:`graph.trace.trace` upstream and downstream of the lot.

Text from signatures (party names, reasons) is free text: in CSV a cell that begins
with ``=``, ``+``, ``-``, ``@``, tab or CR is prefixed with ``'`` so a spreadsheet does
not run it as a formula; in XLSX every text cell is written as a string, never a formula.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from graph.evidence import CUSTODY_TYPES, CreatedLot, Evidence, Record, created_lots
from ledger.schema import decimal_text
from ledger.store import Store

COLUMNS = (
    "event_index",
    "event_date",
    "event_type",
    "direction",
    "lot",
    "input_lots",
    "quantity",
    "unit",
    "quantity_kg",
    "product",
    "form",
    "process",
    "from_party",
    "from_name",
    "from_country",
    "to_party",
    "to_name",
    "to_country",
    "plot",
    "transactions",
    "reason",
    "voided_by",
    "event_id",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class TraceRow:
    values: dict[str, Any]

    @property
    def event_id(self) -> str:
        return str(self.values["event_id"])

    def cells(self) -> list[Any]:
        return [self.values.get(c) for c in COLUMNS]


def trace_rows(lot: str, upstream: Evidence, downstream: Evidence) -> list[TraceRow]:
    """One row per custody event in ``upstream`` ∪ ``downstream`` (pure)."""
    records: dict[str, Record] = {}
    for ev in (upstream, downstream):
        for r in ev:
            if r.type in CUSTODY_TYPES:
                records.setdefault(r.id, r)
    creator = upstream.creator(lot)
    up_ids = {r.id for r in upstream if r.type in CUSTODY_TYPES}
    ctx = _Context(upstream, downstream)
    rows = []
    for record in sorted(records.values(), key=lambda r: r.index):
        direction = (
            "lot"
            if creator is not None and record.id == creator.id
            else "upstream"
            if record.id in up_ids
            else "downstream"
        )
        rows.append(TraceRow(ctx.row(record, direction)))
    return rows


class _Context:
    def __init__(self, *evidence: Evidence) -> None:
        self.parties: dict[str, Record] = {}
        self.lines: dict[str, CreatedLot] = {}
        self.records: dict[str, Record] = {}
        self.voided: dict[str, str] = {}
        for ev in evidence:
            for r in ev:
                self.records.setdefault(r.id, r)
                if r.type == "party.register":
                    self.parties[r.typed.subject] = r
                for lot, line in created_lots(r).items():
                    self.lines.setdefault(lot, line)
            self.voided.update({k: v.id for k, v in ev.voided().items()})

    def party(self, party: str | None) -> tuple[str, str, str]:
        if not party:
            return "", "", ""
        r = self.parties.get(party)
        return party, (r.typed.name if r else ""), (r.typed.country if r else "")

    def row(self, record: Record, direction: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "event_index": record.index,
            "event_date": record.time.isoformat(),
            "event_type": record.type,
            "direction": direction,
            "event_id": record.id,
            "voided_by": self.voided.get(record.id, ""),
            "input_lots": "",
            "process": "",
            "plot": "",
            "transactions": "",
            "reason": "",
        }
        sender, receiver = record.party, record.party
        body = record.typed
        lines: list[Any]
        if record.type in ("harvest", "transform"):
            lines = list(created_lots(record).values())
            if record.type == "harvest":
                out["plot"] = body.plot or ""
            else:
                out["process"] = body.process
                out["input_lots"] = "; ".join(
                    f"{i.lot} ({i.amount.quantity} {i.amount.unit})" for i in body.inputs
                )
        elif record.type == "ship":
            lines = list(body.lots)
            receiver = body.to
            out["transactions"] = _transactions(body)
        elif record.type == "receive":
            lines = list(body.lots)
            shipment = self.records.get(body.shipment)
            sender = shipment.party if shipment else ""
            out["transactions"] = _transactions(shipment.typed) if shipment else ""
        else:  # dispose
            lines = [body.line]
            receiver = ""
            out["reason"] = body.reason
        lots = list(dict.fromkeys(line.lot for line in lines))
        units = {line.amount.unit for line in lines}
        out["lot"] = "; ".join(lots)
        out["quantity_kg"] = decimal_text(sum((x.amount.kg for x in lines), Decimal(0)))
        if len(units) == 1:
            out["unit"] = units.pop()
            out["quantity"] = decimal_text(
                sum((Decimal(x.amount.quantity) for x in lines), Decimal(0))
            )
        else:
            out["unit"], out["quantity"] = "", ""
        out["product"] = "; ".join(
            dict.fromkeys(self.lines[lot].product for lot in lots if lot in self.lines)
        )
        out["form"] = "; ".join(
            dict.fromkeys(self.lines[lot].form for lot in lots if lot in self.lines)
        )
        out["from_party"], out["from_name"], out["from_country"] = self.party(sender)
        out["to_party"], out["to_name"], out["to_country"] = self.party(receiver)
        return out


def _transactions(ship: Any) -> str:
    """A shipment's business documents (``ship.ShipBody.transactions``), as text."""
    return "; ".join(f"{t.type}:{t.id}" for t in getattr(ship, "transactions", ()))


def lot_trace_rows(store: Store, lot: str) -> list[TraceRow]:
    """Rows for ``lot`` in ``store``; raises ``LotNotFound`` for an unknown lot."""
    from graph.ancestry import gather

    return trace_rows(lot, gather(store, lot), gather(store, lot, direction="downstream"))


# --- formats -------------------------------------------------------------------------------


_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def safe_cell(value: Any) -> Any:
    """A text cell a spreadsheet will not read as a formula (a leading ' when needed).

    A plain decimal number such as ``-500.000`` stays as it is: it is data, not a formula.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def to_csv(rows: list[TraceRow]) -> str:
    """RFC 4180 CSV (CRLF line ends), header first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([safe_cell(v) for v in row.cells()])
    return buffer.getvalue()


def to_xlsx(rows: list[TraceRow], lot: str) -> bytes:
    """An XLSX workbook: one sheet, a bold frozen header and an autofilter over the rows."""
    from openpyxl import Workbook  # type: ignore[import-untyped]
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE  # type: ignore[import-untyped]
    from openpyxl.styles import Font  # type: ignore[import-untyped]
    from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "trace"
    sheet.append(list(COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for r, row in enumerate(rows, start=2):
        for c, value in enumerate(row.cells(), start=1):
            cell = sheet.cell(row=r, column=c)
            if isinstance(value, int):
                cell.value = value
            else:
                text = "" if value is None else str(value)
                # openpyxl refuses control characters a signed free text may hold
                cell.value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", text)
                cell.data_type = "s"  # never a formula, whatever the text begins with
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{len(rows) + 1}"
    for c, name in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(c)].width = max(12, min(len(name) + 4, 40))
    book.properties.title = f"trazo trace of {lot}"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
