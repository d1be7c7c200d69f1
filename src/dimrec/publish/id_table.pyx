# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""The compiled part of the index file's id table (see :mod:`dimrec.publish.index_file` for
its layout): finding ids' item numbers in the open-addressing table, and the ids of item
numbers. A request looks up and answers a few dozen ids; in Python each costs a handful of
memoryview reads and a bytes slice, here a few dozen nanoseconds.
Built from this file by the package's build hook (``hatch_build.py``) when the project is
installed.
"""

from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t
from libc.string cimport memcmp


def find_numbers(
    const int32_t[::1] slots,
    const uint64_t[::1] keys,
    const int64_t[::1] id_offsets,
    const uint8_t[::1] id_bytes,
    uint64_t mask,
    list encoded,
    list hashed,
):
    """The item number of each id (``encoded``: its UTF-8 bytes; ``hashed``: their keys),
    -1 for an id the table does not hold. The table ends with an empty slot, so a search
    always stops inside it."""
    cdef list found = []
    cdef Py_ssize_t k, slot, length
    cdef int32_t number
    cdef uint64_t key
    cdef bytes item
    cdef const uint8_t* text
    for k in range(len(encoded)):
        item = encoded[k]
        key = hashed[k]
        text = <const uint8_t*> item
        length = len(item)
        slot = <Py_ssize_t> (key & mask)
        number = slots[slot]
        while number >= 0:
            if (
                keys[number] == key
                and id_offsets[number + 1] - id_offsets[number] == length
                and memcmp(&id_bytes[id_offsets[number]], text, length) == 0
            ):
                break
            slot += 1
            number = slots[slot]
        found.append(number)
    return found


def ids_at(const int64_t[::1] id_offsets, const uint8_t[::1] id_bytes, list numbers):
    """The id of each item number."""
    cdef list ids = []
    cdef Py_ssize_t number
    cdef int64_t start
    for number in numbers:
        start = id_offsets[number]
        ids.append(
            PyUnicode_DecodeUTF8(<const char*> &id_bytes[start], id_offsets[number + 1] - start, NULL)
        )
    return ids
