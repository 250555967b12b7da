"""The log's read side as C2SP ``tlog-tiles``: tile paths, which tiles a tree has, their bytes.

A tile at level ``L`` and index ``N`` holds, for ``i`` in ``0 … W-1``, the Merkle tree
hash ``MTH(D[(N·256 + i)·256^L : (N·256 + i + 1)·256^L])``: the complete subtree at tree
level ``8·L``, index ``N·256 + i``. The ledger already stores every complete subtree once
it is complete (``ledger.merkle``), so a tile is a range of stored nodes read as they are.
A full tile has 256 hashes; the rightmost tile of a level, for a tree of size ``s``, is
partial with ``floor(s / 256^L) mod 256`` hashes, and an empty tile does not exist.

An entry bundle (``tile/entries/N``) holds the same leaves' *inputs*, each a big-endian
uint16 length and the bytes: here the 32-byte SHA-256 of the event's payload (the log's
leaf input), so the tiles reveal nothing a caller may not read.

Pure but for the :class:`ledger.merkle.NodeReader` and an entry reader handed in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from ledger import merkle
from ledger.errors import NotFound

TILE_WIDTH = 256
TILE_HEIGHT = 8
MAX_LEVEL = 63
MAX_INDEX_GROUPS = 7
"""Three-digit groups of a tile index: 21 digits cover every index below 2^63."""
ENTRIES = "entries"

_INDEX_PART = re.compile(r"x[0-9]{3}")
_LAST_PART = re.compile(r"[0-9]{3}")
_WIDTH = re.compile(r"[1-9][0-9]{0,2}")
_LEVEL = re.compile(r"0|[1-9][0-9]?")


class TileNotFound(NotFound):
    """No such tile in the checkpointed log (or a malformed tile path)."""

    title = "Tile not found"


@dataclass(frozen=True, order=True)
class Tile:
    """``level`` is a tree-tile level (0…63) or ``None`` for an entry bundle."""

    level: int | None
    index: int
    width: int = TILE_WIDTH

    @property
    def partial(self) -> bool:
        return self.width < TILE_WIDTH

    def path(self) -> str:
        """``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]``, N as ``x001/x234/067``."""
        level = ENTRIES if self.level is None else str(self.level)
        suffix = f".p/{self.width}" if self.partial else ""
        return f"tile/{level}/{encode_index(self.index)}{suffix}"

    def leaves(self) -> range:
        """The level-``8·L`` node indices the tile holds (for entries: leaf indices)."""
        start = self.index * TILE_WIDTH
        return range(start, start + self.width)


def encode_index(index: int) -> str:
    """1234067 → ``x001/x234/067``: zero-padded groups of three, all but the last with x."""
    if index < 0:
        raise ValueError("a tile index is not negative")
    digits = str(index)
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*(f"x{g}" for g in groups[:-1]), groups[-1]])


def parse_path(path: str) -> Tile:
    """The tile a path below ``tile/`` names (``0/x001/067.p/12``, ``entries/000``)."""
    parts = path.split("/")
    width = TILE_WIDTH
    if len(parts) >= 3 and parts[-2].endswith(".p"):
        if not _WIDTH.fullmatch(parts[-1]) or int(parts[-1]) >= TILE_WIDTH:
            raise TileNotFound(f"no tile {path!r}: a partial width is 1 to 255")
        width = int(parts[-1])
        parts = [*parts[:-2], parts[-2][: -len(".p")]]
    if len(parts) < 2:
        raise TileNotFound(f"no tile {path!r}")
    head, *groups = parts
    if len(groups) > MAX_INDEX_GROUPS:
        raise TileNotFound(f"no tile {path[:80]!r}…: an index is at most {MAX_INDEX_GROUPS} groups")
    if head == ENTRIES:
        level = None
    elif _LEVEL.fullmatch(head) and int(head) <= MAX_LEVEL:
        level = int(head)
    else:
        raise TileNotFound(f"no tile {path!r}: the level is 0 to 63 or `entries`")
    if not _LAST_PART.fullmatch(groups[-1]) or not all(
        _INDEX_PART.fullmatch(g) for g in groups[:-1]
    ):
        raise TileNotFound(f"no tile {path!r}: an index is written like x001/x234/067")
    digits = "".join(g.lstrip("x") for g in groups)
    if len(groups) > 1 and groups[0] == "x000":  # one spelling per index
        raise TileNotFound(f"no tile {path!r}: the index has a leading zero group")
    return Tile(level, int(digits), width)


def _count(size: int, level: int) -> int:
    """Complete hashes at tile level ``level`` in a tree of ``size`` leaves."""
    return size >> (TILE_HEIGHT * level)


def tiles_of(size: int, *, entries: bool = True) -> Iterator[Tile]:
    """Every tile (full and partial) and entry bundle of a tree of ``size`` leaves."""
    level = 0
    while (count := _count(size, level)) > 0:
        for index in range(count // TILE_WIDTH):
            yield Tile(level, index)
        if count % TILE_WIDTH:
            yield Tile(level, count // TILE_WIDTH, count % TILE_WIDTH)
        level += 1
    if entries:
        for index in range(size // TILE_WIDTH):
            yield Tile(None, index)
        if size % TILE_WIDTH:
            yield Tile(None, size // TILE_WIDTH, size % TILE_WIDTH)


def check_within(tile: Tile, size: int) -> None:
    """``TileNotFound`` unless the tile exists in a tree of ``size`` leaves (a partial
    tile: of exactly a width some tree up to ``size`` has)."""
    count = size if tile.level is None else _count(size, tile.level)
    if tile.index * TILE_WIDTH + tile.width > count:
        raise TileNotFound(f"no tile {tile.path()} in the log of {size} checkpointed leaves")


def tile_bytes(tile: Tile, size: int, nodes: merkle.NodeReader) -> bytes:
    """A Merkle tile's bytes: its hashes, 32 bytes each, in order."""
    assert tile.level is not None
    check_within(tile, size)
    level = TILE_HEIGHT * tile.level
    coords = [(level, i) for i in tile.leaves()]
    found = nodes.get_nodes(coords)
    missing = [c for c in coords if c not in found]
    if missing:
        from ledger.errors import IntegrityError

        raise IntegrityError(f"Merkle node {missing[0]} of {tile.path()} is not in the store")
    return b"".join(found[c] for c in coords)


def entry_bundle(tile: Tile, size: int, inputs: Callable[[range], Sequence[bytes]]) -> bytes:
    """An entry bundle's bytes: each leaf input as a big-endian uint16 length and bytes."""
    assert tile.level is None
    check_within(tile, size)
    out = bytearray()
    for data in inputs(tile.leaves()):
        out += len(data).to_bytes(2, "big") + data
    return bytes(out)


def read_bundle(data: bytes) -> list[bytes]:
    """The entries of an entry bundle (for clients and tests)."""
    entries, pos = [], 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise ValueError("an entry bundle ends inside a length")
        length = int.from_bytes(data[pos : pos + 2], "big")
        if pos + 2 + length > len(data):
            raise ValueError("an entry bundle ends inside an entry")
        entries.append(data[pos + 2 : pos + 2 + length])
        pos += 2 + length
    return entries


__all__ = [
    "ENTRIES",
    "TILE_WIDTH",
    "Tile",
    "TileNotFound",
    "check_within",
    "encode_index",
    "entry_bundle",
    "parse_path",
    "read_bundle",
    "tile_bytes",
    "tiles_of",
]
