"""A plot.map carries a random nonce, so its public id reveals nothing about the plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.envelope import sign
from ledger.errors import InvalidEvent
from ledger.keys import write_keypair
from ledger.payload import dumps_payload, loads_strict
from ledger.signer import sign_payload
from tests.graph import chains
from tests.support import World

POINT = {"type": "Point", "coordinates": ["-74.493612", "-11.429711"]}


def test_trazo_sign_adds_a_random_nonce_to_plot_map(tmp_path: Path) -> None:
    write_keypair(tmp_path, "coop")
    body = {
        "type": "plot.map",
        "party": "coop",
        "plot": "coop:p-1",
        "method": "gps-point",
        "ledger": "sha256:" + "0" * 64,
        "geometry": POINT,
        "time": "2026-03-01T10:00:00-05:00",
    }
    raw = json.dumps(body).encode()
    first = loads_strict(sign_payload(raw, tmp_path / "coop.key").payload)
    second = loads_strict(sign_payload(raw, tmp_path / "coop.key").payload)
    assert len(first["nonce"]) >= 22 and first["nonce"] != second["nonce"]


@pytest.mark.parametrize("nonce", ["short", 12345, "not base64url!!!!!!!!!!!!!!"])
def test_a_malformed_nonce_is_refused(sqlite_world: World, nonce: object) -> None:
    c = chains.base(sqlite_world)
    with pytest.raises(InvalidEvent) as err:
        c.append(
            chains.COOP,
            {
                "type": "plot.map",
                "plot": chains.P1,
                "method": "gps-point",
                "geometry": POINT,
                "nonce": nonce,
            },
        )
    assert err.value.field == "nonce"


def test_a_good_nonce_is_accepted(sqlite_world: World) -> None:
    c = chains.base(sqlite_world)
    assert c.append(
        chains.COOP,
        {
            "type": "plot.map",
            "plot": chains.P1,
            "method": "gps-point",
            "geometry": POINT,
            "nonce": "q" * 32,
        },
    ).startswith("sha256:")


def test_a_plot_map_without_nonce_is_refused(sqlite_world: World) -> None:
    """Hole 3: only `trazo sign` added a nonce; a payload signed elsewhere had none."""
    c = chains.base(sqlite_world)
    chain = sqlite_world.chains[chains.COOP]
    body = {
        "type": "plot.map",
        "plot": chains.P1,
        "method": "gps-point",
        "geometry": POINT,
        "time": sqlite_world.tick(),
        "schema": 1,
        "party": chain.party,
        "key": chain.keyid,
        "seq": chain.seq + 1,
        "prev": chain.prev,
    }
    envelope = sign(dumps_payload(body), chain.private_key)
    with pytest.raises(InvalidEvent) as err:
        c.world.append(envelope)
    assert err.value.field == "nonce"
    assert "128" in str(err.value)


def test_key_chain_adds_a_nonce_like_trazo_sign(sqlite_world: World) -> None:
    c = chains.base(sqlite_world)
    chain = sqlite_world.chains[chains.COOP]
    envelope = chain.sign(
        {
            "type": "plot.map",
            "plot": chains.P1,
            "method": "gps-point",
            "geometry": POINT,
            "time": sqlite_world.tick(),
        }
    )
    assert len(loads_strict(envelope.payload)["nonce"]) >= 22
    c.world.append(envelope)
