"""The CBV 2.0 EPCIS Event Hash ID against the reference implementation's published
vectors (tests/vectors/epcis/SOURCE.md), byte for byte."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph.epcis.hashing import event_hash, hash_time, number, pre_hash, vocabulary
from graph.epcis.identifiers import canonical_id, epc_urn_to_dl

VECTORS = Path(__file__).parent.parent / "vectors" / "epcis" / "hash"
DOCUMENTS = sorted(VECTORS.glob("*.jsonld"))


def _events(path: Path) -> tuple[list[dict[str, object]], object]:
    doc = json.loads(path.read_text("utf-8"), parse_float=Decimal)
    return doc["epcisBody"]["eventList"], doc["@context"]


def test_there_are_vectors() -> None:
    assert len(DOCUMENTS) >= 4


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.stem)
def test_published_hashes(path: Path) -> None:
    events, context = _events(path)
    expected = path.with_suffix(".hashes").read_text("ascii").split()
    assert [event_hash(e, context) for e in events] == expected


@pytest.mark.parametrize(
    "path", [p for p in DOCUMENTS if p.with_suffix(".prehashes").exists()], ids=lambda p: p.stem
)
def test_published_pre_hash_strings(path: Path) -> None:
    events, context = _events(path)
    expected = path.with_suffix(".prehashes").read_text("utf-8").splitlines()
    assert [pre_hash(e, context) for e in events] == expected


def test_hash_ignores_what_the_standard_leaves_out() -> None:
    events, context = _events(VECTORS / "ReferenceEventHashAlgorithm.jsonld")
    event = dict(events[0])
    base = event_hash(event, context)
    for extra in (
        {"eventID": "urn:uuid:1"},
        {"recordTime": "2030-01-01T00:00:00Z"},
        {"certificationInfo": "https://example.org/c"},
        {"errorDeclaration": {"declarationTime": "2030-01-01T00:00:00Z"}},
    ):
        assert event_hash({**event, **extra}, context) == base
    # key order, list order and another time zone for the same instant do not matter
    shuffled = dict(reversed(list(event.items())), epcList=list(reversed(event["epcList"])))  # type: ignore[call-overload]
    shuffled["eventTime"] = "2020-03-04T05:00:30-05:00"
    assert event_hash(shuffled, context) == base


@pytest.mark.parametrize(
    "change",
    [
        {"action": "ADD"},
        {"bizStep": "shipping"},
        {"eventTimeZoneOffset": "+02:00"},
        {"eventTime": "2020-03-04T11:00:30.001+01:00"},
        {"example:myField2": "1"},
        {"disposition": "in_transit"},
    ],
)
def test_any_change_changes_the_hash(change: dict[str, str]) -> None:
    events, context = _events(VECTORS / "ReferenceEventHashAlgorithm.jsonld")
    assert event_hash({**events[0], **change}, context) != event_hash(events[0], context)


def test_values() -> None:
    assert hash_time("2023-02-02T11:04:03.1415Z") == "2023-02-02T11:04:03.142Z"
    assert hash_time("2023-02-02T11:04:59.9996+01:00") == "2023-02-02T10:05:00.000Z"
    assert hash_time("2020-04-01T15:00:00+01:00") == "2020-04-01T14:00:00.000Z"
    assert [number(Decimal(v)) for v in ("452.0", "200", "0.3434000", "1E+2")] == [
        "452",
        "200",
        "0.3434",
        "100",
    ]
    assert vocabulary("shipping", "BizStep-") == "https://ref.gs1.org/cbv/BizStep-shipping"
    assert (
        vocabulary("urn:epcglobal:cbv:disp:in_transit", "Disp-")
        == "https://ref.gs1.org/cbv/Disp-in_transit"
    )


@pytest.mark.parametrize(
    ("urn", "dl"),
    [
        ("urn:epc:id:sgtin:0614141.107346.2017", "https://id.gs1.org/01/10614141073464/21/2017"),
        ("urn:epc:id:sscc:0614141.1234567890", "https://id.gs1.org/00/106141412345678908"),
        ("urn:epc:id:sgln:0614141.00777.0", "https://id.gs1.org/414/0614141007776"),
        ("urn:epc:id:pgln:4012345.00225", "https://id.gs1.org/417/4012345002256"),
        (
            "urn:epc:class:lgtin:4012345.012345.998877",
            "https://id.gs1.org/01/04012345123456/10/998877",
        ),
        ("urn:epc:idpat:sgtin:4012345.066666.*", "https://id.gs1.org/01/04012345666663"),
        ("urn:epc:id:gdti:0614141.00001.1618034", "https://id.gs1.org/253/06141410000121618034"),
        ("urn:epc:id:gsrn:0614141.0000010253", "https://id.gs1.org/8018/061414100000102534"),
    ],
)
def test_epc_urns_as_digital_links(urn: str, dl: str) -> None:
    assert epc_urn_to_dl(urn) == dl


def test_digital_links_are_constrained() -> None:
    assert (
        canonical_id("https://example.com/shop/01/04012345123456/10/L1/21/S9?x=1")
        == "https://id.gs1.org/01/04012345123456/21/S9"
    )
    assert canonical_id("https://trazo.example/api/v1/lots/coop:h-1") == (
        "https://trazo.example/api/v1/lots/coop:h-1"
    )


def _all_vector_events() -> list[tuple[dict[str, object], object]]:
    found = []
    for path in DOCUMENTS:
        events, context = _events(path)
        found += [(e, context) for e in events]
    return found


def _shuffled(value: object, rng: random.Random) -> object:
    if isinstance(value, dict):
        items = [(k, _shuffled(v, rng)) for k, v in value.items()]
        rng.shuffle(items)
        return dict(items)
    if isinstance(value, list):
        items = [_shuffled(v, rng) for v in value]
        rng.shuffle(items)
        return items
    return value


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32), which=st.integers(0, 10**6))
def test_order_never_changes_the_hash(seed: int, which: int) -> None:
    """Key order and list order are representation, not content (CBV 2.0: sorted)."""
    vectors = _all_vector_events()
    event, context = vectors[which % len(vectors)]
    assert event_hash(_shuffled(event, random.Random(seed)), context) == event_hash(event, context)  # type: ignore[arg-type]


@settings(max_examples=50, deadline=None)
@given(which=st.integers(0, 10**6), text=st.text(min_size=1, max_size=8).filter(str.strip))
def test_a_changed_or_added_value_changes_the_hash(which: int, text: str) -> None:
    vectors = _all_vector_events()
    event, context = vectors[which % len(vectors)]
    base = event_hash(event, context)
    assert event_hash({**event, "bizStep": f"x{text.strip()}"}, context) != base
    assert event_hash({**event, "example:added": text}, context) != base
