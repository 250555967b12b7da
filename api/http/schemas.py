"""marshmallow schemas of every HTTP request and response body; the OpenAPI document is
generated from them.

Unknown fields are rejected everywhere (marshmallow ``RAISE``): a misspelt query
parameter or body field is a ``422`` naming it, never silently ignored. The DSSE
envelope is *described* here but validated by the core (``Envelope.from_dict``), so
there is one definition of what the ledger accepts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import INCLUDE, RAISE, Schema, ValidationError, fields, validate

from ledger.envelope import PAYLOAD_TYPE
from ledger.fields import EVENT_ID_PATTERN, ID_PATTERN, KEYID_PATTERN

MAX_BATCH_EVENTS = 5000
MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_PAGE = 1000
MAX_INDEX = 2**63 - 1
"""The largest ledger index or tree size a query may name (the databases' BIGINT)."""

EVENT_ID = {"pattern": f"^{EVENT_ID_PATTERN.pattern}$", "example": "sha256:" + "0" * 64}
KEYID = {"pattern": f"^{KEYID_PATTERN.pattern}$"}
UTC_TIME = {"format": "date-time", "description": "UTC, fixed width: YYYY-MM-DDTHH:MM:SS.ffffffZ"}


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class UtcDateTime(fields.AwareDateTime):
    """An RFC 3339 moment with an offset whose UTC time is within years 1–9999.

    ``9999-12-31T23:59:59-23:59`` parses, but has no UTC time: comparing it with the
    ledger's UTC columns would overflow, so it is a 422 naming the parameter.
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        moment: datetime = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(UTC)
        except OverflowError as e:
            raise ValidationError(
                f"{value!r} lies outside the years 1–9999 once converted to UTC"
            ) from e


# --- problems ------------------------------------------------------------------------------


class ProblemItemSchema(StrictSchema):
    index = fields.Integer(
        required=True,
        allow_none=True,
        metadata={
            "description": "Position of the offending event in the submitted batch"
            " (0 for a single envelope); null when not about an event"
        },
    )
    field = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "Dotted path of the offending field, e.g. `inputs[0].quantity`,"
            " `signatures[0].sig` or a query parameter"
        },
    )
    message = fields.String(required=True)


class ProblemSchema(Schema):
    """RFC 9457 problem details; extension members (e.g. ``expected_seq``) may follow."""

    class Meta:
        unknown = INCLUDE

    type = fields.String(
        required=True,
        metadata={
            "description": "A URI naming the kind of problem (`about:blank` for plain HTTP errors)"
        },
    )
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True, metadata={"description": "What went wrong, and where"})
    errors = fields.List(
        fields.Nested(ProblemItemSchema),
        metadata={"description": "Each offending event or field: `{index, field, message}`"},
    )
    expected_seq = fields.Integer(
        metadata={
            "description": "Chain conflict (409): the `seq` the signing key's chain expects next"
        }
    )
    expected_prev = fields.String(
        allow_none=True,
        metadata={
            "description": "Chain conflict (409): the `prev` (head event id) the chain expects"
        },
    )


# --- envelopes and events ------------------------------------------------------------------


class SignatureSchema(StrictSchema):
    keyid = fields.String(
        required=True,
        metadata={
            **KEYID,
            "description": "Lowercase hex SHA-256 of the raw 32-byte Ed25519 public key",
        },
    )
    sig = fields.String(
        required=True,
        metadata={
            "format": "byte",
            "description": "Base64 Ed25519 signature over PAE(payloadType, payload)",
        },
    )


class EnvelopeSchema(StrictSchema):
    """A DSSE envelope holding one signed event (DESIGN.md, "Wire format")."""

    payloadType = fields.String(required=True, validate=validate.OneOf([PAYLOAD_TYPE]))
    payload = fields.String(
        required=True,
        metadata={
            "format": "byte",
            "description": "Base64 of the payload bytes: a UTF-8 JSON object of at most 64 KiB",
        },
    )
    signatures = fields.List(
        fields.Nested(SignatureSchema), required=True, validate=validate.Length(equal=1)
    )


class EventBatchSchema(StrictSchema):
    """Several envelopes appended as one transaction: all of them, or none."""

    events = fields.List(
        fields.Nested(EnvelopeSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_BATCH_EVENTS),
    )


class AppendedSchema(StrictSchema):
    id = fields.String(required=True, metadata=EVENT_ID)
    index = fields.Integer(
        required=True, metadata={"description": "The event's position in the ledger, 0-based"}
    )
    new = fields.Boolean(
        required=True,
        metadata={
            "description": "false when the event was already stored (re-submission is idempotent)"
        },
    )


class AppendResultSchema(StrictSchema):
    events = fields.List(
        fields.Nested(AppendedSchema),
        required=True,
        metadata={"description": "One item per submitted envelope, in the order submitted"},
    )
    size = fields.Integer(required=True, metadata={"description": "Events in the ledger now"})
    checkpoint = fields.String(
        allow_none=True,
        metadata={
            "description": "The signed checkpoint (C2SP signed note) of the log including this"
            " batch (for a re-submission, the newest checkpoint, which includes"
            " it); null when the server has no log key"
        },
    )


class EventSchema(StrictSchema):
    """A stored event the caller may read (``api.http.access``)."""

    id = fields.String(required=True, metadata=EVENT_ID)
    index = fields.Integer(required=True)
    type = fields.String(required=True)
    party = fields.String(required=True)
    key = fields.String(required=True, metadata=KEYID)
    seq = fields.Integer(required=True)
    time = fields.String(required=True, metadata=UTC_TIME)
    recorded_at = fields.String(required=True, metadata=UTC_TIME)
    redacted = fields.Boolean(
        required=True,
        metadata={
            "description": "Always false: an event the caller may not read is not served at"
            " all (kept so that clients of the first API version still parse it)"
        },
    )
    envelope = fields.Nested(
        EnvelopeSchema, required=True, metadata={"description": "The envelope exactly as stored"}
    )
    payload = fields.Dict(
        required=True,
        metadata={
            "description": "The decoded payload (the signed bytes are in `envelope.payload`)"
        },
    )


class EventQuerySchema(StrictSchema):
    party = fields.String(metadata={"description": "Only events signed by this party"})
    type = fields.String(metadata={"description": "Only events of this type, e.g. `harvest`"})
    lot = fields.String(metadata={"description": "Only events that name this lot"})
    since = UtcDateTime(
        metadata={"description": "Only events whose `time` is at or after this RFC 3339 moment"}
    )
    until = UtcDateTime(
        metadata={"description": "Only events whose `time` is at or before this RFC 3339 moment"}
    )
    after = fields.Integer(
        load_default=-1,
        validate=validate.Range(min=-1, max=MAX_INDEX),
        metadata={
            "description": "Cursor: only events with a ledger index above this"
            " (pass the previous page's `next_after`)"
        },
    )
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=MAX_PAGE))


class EventPageSchema(StrictSchema):
    events = fields.List(
        fields.Nested(EventSchema),
        required=True,
        metadata={"description": "Oldest first (ledger order, newest last)"},
    )
    next_after = fields.Integer(
        required=True,
        allow_none=True,
        metadata={"description": "`after` for the next page; null when this page is the last"},
    )


# --- keys and parties ----------------------------------------------------------------------


class KeyHeadSchema(StrictSchema):
    keyid = fields.String(required=True, metadata=KEYID)
    party = fields.String(required=True)
    seq = fields.Integer(
        required=True,
        metadata={"description": "The key's last `seq` (0 when it has signed nothing)"},
    )
    prev = fields.String(
        required=True,
        allow_none=True,
        metadata={**EVENT_ID, "description": "Id of the key's last event: the next event's `prev`"},
    )


class PartyKeySchema(StrictSchema):
    keyid = fields.String(required=True, metadata=KEYID)
    public_key = fields.String(
        required=True,
        metadata={"format": "byte", "description": "Base64 of the raw 32-byte Ed25519 public key"},
    )
    active = fields.Boolean(required=True)
    added_event = fields.String(required=True, metadata=EVENT_ID)
    added_at = fields.String(required=True, metadata=UTC_TIME)
    revoked_event = fields.String(required=True, allow_none=True)
    revoked_at = fields.String(required=True, allow_none=True, metadata=UTC_TIME)
    revoke_reason = fields.String(required=True, allow_none=True)


class CertificateSchema(StrictSchema):
    id = fields.String(required=True, metadata={"description": "The certificate number"})
    certifier = fields.String(required=True)
    scheme = fields.String(required=True, metadata={"description": "e.g. `SPP`, `FT`, `ORG`"})
    products = fields.List(fields.String(), required=True)
    valid_from = fields.Date(required=True)
    valid_until = fields.Date(required=True)
    event = fields.String(required=True, metadata=EVENT_ID)
    issued_at = fields.String(required=True, metadata=UTC_TIME)
    revoked_event = fields.String(required=True, allow_none=True)
    revoked_at = fields.String(required=True, allow_none=True, metadata=UTC_TIME)
    revoke_reason = fields.String(required=True, allow_none=True)


class PartySchema(StrictSchema):
    id = fields.String(required=True, metadata={"pattern": f"^{ID_PATTERN.pattern}$"})
    name = fields.String(required=True)
    roles = fields.List(fields.String(), required=True)
    country = fields.String(required=True)
    identifiers = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    registered_event = fields.String(required=True, metadata=EVENT_ID)
    registered_at = fields.String(required=True, metadata=UTC_TIME)
    keys = fields.List(
        fields.Nested(PartyKeySchema),
        required=True,
        metadata={"description": "Every key the party ever had, active and revoked"},
    )
    certificates = fields.List(
        fields.Nested(CertificateSchema),
        required=True,
        metadata={"description": "Certificates issued to the party (from `cert.issue` events)"},
    )


class PartyQuerySchema(StrictSchema):
    after = fields.String(metadata={"description": "Cursor: only parties whose id sorts after"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=MAX_PAGE))


class PartyPageSchema(StrictSchema):
    parties = fields.List(fields.Nested(PartySchema), required=True)
    next_after = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "`after` for the next page; null when this page is the last"},
    )


# --- lots and health -----------------------------------------------------------------------

KG = {"pattern": r"^-?[0-9]+(\.[0-9]+)?$", "description": "Kilograms, as a decimal string"}


class LotCreationSchema(StrictSchema):
    party = fields.String(required=True)
    event = fields.String(required=True, metadata=EVENT_ID)
    type = fields.String(required=True, metadata={"description": "`harvest` or `transform`"})
    time = fields.String(required=True, metadata=UTC_TIME)


class LotQuantitySchema(StrictSchema):
    kg = fields.String(required=True, metadata=KG)
    as_signed = fields.String(required=True, metadata={"description": "The quantity as signed"})
    unit = fields.String(required=True)


class LotHolderSchema(StrictSchema):
    party = fields.String(required=True)
    via = fields.String(
        required=True, metadata={**EVENT_ID, "description": "The event that gave the party custody"}
    )
    kg = fields.String(required=True, metadata=KG)


class LotTransitSchema(StrictSchema):
    shipment = fields.String(required=True, metadata=EVENT_ID)
    shipper = fields.String(required=True, attribute="from", data_key="from")
    receiver = fields.String(required=True, attribute="to", data_key="to")
    kg = fields.String(required=True, metadata=KG)


class LotLossSchema(StrictSchema):
    shipment = fields.String(required=True, metadata=EVENT_ID)
    receive = fields.String(required=True, metadata=EVENT_ID)
    shipped_kg = fields.String(required=True, metadata=KG)
    received_kg = fields.String(required=True, metadata=KG)
    lost_kg = fields.String(required=True, metadata=KG)


class LotSchema(StrictSchema):
    lot = fields.String(required=True)
    product = fields.String(required=True)
    form = fields.String(required=True)
    created_by = fields.Nested(LotCreationSchema, required=True)
    quantity = fields.Nested(LotQuantitySchema, required=True)
    member = fields.String(required=True, allow_none=True)
    plot = fields.String(required=True, allow_none=True)
    voided_by = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The `void` event that declared the creating event erroneous"},
    )
    holders = fields.List(
        fields.Nested(LotHolderSchema),
        required=True,
        metadata={
            "description": "Who holds how much, per event that gave custody (zeros left out)"
        },
    )
    in_transit = fields.List(
        fields.Nested(LotTransitSchema),
        required=True,
        metadata={"description": "Shipped and not yet received"},
    )
    transit_losses = fields.List(fields.Nested(LotLossSchema), required=True)
    disposed_kg = fields.String(
        required=True,
        allow_none=True,
        metadata={
            **KG,
            "description": "All holders' write-offs; null unless the caller reads the whole ledger",
        },
    )
    consumed_kg = fields.String(
        required=True,
        allow_none=True,
        metadata={**KG, "description": "All holders' transforms; null likewise"},
    )


class IndexSchema(StrictSchema):
    name = fields.String(required=True)
    description = fields.String(required=True)
    links = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        required=True,
        metadata={"description": "Entry points by name; `{…}` are templates"},
    )


class HealthSchema(StrictSchema):
    status = fields.String(required=True, validate=validate.OneOf(["ok"]))
    database = fields.Boolean(required=True)
    events = fields.Integer(required=True, metadata={"description": "Events in the ledger"})
    ledger = fields.String(
        allow_none=True,
        metadata={
            **EVENT_ID,
            "description": "The ledger id (its genesis event's id): every event names"
            " it in `ledger`; `trazo sign --ledger` takes it",
        },
    )
