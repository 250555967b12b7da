"""trazo payloads as EPCIS 2.0 events (CBV 2.0 vocabulary) and back.

Pure: payloads and EPCIS events in, the other out. Who a party is (its GLN), what a lot
id is called on the web (the ledger's base URL) and what the ledger knows (through which
event a party holds a lot, which shipment a receipt acknowledges) come in through
:class:`Naming` and :class:`Resolver`. docs/epcis.md has the tables this module follows.

What EPCIS says that trazo has no words for is refused on import with an
:class:`Unexpressible` naming the reason code (docs/epcis.md lists them), never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlsplit

from graph.epcis.hashing import event_hash
from graph.epcis.identifiers import (
    canonical_dl,
    epc_urn_to_dl,
    fits_ai10,
    gln_location,
    gln_party,
    gtin_lot,
)
from ledger import tables
from ledger.fields import normalized_gtin

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
TRAZO_NS = "https://trazo.dev/ns/epcis/"
CONTEXT: list[Any] = [EPCIS_CONTEXT, {"trazo": TRAZO_NS}]
"""The ``@context`` of every document trazo writes: EPCIS 2.0 and trazo's extension."""

CUSTODY_TYPES = ("harvest", "transform", "ship", "receive", "dispose", "void")
"""The trazo event types that are EPCIS events; master data (parties, keys, members,
plots, certificates, grants, publications) is not."""

UNIT_CODES = {"kg": "KGM", "g": "GRM", "t": "TNE", "lb": "LBR", "oz": "ONZ"}
"""trazo units with a UN/ECE Recommendation 20 code; other units leave as KGM."""
_UNIT_OF_CODE = {code: unit for unit, code in UNIT_CODES.items()}

PROCESS_STEPS = {"pack": "packing", "blend": "assembling", "split": "disassembling"}
"""A transform's CBV business step; every other process makes new goods: ``commissioning``."""
_PROCESS_OF_STEP = {step: process for process, step in PROCESS_STEPS.items()}

TRANSACTION_TYPES = {"po": "po", "invoice": "inv", "bol": "bol", "desadv": "desadv"}
"""trazo transaction types and their CBV business transaction types."""
_CBV_TRANSACTION_TYPES = frozenset(
    {"bol", "cert", "desadv", "inv", "pedigree", "po", "poc", "prodorder", "recadv", "rma",
     "testprd", "testres", "upevt"}
)  # fmt: skip
_TRANSACTION_OF_CBV = {cbv: trazo for trazo, cbv in TRANSACTION_TYPES.items()}

_OFFSET = re.compile(r".*([+-]\d\d:\d\d|[Zz])")


@dataclass(frozen=True)
class Naming:
    """How identifiers are written: the ledger's base URL (``https://ledger.example``)
    and each party's GLN, if it registered one."""

    base_url: str
    gln_of: Callable[[str], str | None] = lambda _party: None

    def lot(self, lot: str, gtin: str | None = None) -> str:
        if gtin is not None and fits_ai10(lot):
            return gtin_lot(normalized_gtin(gtin), lot)
        return f"{self.base_url.rstrip('/')}/api/v1/lots/{quote(lot, safe=':~')}"

    def party(self, party: str) -> str:
        gln = self.gln_of(party)
        return gln_party(gln) if gln else self._party_uri(party)

    def location(self, party: str) -> str:
        gln = self.gln_of(party)
        return gln_location(gln) if gln else self._party_uri(party)

    def transaction(self, party: str, ident: str) -> str:
        gln = self.gln_of(party)
        if gln:
            return f"urn:epcglobal:cbv:bt:{gln}:{quote(ident, safe='')}"
        return f"{self._party_uri(party)}#bt:{quote(ident, safe='')}"

    def event(self, event_id: str) -> str:
        """A signed event: its envelope, at ``GET /api/v1/events/{id}``."""
        return f"{self.base_url.rstrip('/')}/api/v1/events/{event_id}"

    def _party_uri(self, party: str) -> str:
        return f"{self.base_url.rstrip('/')}/api/v1/parties/{quote(party, safe='~')}"


# --- export: payload → EPCIS ------------------------------------------------------------------


