"""Property-based run of the generated OpenAPI document against the app (schemathesis).

Bounded (``MAX_EXAMPLES`` per operation) so that it finishes in CI. Every response must
be documented, match its schema and content type, and never be a 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api import create_app
from ledger.store import Store
from tests.support import World, public_b64, seeded_key

MAX_EXAMPLES = 25
EXCLUDED = {
    # A schema cannot say "carries a valid Ed25519 signature": a schema-valid envelope
    # made up by the fuzzer is rightly rejected (422), so "valid data is accepted" does
    # not apply to capture. Every other check (no 500, documented status, content type,
    # response schema, negative data rejected) still runs.
    ("POST", "/api/v1/events"): [positive_data_acceptance],
}


@pytest.fixture
def api_schema(tmp_path: Path) -> Iterator[Any]:
    store = Store(f"sqlite:///{tmp_path / 'ledger.db'}")
    store.migrate()
    world = World.create(store)
    world.register("coop-a", ["spo"])
    world.append(
        world.sign(
            "coop-a",
            {
                "type": "key.add",
                "subject": "coop-a",
                "public_key": public_b64(seeded_key("coop-a-2")),
            },
        )
    )
    app = create_app(
        {"TRAZO_DATABASE_URL": store.url, "TRAZO_KEYS": str(tmp_path), "TRAZO_READ_TOKEN": "token"}
    )
    yield schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
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
]


def test_the_fuzzed_operations_are_documented(api_schema: Any) -> None:
    """Every operation listed here exists (add new ones to OPERATIONS to fuzz them)."""
    documented = {(r.ok().method.upper(), r.ok().path) for r in api_schema.get_all_operations()}
    assert set(OPERATIONS) <= documented


# Operations with a body or query parameters; only these can be sent schema-invalid data
# (a path parameter is any non-empty string).
WITH_INPUT = [op for op in OPERATIONS if op[1] in ("/api/v1/events", "/api/v1/parties")]
CASES = [(*op, GenerationMode.POSITIVE) for op in OPERATIONS] + [
    (*op, GenerationMode.NEGATIVE) for op in WITH_INPUT
]


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_api_conforms_to_its_openapi_document(
    api_schema: Any, method: str, path: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(excluded_checks=EXCLUDED.get((method, path), []))

    run()
