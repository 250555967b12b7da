"""C2SP ``tlog-tiles``: the layout from the spec, each tile's bytes against RFC 6962, and a
client written here from the spec alone that computes proofs from served tiles.

The independent side of these tests uses only ``hashlib`` and the spec's definitions:
``MTH`` of RFC 6962 §2.1, tile contents ``MTH(D[(n·256+i)·256^l : (n·256+i+1)·256^l])``,
and the proofs of RFC 6962 §2.1.1 and §2.1.2, computed recursively.
"""

from __future__ import annotations

import hashlib
from functools import cache

import pytest

from ledger.merkle import MemoryTree
from ledger.tiles import (
    Tile,
    TileNotFound,
    encode_index,
    entry_bundle,
    parse_path,
    read_bundle,
    tile_bytes,
    tiles_of,
)


def _leaf(i: int) -> bytes:
    return hashlib.sha256(f"leaf {i}".encode()).digest()  # a leaf input, 32 bytes


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


class Spec:
    """RFC 6962 over leaf inputs, straight from its recursive definitions."""

    def __init__(self, inputs: list[bytes]) -> None:
        self.inputs = inputs

    @cache  # noqa: B019 - one tree per test, kept for its lifetime
    def mth(self, start: int, end: int) -> bytes:
        n = end - start
        if n == 1:
            return _h(b"\x00" + self.inputs[start])
        k = 1 << ((n - 1).bit_length() - 1)
        return _h(b"\x01" + self.mth(start, start + k) + self.mth(start + k, end))


def test_tile_indices_are_written_as_the_spec_says() -> None:
    assert encode_index(1234067) == "x001/x234/067"
    assert (
        encode_index(0) == "000" and encode_index(999) == "999" and encode_index(1000) == "x001/000"
    )
    assert Tile(2, 1234067, 17).path() == "tile/2/x001/x234/067.p/17"
    assert Tile(None, 5).path() == "tile/entries/005"
    for tile in (Tile(0, 0), Tile(3, 1234067, 1), Tile(None, 70, 112), Tile(63, 10**9)):
        assert parse_path(tile.path().removeprefix("tile/")) == tile


@pytest.mark.parametrize(
    "path",
    [
        "0/67",
        "0/0067",
        "0/x1/067",
        "64/000",
        "01/000",
        "0/000.p/0",
        "0/000.p/256",
        "0/000.p/012",
        "0/x000/067",
        "x/000",
        "0",
        "entries",
        "0/000/",
        "0/abc",
    ],
)
def test_a_path_the_spec_does_not_allow_names_no_tile(path: str) -> None:
    with pytest.raises(TileNotFound):
        parse_path(path)


def _layout(size: int) -> dict[int | None, list[int]]:
    out: dict[int | None, list[int]] = {}
    for tile in tiles_of(size):
        out.setdefault(tile.level, []).append(tile.width)
    return out


def test_the_spec_worked_examples() -> None:
    layout = _layout(70_000)
    assert layout[0] == [256] * 273 + [112]
    assert layout[1] == [256, 17]
    assert layout[2] == [1]
    assert layout[None] == [256] * 273 + [112]
    assert 3 not in layout
    assert _layout(256) == {0: [256], 1: [1], None: [256]}
    assert _layout(1) == {0: [1], None: [1]}
    assert _layout(255) == {0: [255], None: [255]}
    assert _layout(257) == {0: [256, 1], 1: [1], None: [256, 1]}
    assert _layout(65_536) == {0: [256] * 256, 1: [256], 2: [1], None: [256] * 256}
    assert all(t.width > 0 for t in tiles_of(70_000))  # no empty tile