def to_epcis(
    payload: Mapping[str, Any],
    event_id: str,
    naming: Naming,
    *,
    voided: tuple[Mapping[str, Any], str] | None = None,
    shipper: str | None = None,
) -> dict[str, Any]:
    """The EPCIS event of one trazo custody event, its CBV 2.0 hash as ``eventID``.

    A ``void`` needs the event it voids, ``voided`` = (payload, id): EPCIS declares an
    error on the erroneous event itself, so the void is that event with an
    ``errorDeclaration`` (and the same hash). A ``receive`` needs its shipper.
    """
    kind = payload["type"]
    if kind == "void":
        if voided is None:
            raise ValueError("exporting a void needs the event it voids")
        declared = to_epcis(voided[0], voided[1], naming, shipper=shipper)
        declared["errorDeclaration"] = {
            "declarationTime": payload["time"],
            "reason": "incorrect_data",
            "trazo:void": event_id,
            "trazo:reason": payload["reason"],
        }
        return declared
    body = _BUILDERS[kind](payload, naming, shipper)
    event: dict[str, Any] = {
        "type": body.pop("type"),
        "eventTime": payload["time"],
        "eventTimeZoneOffset": time_zone_offset(payload["time"]),
        **body,
        "trazo:event": event_id,
        "trazo:party": payload["party"],
    }
    return {"eventID": event_hash(event, CONTEXT), **event}


def business_content(event: Mapping[str, Any]) -> dict[str, Any]:
    """What an EPCIS event says about the goods: without trazo's own extension fields
    (the reference to the signed envelope and what only trazo needs)."""
    return {k: v for k, v in event.items() if not k.startswith("trazo:")}


def time_zone_offset(time: str) -> str:
    m = _OFFSET.fullmatch(time)
    offset = m.group(1) if m else "+00:00"
    return "+00:00" if offset in ("Z", "z") else offset


def quantity_element(line: Mapping[str, Any], naming: Naming) -> dict[str, Any]:
    unit = line["unit"]
    quantity = Decimal(line["quantity"])
    code = UNIT_CODES.get(unit)
    if code is None:  # a quintal, a bag: no Rec. 20 code, so in kilograms
        quantity, code = quantity * tables.unit_table()[unit], "KGM"
    return {
        "epcClass": naming.lot(line["lot"], line.get("gtin")),
        "quantity": quantity,
        "uom": code,
    }


def _lines(lines: list[Mapping[str, Any]], *, via: bool) -> list[dict[str, Any]]:
    """``trazo:lines``: what a quantity list cannot say of each line, in payload order."""
    out = []
    for line in lines:
        item = {"trazo:lot": line["lot"]}
        if via:
            item["trazo:event"] = line["event"]
        if "gtin" in line:
            item["trazo:gtin"] = line["gtin"]
        if line["unit"] not in UNIT_CODES:
            item["trazo:unit"] = line["unit"]
            item["trazo:quantity"] = line["quantity"]
        out.append(item)
    return out


def _parties(party: str, naming: Naming, key: str) -> list[dict[str, str]]:
    uri = naming.party(party)
    return [{"type": "owning_party", key: uri}, {"type": "possessing_party", key: uri}]


def _harvest(p: Mapping[str, Any], naming: Naming, _shipper: str | None) -> dict[str, Any]:
    ilmd = {"trazo:product": p["product"], "trazo:form": p["form"]}
    if "member" in p:
        ilmd.update({"trazo:member": p["member"], "trazo:plot": p["plot"]})
    return {
        "type": "ObjectEvent",
        "quantityList": [quantity_element(p, naming)],
        "action": "ADD",
        "bizStep": "commissioning",
        "disposition": "active",
        "bizLocation": {"id": naming.location(p["party"])},
        "ilmd": ilmd,
        "trazo:lines": _lines([p], via=False),
    }


def _transform(p: Mapping[str, Any], naming: Naming, _shipper: str | None) -> dict[str, Any]:
    return {
        "type": "TransformationEvent",
        "inputQuantityList": [quantity_element(line, naming) for line in p["inputs"]],
        "outputQuantityList": [quantity_element(line, naming) for line in p["outputs"]],
        "bizStep": PROCESS_STEPS.get(p["process"], "commissioning"),
        "disposition": "active",
        "bizLocation": {"id": naming.location(p["party"])},
        "ilmd": {"trazo:outputs": [_output_master(o) for o in p["outputs"]]},
        "trazo:process": p["process"],
        "trazo:lines": _lines(p["inputs"], via=True),
        "trazo:outputLines": _lines(p["outputs"], via=False),
    }


