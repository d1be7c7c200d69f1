"""The serving index file: one published version as a few flat arrays that servers map.

Why: a server used to read every neighbour list of a version from the store and number the
items in Python dicts — 10–45 s for 100k items × 100 neighbours, paid again by every worker
process and held in each one's memory. The publisher now also writes each version as one file
of flat arrays; every server process maps it read-only, so the page cache holds one copy for
all of them and a new version answers as soon as its checksum is verified.

Layout (little-endian; each section starts on a 64-byte boundary)::

    bytes 0..7        magic b"DIMRECIX"
    bytes 8..11       format (1), uint32
    bytes 12..15      header length h, uint32
    bytes 16..16+h    header, JSON: version, items, pairs, popular, sections {name: [offset, count]}
    then the sections:
      starts          int64[items + 1]  item p's list is rows starts[p]:starts[p+1]
      neighbours      int32[pairs]      neighbour numbers, best first within each list
      scores          float32[pairs]
      id_offsets      int64[items + 1]  item p's id is id_bytes[id_offsets[p]:id_offsets[p+1]]
      id_bytes        uint8[...]        the ids, UTF-8, one after another
      keys            uint64[items]     item p's key: the xxh3-64 hash of its id's bytes
      slots           int32[2^bits + k] the lookup table: item numbers or -1, by key
      popular         int32[popular]    the window's most popular items, best first
      popular_scores  float32[popular]

Items — those with a list, those only seen as a neighbour, and popular ones — are numbered in
the sorted order of their ids (bytewise UTF-8, which is Python's ``str`` order), so comparing
numbers breaks score ties by item id. An id is found without any Python dict of every id:
``slots`` is an open-addressing hash table at most half full (the header's ``slot_bits``); an
id's search starts at slot ``key & (2^bits - 1)`` and walks forward to the first -1, comparing
the key of each item met with the id's, then the bytes of the id whose key matches. The table
is laid out with no loop over items (see :func:`_slot_table`), and read one value at a time
through memoryviews: a few hundred nanoseconds an id.

The store records each version's file name, size and xxh3-128 digest
(:class:`~dimrec.publish.base.IndexRef`); :func:`map_index` refuses a file whose size, digest,
header or sections are not what they should be, with :class:`~dimrec.errors.IntegrityError`.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from numpy.typing import NDArray

from dimrec.errors import DataError, IntegrityError, missing_kernel
from dimrec.publish.base import IndexRef

MAGIC = b"DIMRECIX"
FORMAT = 1
SUFFIX = ".dmx"
_PREAMBLE = struct.Struct("<8sII")
_ALIGN = 64
_CHUNK = 16 << 20  # bytes hashed or copied per step (the GIL is released meanwhile)
_SECTIONS: tuple[tuple[str, str], ...] = (
    ("starts", "<i8"),
    ("neighbours", "<i4"),
    ("scores", "<f4"),
    ("id_offsets", "<i8"),
    ("id_bytes", "u1"),
    ("keys", "<u8"),
    ("slots", "<i4"),
    ("popular", "<i4"),
    ("popular_scores", "<f4"),
)

#: The hash of an id's UTF-8 bytes that orders the lookup table (a module attribute so a
#: test can swap in a weak one and check that colliding keys are still told apart).
key_of: Callable[[bytes], int] = xxhash.xxh3_64_intdigest


def file_name(version: str, digest: str) -> str:
    """The index file of ``version``: the digest in the name keeps copies of different
    contents apart (a version published again after its store was wiped)."""
    return f"{version}-{digest[:16]}{SUFFIX}"


@dataclass(frozen=True, eq=False)
class IndexTables:
    """One version's neighbour lists, item ids and popularity list as flat arrays (mapped from
    a file, or built in memory); see the module docstring for what each holds."""

    version: str
    starts: NDArray[np.int64]
    neighbours: NDArray[np.int32]
    scores: NDArray[np.float32]
    id_offsets: NDArray[np.int64]
    id_bytes: NDArray[np.uint8]
    keys: NDArray[np.uint64]
    slots: NDArray[np.int32]
    slot_bits: int
    popular: NDArray[np.int32]
    popular_scores: NDArray[np.float32]
    blob: bytes | mmap.mmap
    """The buffer holding ``id_bytes`` (the mapped file, or the ids' bytes built in memory)."""
    id_base: int
    """Where ``id_bytes`` starts in ``blob``."""
    _views: dict[str, memoryview] = field(default_factory=dict, repr=False)
    _id_table: Any = field(default=None, init=False, repr=False)
    """The compiled lookup (:mod:`dimrec.publish.id_table`), imported here and not with this
    module: the Spark job imports the pipeline from a zip, where no compiled module loads,
    and never reads an index."""

    def __post_init__(self) -> None:
        # one value at a time, a memoryview reads a Python int several times faster than NumPy
        self._views["starts"] = self.starts.data
        try:
            from dimrec.publish import id_table
        except ImportError as exc:
            raise missing_kernel("dimrec.publish.id_table") from exc
        object.__setattr__(self, "_id_table", id_table)

    @property
    def size(self) -> int:
        """Number of item numbers."""
        return len(self.starts) - 1

    @property
    def pairs(self) -> int:
        return len(self.neighbours)

    @property
    def nbytes(self) -> int:
        return len(self.blob)

    def bounds(self, number: int) -> tuple[int, int]:
        """Where item ``number``'s list lies in ``neighbours`` and ``scores``."""
        starts = self._views["starts"]
        return starts[number], starts[number + 1]

    def id_of(self, number: int) -> str:
        (found,) = self.ids_of([number])
        return found

    def ids_of(self, numbers: Iterable[int] | NDArray[np.integer[Any]]) -> list[str]:
        listed = numbers.tolist() if isinstance(numbers, np.ndarray) else list(numbers)
        ids: list[str] = self._id_table.ids_at(self.id_offsets, self.id_bytes, listed)
        return ids

    def lookup(self, ids: Sequence[str]) -> list[int]:
        """The number of each id, -1 for an id the version does not know."""
        if self.size == 0:
            return [-1] * len(ids)
        encoded = [item.encode("utf-8", "surrogatepass") for item in ids]
        hashed = [key_of(item) for item in encoded]
        mask = (1 << self.slot_bits) - 1
        found: list[int] = self._id_table.find_numbers(
            self.slots, self.keys, self.id_offsets, self.id_bytes, mask, encoded, hashed
        )
        return found


def _slot_table(keys: NDArray[np.uint64]) -> tuple[NDArray[np.int32], int]:
    """The open-addressing table of ``keys`` (linear probing, at most half full) and its
    ``bits``. Items sorted by home slot take, in turn, their home slot or the one after the
    previous item's, whichever is later — ``final = max(home, previous + 1)``, a running
    maximum — which is where inserting them one by one with linear probing would put them.
    The table runs past ``2^bits`` (no wrap-around) and ends with an empty slot."""
    count = len(keys)
    bits = max(1, int(np.ceil(np.log2(max(2 * count, 2)))))
    home = (keys & np.uint64((1 << bits) - 1)).astype(np.int64)
    order = np.argsort(home, kind="stable")
    steps = np.arange(count, dtype=np.int64)
    final = np.maximum.accumulate(home[order] - steps) + steps if count else steps
    slots = np.full(max((1 << bits), int(final[-1]) + 1 if count else 0) + 1, -1, np.int32)
    slots[final] = order
    return slots, bits


def build_tables(
    version: str,
    items: pa.Array,
    bounds: NDArray[np.int64],
    neighbours: pa.Array,
    scores: NDArray[np.float32],
    popular: pa.Array,
    popular_scores: NDArray[np.float32],
) -> IndexTables:
    """Number the items and lay out the arrays, in memory.

    ``items`` (strings) have their lists at rows ``bounds[k]:bounds[k+1]`` of ``neighbours``
    (strings) and ``scores``, best first; ``popular`` and ``popular_scores`` are the
    popularity list, best first. An item may have one list only.
    """
    items = _strings(items)
    neighbours = _strings(neighbours)
    popular = _strings(popular)
    if pc.count_distinct(items).as_py() != len(items):
        raise DataError(f"version {version}: an item has more than one neighbour list")
    universe = pc.unique(pa.chunked_array([items, neighbours, popular], pa.large_string()))
    universe = universe.take(pc.sort_indices(universe))
    size = len(universe)
    item_numbers = _numbers(items, universe)
    neighbour_numbers = _numbers(neighbours, universe).astype(np.int32)
    lengths = np.diff(bounds)
    by_number = np.zeros(size, dtype=np.int64)
    by_number[item_numbers] = lengths
    starts = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(by_number, out=starts[1:])
    scores = np.ascontiguousarray(scores, dtype=np.float32)
    if len(item_numbers) > 1 and not (np.diff(item_numbers) > 0).all():
        rows = _rows_in_number_order(item_numbers, bounds)
        neighbour_numbers = neighbour_numbers[rows]
        scores = scores[rows]

    offsets_buffer, data_buffer = universe.buffers()[1:3]
    offsets = np.frombuffer(offsets_buffer, np.int64, size + 1, universe.offset * 8)
    data = data_buffer.to_pybytes() if data_buffer is not None else b""
    return numbered_tables(
        version,
        data[int(offsets[0]) : int(offsets[-1])],
        (offsets - offsets[0]).astype(np.int64),
        starts,
        neighbour_numbers,
        scores,
        _numbers(popular, universe).astype(np.int32),
        np.ascontiguousarray(popular_scores, dtype=np.float32),
    )


def numbered_tables(
    version: str,
    id_bytes: bytes,
    id_offsets: NDArray[np.int64],
    starts: NDArray[np.int64],
    neighbours: NDArray[np.int32],
    scores: NDArray[np.float32],
    popular: NDArray[np.int32],
    popular_scores: NDArray[np.float32],
) -> IndexTables:
    """The tables of items already numbered in id order: item ``p``'s id is
    ``id_bytes[id_offsets[p]:id_offsets[p+1]]`` and its list rows ``starts[p]:starts[p+1]`` of
    ``neighbours`` (numbers) and ``scores``; adds the lookup table."""
    size = len(id_offsets) - 1
    keys = np.fromiter(
        (
            key_of(id_bytes[a:b])
            for a, b in zip(id_offsets[:-1].tolist(), id_offsets[1:].tolist(), strict=True)
        ),
        dtype=np.uint64,
        count=size,
    )
    slots, bits = _slot_table(keys)
    return IndexTables(
        version=version,
        starts=starts,
        neighbours=neighbours,
        scores=scores,
        id_offsets=id_offsets,
        id_bytes=np.frombuffer(id_bytes, dtype=np.uint8),
        keys=keys,
        slots=slots,
        slot_bits=bits,
        popular=popular,
        popular_scores=popular_scores,
        blob=id_bytes,
        id_base=0,
    )


def _strings(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values.cast(pa.large_string())


def _numbers(values: pa.Array, universe: pa.Array) -> NDArray[np.int64]:
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    found = pc.index_in(values, value_set=universe)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.int64)


def _rows_in_number_order(
    item_numbers: NDArray[np.int64], bounds: NDArray[np.int64]
) -> NDArray[np.int64]:
    """Row order that lays the lists out by item number, each list keeping its own order."""
    order = np.argsort(item_numbers, kind="stable")
    lengths = np.diff(bounds)[order]
    new_starts = np.cumsum(lengths) - lengths
    shift = np.repeat(bounds[:-1][order] - new_starts, lengths)
    rows: NDArray[np.int64] = np.arange(int(bounds[-1]), dtype=np.int64) + shift
    return rows


# --- the file -------------------------------------------------------------------------------


def write_index(tables: IndexTables, directory: Path) -> tuple[Path, IndexRef]:
    """Write ``tables`` to a new file in ``directory`` (a hidden temporary name, fsynced) and
    return it with its reference; the caller moves it where it belongs."""
    arrays = _arrays(tables)
    sections: dict[str, list[int]] = {}
    header = {
        "version": tables.version,
        "items": tables.size,
        "pairs": tables.pairs,
        "popular": len(tables.popular),
        "slot_bits": tables.slot_bits,
        "sections": sections,
    }
    # the header names every section's offset, which depends on the header's own length:
    # lay it out with wide enough placeholders, then with the real offsets
    for name, _ in _SECTIONS:
        sections[name] = [0, len(arrays[name])]
    text = json.dumps(header).encode()
    start = _aligned(_PREAMBLE.size + len(text) + 16 * len(_SECTIONS))
    for name, _ in _SECTIONS:
        sections[name][0] = start
        start = _aligned(start + arrays[name].nbytes)
    text = json.dumps(header).encode()
    first = sections[_SECTIONS[0][0]][0]
    if _PREAMBLE.size + len(text) > first:
        raise AssertionError("index header outgrew its room")  # pragma: no cover
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f".{tables.version}.dmx.tmp-{os.urandom(6).hex()}"
    digest = xxhash.xxh3_128()
    try:
        with path.open("wb") as handle:
            written = _put(handle, digest, _PREAMBLE.pack(MAGIC, FORMAT, len(text)) + text)
            for name, _ in _SECTIONS:
                offset = sections[name][0]
                written += _put(handle, digest, b"\0" * (offset - written))
                written += _put(handle, digest, arrays[name].view(np.uint8).data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    hexdigest = digest.hexdigest()
    return path, IndexRef(file_name(tables.version, hexdigest), written, hexdigest)


def _arrays(tables: IndexTables) -> dict[str, NDArray[Any]]:
    arrays = {name: np.ascontiguousarray(getattr(tables, name), dtype) for name, dtype in _SECTIONS}
    arrays["id_bytes"] = np.frombuffer(
        tables.blob, np.uint8, int(tables.id_offsets[-1]), tables.id_base
    )
    return arrays


def _put(handle: BinaryIO, digest: Any, data: bytes | memoryview) -> int:
    view = memoryview(data)
    for start in range(0, len(view), _CHUNK):
        part = view[start : start + _CHUNK]
        digest.update(part)
        handle.write(part)
    return len(view)


def _aligned(offset: int) -> int:
    return -(-offset // _ALIGN) * _ALIGN


def digest_of(buffer: bytes | mmap.mmap | memoryview) -> str:
    """The xxh3-128 digest (hex) of a whole buffer, hashed in steps."""
    digest = xxhash.xxh3_128()
    view = memoryview(buffer)
    try:
        for start in range(0, len(view), _CHUNK):
            digest.update(view[start : start + _CHUNK])
    finally:
        view.release()
    return str(digest.hexdigest())


def map_index(path: Path, ref: IndexRef, version: str) -> IndexTables:
    """Map the index file at ``path`` read-only, after checking it is the one ``ref`` names
    for ``version``: IntegrityError for a truncated, corrupt or foreign file."""
    where = f"serving index {path}"
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size != ref.size:
                what = "truncated" if size < ref.size else "longer than published"
                raise IntegrityError(
                    f"{where} is {what}: {size:,} bytes, the store says {ref.size:,}; "
                    "publish the version again"
                )
            if size == 0:
                raise IntegrityError(f"{where} is empty; publish the version again")
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as exc:
        raise IntegrityError(f"{where} cannot be read: {exc}") from exc
    digest = digest_of(mapped)
    if digest != ref.digest:
        raise IntegrityError(
            f"{where} is corrupt: its checksum is {digest}, the store says {ref.digest}; "
            "publish the version again"
        )
    return tables_of(mapped, version, where)


def tables_of(buffer: bytes | mmap.mmap, version: str, where: str) -> IndexTables:
    """The arrays of an index file held in ``buffer`` (checked for shape, not checksum)."""
    try:
        magic, fmt, length = _PREAMBLE.unpack_from(buffer)
        if magic != MAGIC:
            raise ValueError("not a dimrec serving index")
        if fmt != FORMAT:
            raise ValueError(f"format {fmt}, this dimrec reads format {FORMAT}")
        header = json.loads(bytes(buffer[_PREAMBLE.size : _PREAMBLE.size + length]))
        if header["version"] != version:
            raise ValueError(f"it holds version {header['version']}, not {version}")
        arrays: dict[str, NDArray[Any]] = {}
        for name, dtype in _SECTIONS:
            offset, count = header["sections"][name]
            arrays[name] = np.frombuffer(buffer, dtype, count, offset)
            if offset % _ALIGN:
                raise ValueError(f"section {name} is not aligned")
        items, pairs = int(header["items"]), int(header["pairs"])
        starts, id_offsets = arrays["starts"], arrays["id_offsets"]
        shapes = {
            "starts": items + 1,
            "neighbours": pairs,
            "scores": pairs,
            "id_offsets": items + 1,
            "keys": items,
            "popular_scores": len(arrays["popular"]),
        }
        for name, expected in shapes.items():
            if len(arrays[name]) != expected:
                raise ValueError(f"section {name} has {len(arrays[name])} values, not {expected}")
        if starts[0] != 0 or starts[-1] != pairs or id_offsets[-1] != len(arrays["id_bytes"]):
            raise ValueError("its offsets do not match its sizes")
        bits = int(header["slot_bits"])
        if len(arrays["slots"]) <= (1 << bits) or arrays["slots"][-1] != -1:
            raise ValueError("its lookup table is cut short")
    except (ValueError, KeyError, TypeError, struct.error) as exc:
        raise IntegrityError(f"{where} is not a valid serving index: {exc}") from None
    return IndexTables(
        version=version,
        starts=starts,
        neighbours=arrays["neighbours"],
        scores=arrays["scores"],
        id_offsets=id_offsets,
        id_bytes=arrays["id_bytes"],
        keys=arrays["keys"],
        slots=arrays["slots"],
        slot_bits=bits,
        popular=arrays["popular"],
        popular_scores=arrays["popular_scores"],
        blob=buffer,
        id_base=int(header["sections"]["id_bytes"][0]),
    )