@pytest.mark.parametrize("size", [1, 255, 256, 257, 65_536, 70_000])
def test_every_tile_is_what_rfc_6962_says(size: int) -> None:
    inputs = [_leaf(i) for i in range(size)]
    spec = Spec(inputs)
    tree = MemoryTree(_h(b"\x00" + x) for x in inputs)
    for tile in tiles_of(size):
        if tile.level is None:
            data = entry_bundle(tile, size, lambda r: [inputs[i] for i in r])
            assert read_bundle(data) == [inputs[i] for i in tile.leaves()]
            continue
        data = tile_bytes(tile, size, tree)
        span = 256**tile.level
        expected = b"".join(spec.mth(k * span, (k + 1) * span) for k in tile.leaves())
        assert data == expected, tile.path()
    beyond = Tile(0, size // 256, size % 256 + 1) if size % 256 else Tile(0, size // 256, 1)
    with pytest.raises(TileNotFound):
        tile_bytes(beyond, size, tree)


# --- over HTTP, from a real ledger ------------------------------------------------------------


class TileClient:
    """A tlog-tiles client from the spec alone: tree hashes and RFC 6962 proofs from tiles."""

    def __init__(self, get: object, size: int) -> None:
        self.get = get  # path below /log/ → bytes
        self.size = size
        self.fetched: dict[str, bytes] = {}

    def _tile(self, level: int, index: int) -> bytes:
        count = self.size >> (8 * level)
        width = min(256, count - index * 256)
        path = f"tile/{level}/{encode_index(index)}" + (f".p/{width}" if width < 256 else "")
        if path not in self.fetched:
            self.fetched[path] = self.get(path)  # type: ignore[operator]
            assert len(self.fetched[path]) == 32 * width
        return self.fetched[path]

    def _stored(self, height: int, k: int) -> bytes:
        """MTH of the complete aligned subtree of 2^height leaves number ``k``."""
        level, r = divmod(height, 8)
        hashes = []
        for j in range(k << r, (k + 1) << r):
            data = self._tile(level, j // 256)
            hashes.append(data[32 * (j % 256) : 32 * (j % 256 + 1)])
        while len(hashes) > 1:
            hashes = [_h(b"\x01" + a + b) for a, b in zip(hashes[::2], hashes[1::2], strict=True)]
        return hashes[0]

    def mth(self, start: int, end: int) -> bytes:
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:
            return self._stored(n.bit_length() - 1, start // n)
        k = 1 << ((n - 1).bit_length() - 1)
        return _h(b"\x01" + self.mth(start, start + k) + self.mth(start + k, end))

    def path(self, m: int, start: int, end: int) -> list[bytes]:
        """RFC 6962 §2.1.1 PATH(m, D[start:end])."""
        n = end - start
        if n == 1:
            return []
        k = 1 << ((n - 1).bit_length() - 1)
        if m < k:
            return [*self.path(m, start, start + k), self.mth(start + k, end)]
        return [*self.path(m - k, start + k, end), self.mth(start, start + k)]

    def subproof(self, m: int, start: int, end: int, whole: bool) -> list[bytes]:
        """RFC 6962 §2.1.2 SUBPROOF(m, D[start:end], b)."""
        n = end - start
        if m == n:
            return [] if whole else [self.mth(start, end)]
        k = 1 << ((n - 1).bit_length() - 1)
        if m <= k:
            return [*self.subproof(m, start, start + k, whole), self.mth(start + k, end)]
        return [*self.subproof(m - k, start + k, end, False), self.mth(start, start + k)]


def test_a_spec_only_client_reads_the_served_log_and_its_proofs_match_the_api(
    sqlite_store: object, tmp_path: object
) -> None:
    from api import create_app
    from fixtures.generator import demo_chain
    from ledger.append import append_batch
    from ledger.checkpoint import NoteSigner
    from ledger.keys import write_keypair

    store = sqlite_store
    chain = demo_chain()
    signer = NoteSigner("trazo/operator", chain.log_key)
    events = chain.events[:700]  # two full level-0 tiles and a partial; a level-1 partial
    append_batch(store, events[:300], log_signer=signer, genesis=True)  # type: ignore[arg-type]
    append_batch(store, events[300:], log_signer=signer)  # type: ignore[arg-type]
    keys = tmp_path / "keys"  # type: ignore[operator]
    write_keypair(keys, "log", chain.log_key)
    app = create_app(
        {"TRAZO_DATABASE_URL": store.url, "TRAZO_KEYS": str(keys), "TRAZO_READ_TOKEN": "t"}
    )  # type: ignore[attr-defined]
    client = app.test_client()
    operator = {"Authorization": "Bearer t"}

    note = client.get("/log/checkpoint")
    assert note.status_code == 200 and note.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "max-age=5" in note.headers["Cache-Control"]
    lines = note.get_data(as_text=True).split("\n")
    size, root = int(lines[1]), lines[2]
    assert size == 700

    def get(path: str) -> bytes:
        response = client.get(f"/log/{path}", headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200, (path, response.status_code)
        assert "immutable" in response.headers["Cache-Control"]
        assert response.headers["Content-Type"] == "application/octet-stream"
        import gzip

        return gzip.decompress(response.data)

    tiles_client = TileClient(get, size)
    import base64

    assert base64.b64encode(tiles_client.mth(0, size)).decode() == root
    entries = read_bundle(get("tile/entries/002.p/188"))
    assert entries == [bytes.fromhex(e.id.removeprefix("sha256:")) for e in events[512:700]]
    assert client.get("/log/tile/0/003").status_code == 404  # beyond the checkpointed tree
    refused = client.get("/log/tile/0/000", headers={"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in refused.headers and len(refused.data) == 8192
    assert client.get("/log/tile/0/002.p/189").status_code == 404

    for index in (0, 1, 255, 256, 299, 300, 511, 512, 699):
        for at in (300, 700):  # the checkpointed sizes, whose tiles are served
            if index >= at:
                continue
            event_id = events[index].id
            answer = client.get(
                f"/api/v1/log/proof/inclusion?id={event_id}&size={at}", headers=operator
            )
            expected = [bytes.fromhex(h) for h in answer.get_json()["hashes"]]
            assert tiles_client.path(index, 0, at) == expected, (index, at)
    for old in (1, 2, 255, 256, 257, 300, 511, 699):
        answer = client.get(f"/api/v1/log/proof/consistency?from={old}&to=700", headers=operator)
        expected = [bytes.fromhex(h) for h in answer.get_json()["hashes"]]
        assert tiles_client.subproof(old, 0, 700, True) == expected, old

    # the static mirror holds byte for byte what is served, partial tiles of each checkpoint
    from ledger.log import write_tiles

    mirror = tmp_path / "mirror"  # type: ignore[operator]
    assert write_tiles(store, mirror) > 0  # type: ignore[arg-type]
    assert (mirror / "checkpoint").read_text() == note.get_data(as_text=True)
    for at in (300, 700):
        for tile in tiles_of(at):
            path = tile.path()
            assert (mirror / path).read_bytes() == get(path), path
    assert write_tiles(store, mirror) == 1  # again: only the checkpoint, tiles are kept
    app.extensions["trazo.store"].dispose()


def test_an_overlong_index_names_no_tile() -> None:
    """From the attacker review: 1,500 index groups made int() raise: a 500, not a 404."""
    with pytest.raises(TileNotFound):
        parse_path("0/" + "x001/" * 1500 + "001")