def _output_master(output: Mapping[str, Any]) -> dict[str, Any]:
    """What an output lot is (product, form, and the retail unit it is packed in, if any):
    EPCIS has no field for it, so it is the TransformationEvent's ilmd."""
    master = {
        "trazo:lot": output["lot"],
        "trazo:product": output["product"],
        "trazo:form": output["form"],
    }
    if "package" in output:
        master["trazo:package"] = dict(output["package"])
    return master


def _ship(p: Mapping[str, Any], naming: Naming, _shipper: str | None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "quantityList": [quantity_element(line, naming) for line in p["lots"]],
        "action": "OBSERVE",
        "bizStep": "shipping",
        "disposition": "in_transit",
        "bizLocation": {"id": naming.location(p["party"])},
    }
    if p.get("transactions"):
        event["bizTransactionList"] = [
            {
                "type": _transaction_type(t["type"]),
                "bizTransaction": naming.transaction(p["party"], t["id"]),
            }
            for t in p["transactions"]
        ]
    event["sourceList"] = _parties(p["party"], naming, "source")
    event["destinationList"] = _parties(p["to"], naming, "destination")
    event["trazo:lines"] = _lines(p["lots"], via=True)
    if "transactions" in p:
        event["trazo:transactions"] = [t["id"] for t in p["transactions"]]
    if "claims" in p:
        event["trazo:claims"] = list(p["claims"])
    return event


def _transaction_type(kind: str) -> str:
    if kind in TRANSACTION_TYPES:
        return TRANSACTION_TYPES[kind]
    if kind in _CBV_TRANSACTION_TYPES:
        return kind
    return f"{TRAZO_NS}bt-{quote(kind, safe='')}"


def _receive(p: Mapping[str, Any], naming: Naming, shipper: str | None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "quantityList": [quantity_element(line, naming) for line in p["lots"]],
        "action": "OBSERVE",
        "bizStep": "receiving",
        "disposition": "in_progress",
        "bizLocation": {"id": naming.location(p["party"])},
    }
    if shipper is not None:
        event["sourceList"] = _parties(shipper, naming, "source")
    event["destinationList"] = _parties(p["party"], naming, "destination")
    event["trazo:shipment"] = p["shipment"]
    event["trazo:lines"] = _lines(p["lots"], via=False)
    return event


def _dispose(p: Mapping[str, Any], naming: Naming, _shipper: str | None) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "quantityList": [quantity_element(p, naming)],
        "action": "DELETE",
        "bizStep": "destroying",
        "disposition": "destroyed",
        "bizLocation": {"id": naming.location(p["party"])},
        "trazo:lines": _lines([p], via=True),
        "trazo:reason": p["reason"],
    }


_BUILDERS: dict[str, Callable[[Mapping[str, Any], Naming, str | None], dict[str, Any]]] = {
    "harvest": _harvest,
    "transform": _transform,
    "ship": _ship,
    "receive": _receive,
    "dispose": _dispose,
}


# --- import: EPCIS → payload ------------------------------------------------------------------


