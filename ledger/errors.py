"""One error hierarchy for trazo, split by who is at fault.

``ClientError`` and its subclasses mean the input was wrong (a bad envelope, a rule
breach); the ledger is unchanged. ``LedgerFault`` means the ledger itself failed or
found itself inconsistent. ``api/`` maps these classes to HTTP statuses in one place.

Every client error can carry where it happened: ``index`` (position of the event in
the submitted batch) and ``field`` (a dotted path into the payload, e.g.
``inputs[0].quantity``), plus ``details`` for the amounts involved.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

PROBLEM_TYPE_BASE = "tag:trazo.dev,2026:problem/"


class LedgerError(Exception):
    """Root of every error trazo raises on purpose.

    Each class knows how it reaches a user: ``title``, ``http_status`` and
    ``http_headers`` (rendered by ``api/http/errors.py`` as a problem document whose type
    ends in :meth:`problem_slug`), and its class name (``trazo`` prints
    ``InsufficientQuantity: …``). A subclass inherits its parent's.
    """

    title = "Ledger error"
    http_status = 500
    """The HTTP status this error answers with; a subclass inherits its parent's."""
    http_headers: Mapping[str, str] = {}
    """Headers the HTTP answer carries (``WWW-Authenticate`` for a 401)."""
    exit_code = 1
    """``trazo``'s exit status: 1 for a refusal, 2 where the command could not start (a
    file or database it cannot use)."""
    step: str | None = None
    """The step of ``ledger.engine.admit`` that raised it (``signature``, ``chain``…)."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        index: int | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.index = index
        self.details: dict[str, Any] = details

    def at(self, index: int) -> LedgerError:
        """Record the batch index of the offending event; returns self for ``raise``."""
        self.index = index
        return self

    def __str__(self) -> str:
        where = []
        if self.index is not None:
            where.append(f"event {self.index}")
        if self.field:
            where.append(f"field {self.field!r}")
        prefix = f"{', '.join(where)}: " if where else ""
        return f"{prefix}{self.message}"

    @classmethod
    def problem_slug(cls) -> str:
        """The last part of the problem type URI: the class name in kebab case."""
        return re.sub(r"(?<!^)(?=[A-Z])", "-", cls.__name__).lower()

    def problem_items(self) -> list[dict[str, Any]]:
        """The problem document's ``errors``: where each thing was wrong."""
        return [{"index": self.index, "field": self.field, "message": self.message}]

    def problem(self) -> dict[str, Any]:
        """The error as an RFC 9457 problem document: what the HTTP API answers, and what
        the outbox keeps for a refused event (``ledger.outbox``)."""
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE_BASE + self.problem_slug(),
            "title": self.title,
            "status": self.http_status,
            "detail": str(self),
            "errors": self.problem_items(),
        }
        extra = {k: v for k, v in self.to_dict().items() if k not in ("error", "message")}
        body.update({k: v for k, v in extra.items() if k not in body})
        return body

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": type(self).__name__, "message": self.message}
        if self.index is not None:
            out["index"] = self.index
        if self.field is not None:
            out["field"] = self.field
        out.update({k: _plain(v) for k, v in self.details.items()})
        return out


def _plain(value: Any) -> Any:
    """Render details JSON-friendly (Decimal and datetime as strings)."""
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


# --- the client's fault: the ledger is unchanged -------------------------------------


class ClientError(LedgerError):
    title = "Rejected"
    http_status = 422


class InvalidEvent(ClientError):
    """The envelope or payload is malformed or breaks the schema."""

    title = "Invalid event"


class WrongLedger(InvalidEvent):
    """The event names another ledger (or none): it cannot be replayed from elsewhere."""

    title = "Wrong ledger"


class SignatureError(ClientError):
    title = "Invalid signature"


class UnknownKey(ClientError):
    title = "Unknown key"


class KeyRevoked(ClientError):
    title = "Key revoked"


class NotAuthorized(ClientError):
    """The signing party may not make this statement (role, ownership, operator-only)."""

    title = "Not authorized"


class ChainConflict(ClientError):
    """``seq``/``prev`` do not extend the key's hash chain; names what was expected."""

    title = "Chain conflict"
    http_status = 409


class UnknownReference(ClientError):
    """An id the event builds on does not exist (event, party, key, member, plot, …)."""

    title = "Unknown reference"


class DuplicateId(ClientError):
    """An id that may be created once (party, lot, certificate, key) already exists."""

    title = "Duplicate id"
    http_status = 409


class TimeError(ClientError):
    """The event's time is in the future, or before an event it builds on."""

    title = "Invalid time"


# --- the ledger's own failures ----------------------------------------------------------


class LedgerFault(LedgerError):
    title = "Ledger failure"


class StoreError(LedgerFault):
    title = "Storage failure"
    exit_code = 2


class IntegrityError(LedgerFault):
    """The stored ledger does not verify (found by ``trazo audit``)."""

    title = "Integrity failure"


class NotFound(LedgerError):
    """What was asked for is not in the ledger (a lot, a party, an event)."""

    title = "Not found"
    http_status = 404


class LotNotFound(NotFound):
    """No lot by that id — or none the evidence at hand creates."""

    title = "Unknown lot"


class EventNotFound(NotFound):
    title = "Unknown event"


class PartyNotFound(NotFound):
    title = "Unknown party"


class KeyNotFound(NotFound):
    title = "Unknown key"


class CheckpointNotFound(NotFound):
    title = "No such checkpoint"


class LogKeyNotFound(NotFound):
    """The server was started without a log key: it signs no checkpoints."""

    title = "No log key"


class NotPublished(NotFound):
    """The lot has no public page (it is unknown, or not in a form sold to consumers)."""

    title = "No public page"


class ProofError(LedgerError):
    """A Merkle proof, checkpoint or signed note does not verify."""

    title = "Proof does not verify"


class NotCheckpointed(LedgerError):
    """The events asked for are not yet covered by a signed checkpoint (no bundle yet)."""

    title = "Not yet checkpointed"
    http_status = 409


class ProofOutOfRange(ClientError):
    """A proof was asked for a tree size (or an event) outside the log."""

    title = "Proof request outside the log"


# --- custody rule breaches (client errors; ``details`` carry the amounts involved) ------


class UnknownLot(UnknownReference):
    """A lot the event names does not exist (or is not part of the named shipment)."""

    title = "Unknown lot"


class DuplicateLot(DuplicateId):
    """A lot id is created once in the whole ledger."""

    title = "Duplicate lot"


class NotHolder(ClientError):
    """The signer does not hold the lot through the event it names."""

    title = "Not the holder"


class InsufficientQuantity(ClientError):
    """More is asked of a holding than it holds (details: ``held``, ``asked``, in kg)."""

    title = "Insufficient quantity"


class ReceiptExceedsShipment(InsufficientQuantity):
    """A receipt accepts more of a lot than was shipped (details: ``shipped``, ``claimed``)."""

    title = "Receipt exceeds shipment"


class YieldExceeded(ClientError):
    """A transform's outputs exceed inputs × maximum yield (details: ``allowed``, ``claimed``)."""

    title = "Yield exceeded"


class AlreadyReceived(ClientError):
    """A shipment can be received once."""

    title = "Already received"
    http_status = 409


class VoidRefused(ClientError):
    """The event cannot be voided: wrong type, already voided, or something builds on it."""

    title = "Void refused"
