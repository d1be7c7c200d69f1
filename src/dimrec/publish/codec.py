"""The compact form of one neighbour list, shared by every store.

One entry is one blob::

    byte 0       format (1)
    bytes 1..4   n, little-endian uint32
    4·n bytes    scores, little-endian float32, best first
    the rest     the n neighbour ids, UTF-8, separated by NUL (b"\\x00")

A 100-neighbour list of 8-character ids takes about 1.3 kB. Scores are float32: ample for
cosine similarities (7 significant digits) and half the size of float64. Item ids must not
contain NUL; the publisher checks that before writing. The popularity list of a version is
packed the same way.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dimrec.errors import StoreError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa

FORMAT = 1
SEPARATOR = "\x00"
_HEADER = struct.Struct("<BI")


def pack(ids: Sequence[str], scores: Sequence[float]) -> bytes:
    """Pack one list of ids and their scores."""
    if len(ids) != len(scores):
        raise ValueError(f"{len(ids)} ids but {len(scores)} scores")
    if any(SEPARATOR in i for i in ids):
        raise ValueError("item ids must not contain NUL characters")
    n = len(ids)
    return _HEADER.pack(FORMAT, n) + struct.pack(f"<{n}f", *scores) + SEPARATOR.join(ids).encode()


def unpack(blob: bytes) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """The ids and scores of one packed list."""
    if len(blob) < _HEADER.size:
        raise StoreError(f"a stored entry is truncated ({len(blob)} bytes); publish again")
    fmt, n = _HEADER.unpack_from(blob)
    if fmt != FORMAT:
        raise StoreError(
            f"a stored entry has format {fmt}, this dimrec reads format {FORMAT}; publish again"
        )
    end = _HEADER.size + 4 * n
    if len(blob) < end:
        raise StoreError(f"a stored entry of {n} neighbours is truncated; publish again")
    scores = struct.unpack_from(f"<{n}f", blob, _HEADER.size)
    ids = blob[end:].decode().split(SEPARATOR) if n else []
    if len(ids) != n:
        raise StoreError(f"a stored entry holds {len(ids)} ids for {n} scores; publish again")
    return tuple(ids), scores


def pack_runs(
    ids: pa.Array, scores: npt.NDArray[np.float32], bounds: npt.NDArray[np.int64]
) -> list[bytes]:
    """Pack consecutive lists at once: list ``k`` is rows ``bounds[k]:bounds[k+1]`` of the
    aligned ``ids`` (a string array) and ``scores``. Vectorised: one Arrow join for the ids."""
    # only publishing packs runs: a reader of a store loads neither NumPy nor Arrow
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    first, last = int(bounds[0]), int(bounds[-1])
    offsets = pa.array((bounds - first).astype(np.int32), pa.int32())
    lists = pa.ListArray.from_arrays(offsets, ids.slice(first, last - first))
    joined = pc.binary_join(lists, SEPARATOR).cast(pa.large_binary())
    validity, offsets_buffer, data_buffer = joined.buffers()
    del validity
    id_offsets = np.frombuffer(offsets_buffer, np.int64, len(joined) + 1, joined.offset * 8)
    id_bytes = data_buffer.to_pybytes() if data_buffer is not None else b""
    score_bytes = np.ascontiguousarray(scores[first:last], dtype="<f4").tobytes()
    counts = np.diff(bounds).tolist()
    starts = (4 * (bounds[:-1] - first)).tolist()
    id_starts = id_offsets.tolist()
    header = _HEADER.pack
    return [
        header(FORMAT, n) + score_bytes[s : s + 4 * n] + id_bytes[id_starts[k] : id_starts[k + 1]]
        for k, (n, s) in enumerate(zip(counts, starts, strict=True))
    ]
