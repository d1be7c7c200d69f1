"""Vectorised JSON and CSV text building with PyArrow compute.

Each output row is assembled from column pieces by ``binary_join_element_wise`` and nested
lists (a hit's products, a session's hits) are joined per parent with ``binary_join`` over a
``ListArray`` built from offsets, so no Python object is created per row. Fragments that never
change for a catalogue entry (a product's SKU, name, category and price) are rendered once in
Python with :func:`json_string` and picked per row with ``take``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


_PLAIN = re.compile(r"^[A-Za-z0-9 ._:/+()&|,-]*$")


def json_string(value: str | None) -> str:
    """``value`` as a JSON literal: a quoted, escaped string, or ``null``."""
    if value is None:
        return "null"
    if _PLAIN.match(value):
        return f'"{value}"'
    return json.dumps(value, ensure_ascii=False)


def fragments(texts: Sequence[str]) -> pa.Array:
    """A lookup table of pre-rendered text fragments, picked per row with :func:`pick`."""
    return pa.array(texts, pa.string())


def pick(table: pa.Array, index: npt.NDArray[np.integer]) -> pa.Array:
    """``table[index]`` for every row."""
    return table.take(pa.array(index, pa.int64()))


def ints(values: npt.NDArray[np.integer]) -> pa.Array:
    """Integers as decimal text."""
    return pc.cast(pa.array(values, pa.int64()), pa.string())


def ints_or_null(values: npt.NDArray[np.integer], present: BoolArray) -> pa.Array:
    """Integers as decimal text, or ``null`` where ``present`` is false."""
    return pc.if_else(pa.array(present), ints(values), "null")


def choose(condition: BoolArray, if_true: str, if_false: str) -> pa.Array:
    """One of two literal texts per row."""
    return pc.if_else(pa.array(condition), if_true, if_false)


def when(condition: BoolArray, value: pa.Array, otherwise: str) -> pa.Array:
    """``value`` where ``condition`` holds, else the literal ``otherwise``."""
    return pc.if_else(pa.array(condition), value, otherwise)


def dollars_or_null(micros: npt.NDArray[np.integer]) -> pa.Array:
    """Micros as a decimal number of dollars (``12.99``), or ``null`` where zero."""
    text = pc.cast(pa.array(np.asarray(micros) / 1e6), pa.string())
    return pc.if_else(pa.array(np.asarray(micros) > 0), text, "null")


def concat(*pieces: pa.Array | str) -> pa.Array:
    """Concatenate text columns and literals row by row."""
    return pc.binary_join_element_wise(*pieces, "")


def join_groups(values: pa.Array, offsets: npt.NDArray[np.integer], separator: str) -> pa.Array:
    """Join ``values[offsets[k]:offsets[k + 1]]`` with ``separator`` for every group ``k``."""
    base = int(offsets[0])
    local = pa.array(np.asarray(offsets, np.int64) - base, pa.int32())
    width = int(offsets[-1]) - base
    lists = pa.ListArray.from_arrays(local, values.slice(base, width))
    return pc.binary_join(lists, separator)


def text_block(lines: pa.Array) -> pa.Buffer:
    """The bytes of all ``lines`` back to back, without a copy.

    Render each line with its own trailing newline; the block is then simply the string
    array's data buffer between its first and last offsets.
    """
    offsets, data = lines.buffers()[1:3]
    bounds = np.frombuffer(offsets, np.int32, len(lines) + 1, lines.offset * 4)
    if data is None:
        return pa.py_buffer(b"")
    block: pa.Buffer = data.slice(int(bounds[0]), int(bounds[-1] - bounds[0]))
    return block