class Unexpressible(Exception):
    """An EPCIS event trazo cannot state as a payload: ``reason`` is a documented code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class Resolver(Protocol):
    """What the ledger (and the importer's outbox) knows, for an import."""

    def party_by_gln(self, gln: str) -> str | None: ...

    def holding(self, party: str, lot: str, kg: Decimal) -> str | None:
        """The event through which ``party`` holds at least ``kg`` of ``lot``."""

    def shipment(self, receiver: str, shipper: str | None, lots: list[str]) -> str | None:
        """The in-transit shipment to ``receiver`` (from ``shipper``) carrying ``lots``."""

    def imported(self, epcis_hash: str) -> str | None:
        """The trazo event id an EPCIS event of this hash was imported as."""

    def exported(self, event_id: str, epcis_hash: str) -> bool:
        """Whether the ledger's event ``event_id`` is exported with this CBV 2.0 hash."""


@dataclass
class Imported:
    """One EPCIS event as a trazo payload (unsigned: ``party``, ``time`` and the type's
    fields), and the hash of the EPCIS event it came from."""

    payload: dict[str, Any]
    epcis_hash: str
    spends: list[tuple[str, Decimal]] = field(default_factory=list)


STANDARD_FIELDS = {
    "ObjectEvent": frozenset(
        {"type", "eventTime", "eventTimeZoneOffset", "eventID", "recordTime", "quantityList",
         "action", "bizStep", "disposition", "bizLocation", "bizTransactionList", "sourceList",
         "destinationList", "ilmd", "errorDeclaration", "certificationInfo", "@context"}
    ),
    "TransformationEvent": frozenset(
        {"type", "eventTime", "eventTimeZoneOffset", "eventID", "recordTime",
         "inputQuantityList", "outputQuantityList", "bizStep", "disposition", "bizLocation",
         "ilmd", "errorDeclaration", "certificationInfo", "@context"}
    ),
}  # fmt: skip
TRAZO_FIELDS = frozenset(
    {"trazo:event", "trazo:party", "trazo:lines", "trazo:outputLines", "trazo:process",
     "trazo:claims", "trazo:shipment", "trazo:reason", "trazo:transactions"}
)  # fmt: skip
_SERIALIZED = ("epcList", "inputEPCList", "outputEPCList", "childEPCs", "parentID")


def from_epcis(event: Mapping[str, Any], context: Any, party: str, resolver: Resolver) -> Imported:
    """The trazo payload ``party`` signs for one EPCIS event, or ``Unexpressible``."""
    epcis_hash = event_hash(event, context)
    kind = event.get("type")
    if kind not in STANDARD_FIELDS:
        raise Unexpressible(
            "unsupported-event-type",
            f"{kind}: trazo records ObjectEvent and TransformationEvent (custody of lots)",
        )
    for name in _SERIALIZED:
        if name in event:
            raise Unexpressible(
                "serialized-items",
                f"{name}: trazo follows lots by mass (quantityList), not serialised items",
            )
    extra = sorted(set(event) - STANDARD_FIELDS[kind] - TRAZO_FIELDS)
    if extra:
        raise Unexpressible("unsupported-field", f"{extra[0]}: trazo has no field for it")
    _certification_info(event.get("certificationInfo"))
    if "errorDeclaration" in event:
        return _void(event, party, epcis_hash, resolver)
    _check_location(event, party, resolver)
    time = _time(event)
    step = _bare(event.get("bizStep"), "BizStep-")
    if kind == "TransformationEvent":
        payload, spends = _transform_in(event, party, step, resolver)
    elif event.get("action") == "ADD" and step == "commissioning":
        payload, spends = _harvest_in(event), []
    elif event.get("action") == "OBSERVE" and step == "shipping":
        payload, spends = _ship_in(event, party, resolver)
    elif event.get("action") == "OBSERVE" and step == "receiving":
        payload, spends = _receive_in(event, party, resolver), []
    elif event.get("action") in ("DELETE", "OBSERVE") and step == "destroying":
        payload, spends = _dispose_in(event, party, resolver)
    else:
        raise Unexpressible(
            "unsupported-business-step",
            f"{event.get('action')} {step}: trazo maps commissioning (ADD), shipping,"
            " receiving, destroying and TransformationEvent",
        )
    return Imported({"party": party, "time": time, **payload}, epcis_hash, spends)


_CERTIFICATE_EVENT = re.compile(r"https?://[^\s]+/api/v1/events/sha256:[0-9a-f]{64}")


def _certification_info(value: Any) -> None:
    """trazo writes ``certificationInfo`` itself, from the ledger's certificates (the
    ``cert.issue`` events behind a shipment's claims), so the import takes only such
    references back, which it derives again; anything else it cannot carry."""
    if value is None:
        return
    for uri in value if isinstance(value, list) else [value]:
        if not _CERTIFICATE_EVENT.fullmatch(str(uri)):
            raise Unexpressible(
                "unsupported-field",
                f"certificationInfo {uri}: trazo states certificates as signed cert.issue"
                " events, not as a reference in another party's event",
            )


def _time(event: Mapping[str, Any]) -> str:
    """The payload's ``time``: the event time in the offset the event states (EPCIS may
    write a time in UTC beside its ``eventTimeZoneOffset``)."""
    time = str(event["eventTime"])
    offset = str(event.get("eventTimeZoneOffset", "+00:00"))
    if not time.endswith(("Z", "z")) or offset == "+00:00":
        return time
    sign = 1 if offset[0] == "+" else -1
    delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])) * sign
    moment = datetime.fromisoformat(time[:-1] + "+00:00")
    return moment.astimezone(timezone(delta)).isoformat()


