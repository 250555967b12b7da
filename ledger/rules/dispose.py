"""``dispose``: the holder writes off a quantity of a lot, with a reason (spoiled, sample…)."""

from __future__ import annotations

from collections.abc import Iterable

from ledger import fields
from ledger.conservation import amount
from ledger.payload import Event
from ledger.rules.base import Rule
from ledger.rules.custody import (
    LINE_FIELDS,
    Line,
    mention,
    spend_rows,
    take,
)
from ledger.state import LedgerState, RowKey


def dispose_line(event: Event) -> Line:
    body = event.body
    lot = fields.ident(body, "lot", what="a lot id")
    via = fields.event_ref(body, "event")
    return Line(where="", lot=lot, via=via, amount=amount(body))


class Dispose(Rule):
    type = "dispose"
    fields = LINE_FIELDS | {"reason"}

    def check_fields(self, event: Event) -> None:
        super().check_fields(event)
        dispose_line(event)
        fields.text(event.body, "reason", max_len=500)

    def prefetch(self, event: Event) -> Iterable[RowKey]:
        return spend_rows(event.party, [event.body])

    def apply(self, event: Event, state: LedgerState) -> None:
        line = dispose_line(event)
        take(state, event, line)
        mention(state, event, [line.lot])


RULE = Dispose()
