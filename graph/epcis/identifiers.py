"""GS1 identifiers as EPCIS 2.0 writes them: EPC URNs and GS1 Digital Link URIs.

The CBV 2.0 event hash compares identifiers in one form, the *constrained canonical GS1
Digital Link URI* (``https://id.gs1.org/…``): an EPC URN (``urn:epc:id:sgtin:…``) is
rewritten into it, and a Digital Link URI on another domain, with a query string or with
more key qualifiers than the finest level of identification is cut down to it. trazo's
own exports write Digital Link URIs from the start (a party's GLN, a line's GTIN).

Written from the GS1 Tag Data Standard (EPC URN bodies) and GS1 Digital Link 1.2
(section 4.11, the canonical URI); no code was copied.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit

from ledger.fields import gs1_check_digit

DL_ORIGIN = "https://id.gs1.org"


def gln_location(gln: str) -> str:
    """A party's GLN as a location (bizLocation, a ``location`` source or destination)."""
    return f"{DL_ORIGIN}/414/{gln}"


def gln_party(gln: str) -> str:
    """A party's GLN as a party (an ``owning_party`` or ``possessing_party``)."""
    return f"{DL_ORIGIN}/417/{gln}"


def gtin_lot(gtin14: str, lot: str) -> str:
    """A lot of a trade item: GTIN (AI 01) + batch/lot (AI 10)."""
    return f"{DL_ORIGIN}/01/{gtin14}/10/{quote(lot, safe='')}"


_LOT_AI10 = re.compile(r"[A-Za-z0-9!%&'()*+,\-./:;<=>?_\"]{1,20}")


def fits_ai10(lot: str) -> bool:
    """Whether a lot id is a valid AI (10) batch/lot number: at most 20 characters of GS1
    character set 82."""
    return bool(_LOT_AI10.fullmatch(lot))


def _with_check(digits: str) -> str:
    return digits + gs1_check_digit(digits)


def _dl(path: str) -> str:
    return DL_ORIGIN + path


def _esc(value: str) -> str:
    """An EPC URN component (which escapes with %XX) as a Digital Link path segment."""
    return quote(unquote(value), safe="")


def _sgtin_gtin(company: str, item: str) -> str:
    # the item reference's first digit is the indicator digit, which goes first
    return _with_check(item[:1] + company + item[1:])


def _urn_sgtin(parts: list[str]) -> str:
    company, item, serial = parts
    return _dl(f"/01/{_sgtin_gtin(company, item)}/21/{_esc(serial)}")


def _urn_sscc(parts: list[str]) -> str:
    company, serial = parts
    return _dl(f"/00/{_with_check(serial[:1] + company + serial[1:])}")


def _urn_sgln(parts: list[str]) -> str:
    company, location, extension = parts
    gln = _with_check(company + location)
    return _dl(f"/414/{gln}" + ("" if extension == "0" else f"/254/{_esc(extension)}"))


def _urn_pgln(parts: list[str]) -> str:
    company, party = parts
    return _dl(f"/417/{_with_check(company + party)}")


def _urn_grai(parts: list[str]) -> str:
    company, asset, serial = parts
    return _dl(f"/8003/0{_with_check(company + asset)}{_esc(serial)}")


def _urn_giai(parts: list[str]) -> str:
    company, asset = parts
    return _dl(f"/8004/{company}{_esc(asset)}")


def _urn_gsrn(parts: list[str]) -> str:
    company, service = parts
    return _dl(f"/8018/{_with_check(company + service)}")


def _urn_gsrnp(parts: list[str]) -> str:
    company, service = parts
    return _dl(f"/8017/{_with_check(company + service)}")


def _urn_gdti(parts: list[str]) -> str:
    company, doctype, serial = parts
    return _dl(f"/253/{_with_check(company + doctype)}{_esc(serial)}")


def _urn_sgcn(parts: list[str]) -> str:
    company, coupon, serial = parts
    return _dl(f"/255/{_with_check(company + coupon)}{_esc(serial)}")


def _urn_ginc(parts: list[str]) -> str:
    company, consignment = parts
    return _dl(f"/401/{company}{_esc(consignment)}")


def _urn_gsin(parts: list[str]) -> str:
    company, shipper = parts
    return _dl(f"/402/{_with_check(company + shipper)}")


def _urn_cpi(parts: list[str]) -> str:
    company, component, serial = parts
    return _dl(f"/8010/{company}{_esc(component)}/8011/{serial}")