def _bare(value: Any, web: str) -> str | None:
    if value is None:
        return None
    text = str(value)
    for prefix in (f"https://ref.gs1.org/cbv/{web}", f"urn:epcglobal:cbv:{web[:-1].lower()}:"):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def _party_of(uri: str, resolver: Resolver) -> str:
    dl = canonical_dl(uri) if uri.startswith("http") else epc_urn_to_dl(uri)
    if dl is not None:
        path = urlsplit(dl).path.split("/")
        if len(path) >= 3 and path[1] in ("414", "417"):
            found = resolver.party_by_gln(path[2])
            if found is None:
                raise Unexpressible("unknown-party", f"no party of the ledger has GLN {path[2]}")
            return found
    m = re.fullmatch(r"https?://[^/]+(?:/.*)?/api/v1/parties/([^/?#]+)(?:#.*)?", uri)
    if m:
        return unquote(m.group(1))
    raise Unexpressible("unknown-party", f"{uri} names no party the ledger knows")


def _check_location(event: Mapping[str, Any], party: str, resolver: Resolver) -> None:
    where = event.get("bizLocation")
    if isinstance(where, Mapping) and "id" in where:
        extra = sorted(set(where) - {"id"})
        if extra:
            raise Unexpressible("unsupported-field", f"bizLocation.{extra[0]}")
        at = _party_of(str(where["id"]), resolver)
        if at != party:
            raise Unexpressible(
                "not-the-signer",
                f"the event happened at {at!r}'s location; {party!r} signs only its own events",
            )


def _lot_of(epc_class: str) -> tuple[str, str | None]:
    """A quantity element's class as (trazo lot id, GTIN or None)."""
    dl = epc_urn_to_dl(epc_class) if epc_class.startswith("urn:epc:") else None
    dl = dl or canonical_dl(epc_class)
    if dl is not None:
        parts = urlsplit(dl).path.split("/")
        if len(parts) == 5 and parts[1] == "01" and parts[3] == "10":
            return unquote(parts[4]), parts[2]
        raise Unexpressible(
            "no-lot", f"{epc_class} names a trade item, not a lot (GTIN + batch/lot, AI 10)"
        )
    m = re.fullmatch(r"https?://[^/]+(?:/.*)?/api/v1/lots/([^/?#]+)", epc_class)
    if m:
        return unquote(m.group(1)), None
    raise Unexpressible("no-lot", f"{epc_class} is neither a trazo lot nor a GS1 lot")


