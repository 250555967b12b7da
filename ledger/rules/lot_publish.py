"""``lot.publish``: a lot's creator or holder makes it public.

A published lot has a public page, JSON-LD, QR codes and a proof bundle (which discloses
the envelopes of its whole ancestry); an unpublished lot has none of them. Publishing is
a signed event so that what is public is itself evidence: who chose to disclose it, and
when. A ``void`` of the ``lot.publish`` withdraws the page (a bundle already downloaded
stays verifiable: it is evidence, not a secret).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ledger import fields
from ledger.errors import InvalidEvent, UnknownLot
from ledger.payload import Event
from ledger.records import Holding, Lot, Publication
from ledger.rules.base import Rule, time_text
from ledger.rules.custody import mention, not_before
from ledger.view import LedgerView, Lookup, Wanted, absent


@dataclass(frozen=True)
class Publishing:
    lot: str


class LotPublish(Rule[Publishing]):
    type = "lot.publish"
    fields = frozenset({"lot"})

    def from_body(self, body: dict[str, Any], party: str) -> Publishing:
        return Publishing(fields.ident(body, "lot", what="a lot id"))

    def prefetch(self, event: Event, body: Publishing) -> Iterable[Wanted]:
        return [(Lot, body.lot), (Publication, body.lot), Lookup(Holding, "lot", body.lot)]

    def apply(self, event: Event, body: Publishing, view: LedgerView) -> None:
        lot = view.get(Lot, body.lot)
        holds = any(h.party == event.party and h.kg > 0 for h in view.find(Holding, lot=body.lot))
        if lot is None or (lot.party != event.party and not holds):
            # the same answer for another party's lot as for none: no existence oracle
            error = UnknownLot(
                f"no lot {body.lot!r} that {event.party!r} created or holds some of now is"
                " in the ledger: only its creator or a holder publishes a lot",
                field="lot",
                lot=body.lot,
            )
            raise absent(view, error) if lot is None else error
        if lot.voided_by is not None:
            raise UnknownLot(
                f"lot {body.lot!r} was voided by {lot.voided_by}", field="lot", lot=body.lot
            )
        earlier = view.get(Publication, body.lot)
        if earlier is not None:
            raise InvalidEvent(
                f"lot {body.lot!r} was already published by {earlier.party!r} ({earlier.event})",
                field="lot",
            )
        not_before(event, lot.time, what=f"lot {body.lot!r}'s creation {lot.event}", field="time")
        view.add(
            Publication(lot=body.lot, party=event.party, event=event.id, time=time_text(event))
        )
        mention(view, event, [body.lot])


RULE = LotPublish()
