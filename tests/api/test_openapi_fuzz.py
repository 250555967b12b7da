"""Property-based run of the generated OpenAPI document against the app (schemathesis).

Bounded (``MAX_EXAMPLES`` per operation) so that it finishes in CI. Every response must
be documented, match its schema and content type, and never be a 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api import create_app
from ledger.envelope import keyid_of
from ledger.keys import write_keypair
from ledger.store import Store
from tests.api.conftest import sign_in
from tests.graph import chains
from tests.support import World, public_b64, seeded_key

MAX_EXAMPLES = 12
EXCLUDED = {
    # A schema cannot say "carries a valid Ed25519 signature": a schema-valid envelope
    # made up by the fuzzer is rightly rejected (422), so "valid data is accepted" does
    # not apply to capture. Every other check (no 500, documented status, content type,
    # response schema, negative data rejected) still runs.
    ("POST", "/api/v1/events"): [positive_data_acceptance],
    ("POST", "/api/v1/events/check"): [positive_data_acceptance],
    ("POST", "/api/v1/sessions"): [positive_data_acceptance],  # a signed challenge, likewise
    # Constraints between parameters the document cannot state (either `period` or both
    # `from` and `until`; a consistency proof's `old` at most `new`): a 422 names them.
    ("GET", "/api/v1/parties/{party_id}/mass-balance"): [positive_data_acceptance],
    ("GET", "/api/v1/log/proof/consistency"): [positive_data_acceptance],
    # A pattern cannot say that 2026-02-31 is no day: a 422 names it.
    ("GET", "/api/v1/parties/{party_id}/fair-prices"): [positive_data_acceptance],
}


SECRET_PO = "FUZZ-SECRET-PO-4711"
SECRET_LATITUDE = "-11.429711"
"""Strings only the coop, the trader it shipped to and the operator may ever see."""


@dataclass
class Fuzzed:
    schema: Any
    token: str  # a session of "nosy-trader", who is party to none of it
    real: dict[str, list[str]]  # path parameters that name real, private things


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    tmp_path = tmp_path_factory.mktemp("fuzz")
    store = Store(f"sqlite:///{tmp_path / 'ledger.db'}")
    store.migrate()
    world = World.create(store)
    c = chains.Coffee(world)
    for pid, roles in (("coop-a", ["spo"]), ("trader-x", ["trader"]), ("nosy-trader", ["trader"])):
        c.party(pid, roles)
    c.append(
        "coop-a",
        {"type": "key.add", "subject": "coop-a", "public_key": public_b64(seeded_key("coop-a-2"))},
    )
    c.append(
        "coop-a",
        {
            "type": "member.enroll",
            "member": "coop-a:m-1",
            "products": ["coffee"],
            "plots": [{"plot": "coop-a:p-1", "area_ha": "2"}],
            "since": "2019-01-01",
        },
    )
    plot_map = c.append(
        "coop-a",
        {
            "type": "plot.map",
            "plot": "coop-a:p-1",
            "method": "gps-point",
            "geometry": {"type": "Point", "coordinates": ["-74.493612", SECRET_LATITUDE]},
            "nonce": "n" * 22,
        },
    )
    harvest = c.harvest("coop-a", "coop-a:h-1", "100", "coop-a:m-1", "coop-a:p-1")
    ship = c.append(
        "coop-a",
        {
            "type": "ship",
            "to": "trader-x",
            "lots": [{"lot": "coop-a:h-1", "event": harvest, "quantity": "100", "unit": "kg"}],
            "transactions": [{"type": "po", "id": SECRET_PO}],
        },
    )
    receipt = c.receive("trader-x", ship, [("coop-a:h-1", "100")])
    keys = tmp_path / "keys"
    write_keypair(keys, "log", chains.log_private())
    app = create_app(
        {
            "TRAZO_DATABASE_URL": store.url,
            "TRAZO_KEYS": str(keys),
            "TRAZO_READ_TOKEN": "operator-token",
            "TRAZO_LOG_ORIGIN": chains.LOG_ORIGIN,
            "TRAZO_RATE_LIMIT": 0,  # budgets are tested in test_sessions
        }
    )
    token = sign_in(app.test_client(), "nosy-trader")
    real = {
        "event_id": [ship, receipt, plot_map, harvest],
        "lot": ["coop-a:h-1"],
        "party_id": ["coop-a", "trader-x"],
        "keyid": [keyid_of(seeded_key("coop-a").public_key())],
    }
    yield Fuzzed(schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app), token, real)
    app.extensions["trazo.store"].dispose()
    store.dispose()


OPERATIONS = [
    ("POST", "/api/v1/events"),
    ("GET", "/api/v1/events"),
    ("GET", "/api/v1/events/{event_id}"),
    ("GET", "/api/v1/keys/{keyid}/head"),
    ("GET", "/api/v1/parties"),
    ("GET", "/api/v1/parties/{party_id}"),
    ("GET", "/api/v1/lots/{lot}"),
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/"),
    ("POST", "/api/v1/events/check"),
    ("GET", "/api/v1/parties/{party_id}/holdings"),
    ("GET", "/api/v1/parties/{party_id}/shipments"),
    ("GET", "/api/v1/parties/{party_id}/mass-balance"),
    ("GET", "/api/v1/parties/{party_id}/fair-prices"),
    ("GET", "/api/v1/lots/{lot}/trace"),
    ("GET", "/api/v1/lots/{lot}/origin"),
    ("GET", "/api/v1/lots/{lot}/bundle"),
    ("GET", "/api/v1/lots/{lot}/eudr"),
    ("GET", "/api/v1/lots/{lot}/eudr.geojson"),
    ("GET", "/api/v1/lots/{lot}/trace.csv"),
    ("GET", "/api/v1/lots/{lot}/trace.xlsx"),
    ("GET", "/api/v1/log/checkpoint"),
    ("GET", "/api/v1/log/checkpoints/{size}"),
    ("GET", "/api/v1/log/proof/inclusion"),
    ("GET", "/api/v1/log/proof/consistency"),
    ("GET", "/api/v1/log/key"),
    ("POST", "/api/v1/sessions/challenge"),
    ("GET", "/api/v1/sessions"),
    ("POST", "/api/v1/sessions"),
    ("DELETE", "/api/v1/sessions/{session_id}"),
    ("GET", "/api/v1/epcis/events"),
    ("GET", "/api/v1/epcis/events/{event_id}"),
]


def test_every_documented_operation_is_fuzzed(fuzzed: Fuzzed) -> None:
    """OPERATIONS is the whole document: a new operation is fuzzed or this fails."""
    documented = {(r.ok().method.upper(), r.ok().path) for r in fuzzed.schema.get_all_operations()}
    assert set(OPERATIONS) == documented


# Operations with a body or query parameters; only these can be sent schema-invalid data
# (a path parameter is any non-empty string).
WITH_INPUT = [
    op
    for op in OPERATIONS
    if op[1] in ("/api/v1/events", "/api/v1/parties", "/api/v1/epcis/events")
]
CALLERS = ("anonymous", "nosy-party")
CASES = [(*op, GenerationMode.POSITIVE, who) for op in OPERATIONS for who in CALLERS] + [
    (*op, GenerationMode.NEGATIVE, "anonymous") for op in WITH_INPUT
]


@pytest.mark.parametrize(("method", "path", "mode", "caller"), CASES)
def test_api_conforms_to_its_openapi_document_and_leaks_nothing(
    fuzzed: Fuzzed, method: str, path: str, mode: GenerationMode, caller: str
) -> None:
    """Documented answers, never a 5xx, and — on the generated parameters and on the
    same request naming real private things — no body carries what the caller may not
    read: the purchase order of a shipment it is not party to, or a farm's position."""
    operation = fuzzed.schema[path][method]
    headers = {"Authorization": f"Bearer {fuzzed.token}"} if caller != "anonymous" else {}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        excluded = EXCLUDED.get((method, path), [])
        variants = [dict(case.path_parameters or {})]
        for name, values in fuzzed.real.items():
            if case.path_parameters and name in case.path_parameters:
                variants += [{**variants[0], name: value} for value in values]
        for parameters in variants:
            if parameters:
                case.path_parameters = parameters
            response = case.call_and_validate(headers=headers, excluded_checks=excluded)
            assert response.status_code < 500
            body = response.content.decode("utf-8", "replace")
            assert SECRET_PO not in body, (caller, case.formatted_path, parameters)
            assert SECRET_LATITUDE not in body, (caller, case.formatted_path, parameters)

    run()