def _quantity_lines(event: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    """A quantity list as trazo lines ``{lot, quantity, unit[, gtin]}``; ``trazo:lines``
    (what trazo's own export adds) restores the unit and GTIN exactly."""
    elements = event.get(name)
    if not isinstance(elements, list) or not elements:
        raise Unexpressible("no-quantity", f"{name}: trazo needs the quantity of every lot")
    extras_name = "trazo:outputLines" if name == "outputQuantityList" else "trazo:lines"
    extras = event.get(extras_name)
    extras = extras if isinstance(extras, list) and len(extras) == len(elements) else None
    lines = []
    for i, element in enumerate(elements):
        lot, gtin = _lot_of(str(element.get("epcClass", "")))
        if "quantity" not in element:
            raise Unexpressible("no-quantity", f"{name}[{i}] states no quantity")
        unit = _UNIT_OF_CODE.get(str(element.get("uom", "")))
        if unit is None:
            raise Unexpressible(
                "not-a-mass",
                f"{name}[{i}].uom {element.get('uom')!r}: trazo counts mass (KGM, GRM, TNE,"
                " LBR, ONZ)",
            )
        try:
            quantity = _decimal_text(Decimal(str(element["quantity"])))
        except InvalidOperation as e:
            raise Unexpressible("no-quantity", f"{name}[{i}].quantity is not a number") from e
        line: dict[str, Any] = {"lot": lot, "quantity": quantity, "unit": unit}
        extra = extras[i] if extras is not None else {}
        if isinstance(extra, Mapping) and extra.get("trazo:lot") == lot:
            if "trazo:event" in extra:
                line["event"] = extra["trazo:event"]
            if "trazo:unit" in extra:
                line.update(unit=extra["trazo:unit"], quantity=extra["trazo:quantity"])
            gtin = extra.get("trazo:gtin", gtin)
        if gtin is not None:
            line["gtin"] = gtin
        lines.append(line)
    return lines


def _decimal_text(value: Decimal) -> str:
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    return format(value.normalize(), "f")


def _kg(line: Mapping[str, Any]) -> Decimal:
    return Decimal(line["quantity"]) * tables.unit_table()[line["unit"]]


def _spend(lines: list[dict[str, Any]], party: str, resolver: Resolver) -> list[dict[str, Any]]:
    """Name the holding each line spends, asking the ledger when the event does not say."""
    out = []
    for line in lines:
        if "event" not in line:
            via = resolver.holding(party, line["lot"], _kg(line))
            if via is None:
                raise Unexpressible(
                    "no-holding",
                    f"{party!r} holds no {line['quantity']} {line['unit']} of lot"
                    f" {line['lot']!r} through any one event",
                )
            line = {
                "lot": line["lot"],
                "event": via,
                **{k: v for k, v in line.items() if k != "lot"},
            }
        out.append(_line_order(line, ("lot", "event", "quantity", "unit", "gtin")))
    return out


def _line_order(line: Mapping[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    return {k: line[k] for k in order if k in line}


def _ilmd(event: Mapping[str, Any]) -> Mapping[str, Any]:
    ilmd = event.get("ilmd") or {}
    return ilmd if isinstance(ilmd, Mapping) else {}


def _harvest_in(event: Mapping[str, Any]) -> dict[str, Any]:
    lines = _quantity_lines(event, "quantityList")
    if len(lines) != 1:
        raise Unexpressible("unsupported-field", "a harvest creates one lot: one quantity")
    ilmd = _ilmd(event)
    if "trazo:product" not in ilmd or "trazo:form" not in ilmd:
        raise Unexpressible(
            "missing-master-data", "ilmd names no trazo:product and trazo:form for the new lot"
        )
    line = lines[0]
    payload: dict[str, Any] = {
        "type": "harvest",
        "lot": line["lot"],
        "product": ilmd["trazo:product"],
        "form": ilmd["trazo:form"],
        "quantity": line["quantity"],
        "unit": line["unit"],
    }
    if "trazo:member" in ilmd:
        payload.update(member=ilmd["trazo:member"], plot=ilmd.get("trazo:plot"))
    if "gtin" in line:
        payload["gtin"] = line["gtin"]
    return payload


def _transform_in(
    event: Mapping[str, Any], party: str, step: str | None, resolver: Resolver
) -> tuple[dict[str, Any], list[tuple[str, Decimal]]]:
    process = event.get("trazo:process") or _PROCESS_OF_STEP.get(step or "")
    if not process:
        raise Unexpressible(
            "missing-master-data",
            f"bizStep {step!r} does not say which process (trazo:process: roast, dry-mill…)",
        )
    inputs = _spend(_quantity_lines(event, "inputQuantityList"), party, resolver)
    made = {
        o.get("trazo:lot"): o
        for o in _ilmd(event).get("trazo:outputs", [])
        if isinstance(o, Mapping)
    }
    outputs = []
    for line in _quantity_lines(event, "outputQuantityList"):
        master = made.get(line["lot"])
        if master is None:
            raise Unexpressible(
                "missing-master-data",
                f"ilmd trazo:outputs names no product and form of output lot {line['lot']!r}",
            )
        out = {"lot": line["lot"], "product": master.get("trazo:product"),
               "form": master.get("trazo:form"), **line}  # fmt: skip
        if "trazo:package" in master:
            out["package"] = master["trazo:package"]
        outputs.append(
            _line_order(out, ("lot", "product", "form", "quantity", "unit", "gtin", "package"))
        )
    payload = {"type": "transform", "process": process, "inputs": inputs, "outputs": outputs}
    return payload, [(line["lot"], _kg(line)) for line in inputs]


def _counterpart(event: Mapping[str, Any], name: str, key: str, resolver: Resolver) -> str | None:
    found = None
    for item in event.get(name) or []:
        kind = _bare(item.get("type"), "SDT-")
        if kind in ("owning_party", "possessing_party"):
            party = _party_of(str(item.get(key, "")), resolver)
            if found is not None and party != found:
                raise Unexpressible(
                    "unsupported-field",
                    f"{name}: owner {found!r} and possessor {party!r} differ; in trazo the"
                    " holder owns what it holds",
                )
            found = party
        elif kind == "location":
            party = _party_of(str(item.get(key, "")), resolver)
            found = found or party
    return found


def _ship_in(
    event: Mapping[str, Any], party: str, resolver: Resolver
) -> tuple[dict[str, Any], list[tuple[str, Decimal]]]:
    source = _counterpart(event, "sourceList", "source", resolver)
    if source is not None and source != party:
        raise Unexpressible("not-the-signer", f"the shipper is {source!r}, not {party!r}")
    to = _counterpart(event, "destinationList", "destination", resolver)
    if to is None:
        raise Unexpressible("unknown-party", "destinationList names no receiving party")
    lots = _spend(_quantity_lines(event, "quantityList"), party, resolver)
    payload: dict[str, Any] = {"type": "ship", "to": to, "lots": lots}
    transactions = _transactions_in(event)
    if transactions is not None:
        payload["transactions"] = transactions
    if "trazo:claims" in event:
        payload["claims"] = list(event["trazo:claims"])
    return payload, [(line["lot"], _kg(line)) for line in lots]


def _transactions_in(event: Mapping[str, Any]) -> list[dict[str, str]] | None:
    items = event.get("bizTransactionList")
    if items is None:
        return [] if event.get("trazo:transactions") == [] else None
    ids = event.get("trazo:transactions")
    ids = ids if isinstance(ids, list) and len(ids) == len(items) else None
    out = []
    for i, item in enumerate(items):
        kind = _bare(item.get("type", "other"), "BTT-") or "other"
        if kind.startswith(f"{TRAZO_NS}bt-"):
            kind = unquote(kind[len(TRAZO_NS) + 3 :])
        kind = _TRANSACTION_OF_CBV.get(kind, kind)
        uri = str(item["bizTransaction"])
        if ids is not None:
            ident = str(ids[i])
        elif uri.startswith("urn:epcglobal:cbv:bt:"):
            ident = unquote(uri.split(":", 5)[-1])
        elif "#bt:" in uri:
            ident = unquote(uri.split("#bt:", 1)[1])
        else:
            ident = uri
        out.append({"type": kind, "id": ident})
    return out


def _receive_in(event: Mapping[str, Any], party: str, resolver: Resolver) -> dict[str, Any]:
    to = _counterpart(event, "destinationList", "destination", resolver)
    if to is not None and to != party:
        raise Unexpressible("not-the-signer", f"the receiver is {to!r}, not {party!r}")
    lines = [
        _line_order(line, ("lot", "quantity", "unit", "gtin"))
        for line in _quantity_lines(event, "quantityList")
    ]
    shipment = event.get("trazo:shipment")
    if shipment is None:
        shipper = _counterpart(event, "sourceList", "source", resolver)
        shipment = resolver.shipment(party, shipper, [line["lot"] for line in lines])
        if shipment is None:
            raise Unexpressible(
                "no-shipment", f"no shipment in transit to {party!r} carries these lots"
            )
    return {"type": "receive", "shipment": shipment, "lots": lines}


def _dispose_in(
    event: Mapping[str, Any], party: str, resolver: Resolver
) -> tuple[dict[str, Any], list[tuple[str, Decimal]]]:
    lines = _spend(_quantity_lines(event, "quantityList"), party, resolver)
    if len(lines) != 1:
        raise Unexpressible("unsupported-field", "a trazo dispose writes off one lot")
    reason = event.get("trazo:reason") or f"EPCIS {_bare(event.get('disposition'), 'Disp-')}"
    payload = {"type": "dispose", **lines[0], "reason": reason}
    return payload, [(lines[0]["lot"], _kg(lines[0]))]


def _void(event: Mapping[str, Any], party: str, epcis_hash: str, resolver: Resolver) -> Imported:
    declaration = event["errorDeclaration"]
    extra = sorted(set(declaration) - {"declarationTime", "reason", "trazo:void", "trazo:reason"})
    if extra:
        raise Unexpressible("unsupported-field", f"errorDeclaration.{extra[0]}")
    target = resolver.imported(epcis_hash)
    named = event.get("trazo:event")
    if target is None and isinstance(named, str) and resolver.exported(named, epcis_hash):
        target = named  # trazo's own export, declared erroneous
    if target is None:
        raise Unexpressible(
            "unknown-voided-event",
            f"no event of hash {epcis_hash} was imported, and no ledger event it names"
            " (trazo:event) is exported with that hash: an error declaration voids only the"
            " event it declares",
        )
    reason = declaration.get("trazo:reason") or (
        f"EPCIS error declaration: {_bare(declaration.get('reason', 'incorrect_data'), 'ER-')}"
    )
    payload = {"type": "void", "event": target, "reason": reason}
    return Imported(
        {"party": party, "time": str(declaration["declarationTime"]), **payload}, epcis_hash
    )
