"""``dispose``: the holder writes off a quantity of a lot, with a reason (spoiled, sample…)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ledger import fields
from ledger.conservation import amount
from ledger.payload import Event
from ledger.rules.base import Rule
from ledger.rules.custody import LINE_FIELDS, Line, mention, spend_rows, take
from ledger.view import LedgerView, Wanted


@dataclass(frozen=True)
class Disposal:
    line: Line
    reason: str


class Dispose(Rule[Disposal]):
    type = "dispose"
    fields = LINE_FIELDS | {"reason"}

    def from_body(self, body: dict[str, Any], party: str) -> Disposal:
        lot = fields.ident(body, "lot", what="a lot id")
        via = fields.event_ref(body, "event")
        fields.gtin(body)
        line = Line(where="", lot=lot, via=via, amount=amount(body))
        return Disposal(line, fields.text(body, "reason", max_len=500))

    def prefetch(self, event: Event, body: Disposal) -> Iterable[Wanted]:
        return spend_rows(event.party, [body.line])

    def apply(self, event: Event, body: Disposal, view: LedgerView) -> None:
        take(view, event, body.line)
        mention(view, event, [body.line.lot])


RULE = Dispose()