_EPC_ID = {
    "sgtin": _urn_sgtin,
    "sscc": _urn_sscc,
    "sgln": _urn_sgln,
    "pgln": _urn_pgln,
    "grai": _urn_grai,
    "giai": _urn_giai,
    "gsrn": _urn_gsrn,
    "gsrnp": _urn_gsrnp,
    "gdti": _urn_gdti,
    "sgcn": _urn_sgcn,
    "ginc": _urn_ginc,
    "gsin": _urn_gsin,
    "cpi": _urn_cpi,
}


def _epc_class(scheme: str, parts: list[str]) -> str | None:
    if scheme == "lgtin" and len(parts) == 3:
        company, item, lot = parts
        return _dl(f"/01/{_sgtin_gtin(company, item)}/10/{_esc(lot)}")
    return None


def _epc_pattern(scheme: str, parts: list[str]) -> str | None:
    # only a pattern over a whole class names a GS1 key: sgtin CP.IR.* is the GTIN
    if scheme == "sgtin" and len(parts) == 3 and parts[2] == "*" and "*" not in parts[:2]:
        return _dl(f"/01/{_sgtin_gtin(parts[0], parts[1])}")
    return None


def epc_urn_to_dl(uri: str) -> str | None:
    """An EPC URN (``urn:epc:id:``, ``urn:epc:class:``, ``urn:epc:idpat:``) as a
    canonical Digital Link URI, or None when it is not one that names a GS1 key."""
    m = re.fullmatch(r"urn:epc:(id|class|idpat):([a-z0-9]+):(.+)", uri)
    if not m:
        return None
    kind, scheme, body = m.groups()
    parts = body.split(".")
    try:
        if kind == "id" and scheme in _EPC_ID:
            return _EPC_ID[scheme](parts)
        if kind == "class":
            return _epc_class(scheme, parts)
        if kind == "idpat":
            return _epc_pattern(scheme, parts)
    except ValueError:
        return None
    return None


# --- Digital Link URIs --------------------------------------------------------------------

_PRIMARY_KEYS = {
    "00": r"[0-9]{18}",
    "01": r"[0-9]{14}",
    "253": r"[0-9]{13}[\x21-\x7e]{0,17}",
    "255": r"[0-9]{13}[0-9]{0,12}",
    "401": r"[\x21-\x7e]{1,30}",
    "402": r"[0-9]{17}",
    "414": r"[0-9]{13}",
    "417": r"[0-9]{13}",
    "8003": r"[0-9]{14}[\x21-\x7e]{0,16}",
    "8004": r"[\x21-\x7e]{1,30}",
    "8006": r"[0-9]{18}",
    "8010": r"[\x21-\x7e]{1,30}",
    "8017": r"[0-9]{18}",
    "8018": r"[0-9]{18}",
}
# the qualifiers kept after each primary key: the finest level of identification
_KEPT_QUALIFIER = {"01": ("21", "10", "235"), "414": ("254",), "8006": ("21", "10"),
                   "8010": ("8011",)}  # fmt: skip


def canonical_dl(uri: str) -> str | None:
    """A GS1 Digital Link URI (any domain) as its constrained canonical form, or None
    when ``uri`` is not a Digital Link URI: ``https://id.gs1.org``, no query string, and
    only the finest key qualifier (a serial over a lot: ``/01/G/10/L/21/S`` → ``/01/G/21/S``).
    """
    if not uri.startswith(("http://", "https://")):
        return None
    try:
        path = [unquote(s) for s in urlsplit(uri).path.split("/") if s]
    except ValueError:  # not a URL after all (an unbalanced "[" in the host)
        return None
    for start in range(len(path) - 1):
        key = path[start]
        if key in _PRIMARY_KEYS and re.fullmatch(_PRIMARY_KEYS[key], path[start + 1]):
            pairs = path[start:]
            if len(pairs) % 2:
                return None
            found = dict(zip(pairs[::2], pairs[1::2], strict=True))
            out = f"/{key}/{quote(found[key], safe='')}"
            for qualifier in _KEPT_QUALIFIER.get(key, ()):
                if qualifier in found:
                    out += f"/{qualifier}/{quote(found[qualifier], safe='')}"
                    break
            return _dl(out)
    return None


def canonical_id(uri: str) -> str:
    """An identifier as the event hash compares it: an EPC URN or a Digital Link URI in
    canonical Digital Link form, anything else unchanged."""
    if uri.startswith("urn:epc:"):
        return epc_urn_to_dl(uri) or uri
    return canonical_dl(uri) or uri
