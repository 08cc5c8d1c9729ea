# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The relay's per-read checks in C (see ``fastpath.py``, which picks them, and its Python originals).

At 1,000 events/s every read finds the relay asleep and its caches cold, and the interpreter running
these two functions' slicing, scanning and per-cell loop was about a quarter of the relay's samples.
Each function gives exactly what its Python original gives, for every input (the tests check both on
the same inputs); neither keeps state.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy

cdef Py_ssize_t CELL = 48


cdef inline uint32_t _u32le(const uint8_t* p) noexcept nogil:
    return p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16) | (<uint32_t>p[3] << 24)


def live_run_next_seq(bytes chunk not None, int64_t next_seq, int version, bytes plain_types not None, int replay_flag):
    """The feed's next sequence number after ``chunk`` if it is a run of plain live cells (``version``,
    a type marked in the 256-byte table ``plain_types``, no ``replay_flag``) whose numbers continue
    ``next_seq`` (-1: any start); -1 otherwise."""
    cdef Py_ssize_t n = PyBytes_GET_SIZE(chunk) // CELL, i
    cdef const uint8_t* p = <const uint8_t*>PyBytes_AS_STRING(chunk)
    cdef const uint8_t* plain = <const uint8_t*>PyBytes_AS_STRING(plain_types)
    cdef const uint8_t* cell
    cdef uint32_t first, last
    if n == 0 or PyBytes_GET_SIZE(plain_types) != 256:
        return -1
    for i in range(n):
        cell = p + i * CELL
        if cell[0] != version or not plain[cell[1]] or cell[2] & replay_flag:
            return -1
    first = _u32le(p + 8)
    last = _u32le(p + (n - 1) * CELL + 8)
    if next_seq >= 0 and first != next_seq:
        return -1
    if <uint64_t>(<uint32_t>(last - first)) != <uint64_t>(n - 1):
        return -1
    return <uint32_t>(last + 1)


def select_cells(bytes chunk not None, uint64_t base, dict by_symbol not None, uint64_t any_symbol, uint64_t keyed):
    """The cells of ``chunk`` a consumer keeps: a cell of type t passes if bit t is in ``base``, or, for
    the ``keyed`` types, in its symbol's mask in ``by_symbol`` (symbol id -> type mask), or, for the
    others, in ``any_symbol``. Returns ``chunk`` itself when every cell passes."""
    cdef Py_ssize_t n = PyBytes_GET_SIZE(chunk) // CELL, i, kept = 0
    cdef const uint8_t* p = <const uint8_t*>PyBytes_AS_STRING(chunk)
    cdef const uint8_t* cell
    cdef uint8_t* keep
    cdef uint64_t bit, mask
    cdef uint32_t key
    cdef char* out
    if n == 0:
        return chunk
    keep = <uint8_t*>PyMem_Malloc(n)
    if keep == NULL:
        raise MemoryError()
    try:
        for i in range(n):
            cell = p + i * CELL
            keep[i] = 0
            if cell[1] >= 64:
                continue  # no mask has such a bit
            bit = (<uint64_t>1) << cell[1]
            if bit & base:
                keep[i] = 1
            else:
                if bit & keyed:
                    memcpy(&key, cell + 4, 4)  # native order, as memoryview.cast("I") reads it
                    mask = by_symbol.get(key, 0)
                else:
                    mask = any_symbol
                keep[i] = (mask & bit) != 0
            kept += keep[i]
        if kept == n:
            return chunk
        result = PyBytes_FromStringAndSize(NULL, kept * CELL)
        out = PyBytes_AS_STRING(result)
        for i in range(n):
            if keep[i]:
                memcpy(out, p + i * CELL, CELL)
                out += CELL
        return result
    finally:
        PyMem_Free(keep)
