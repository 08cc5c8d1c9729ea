# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""C versions of the collectors' hottest primitives (see ``speedups.py``, which picks them).

Each function handles only the plain, valid case and returns -1 for anything else; the caller then
runs the pure-Python function, which decides (a value, or a ``Reject`` with its reason). The compiled
path can therefore never accept what the Python one rejects, nor give another value: the tests check
both on the same inputs (``test_collector_speedups.py``), and the fallback keeps every error message.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from libc.stdint cimport int64_t, uint64_t

from zlib import crc32 as _crc32


cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object text, Py_ssize_t* size) except NULL

cdef uint64_t INT64_MAX = 9223372036854775807ULL
cdef uint64_t TEN_LIMIT = 922337203685477580ULL  # INT64_MAX // 10: v * 10 + digit cannot overflow below it
cdef int64_t NS = 1000000000
cdef int DAYS_BEFORE_MONTH[13]
DAYS_BEFORE_MONTH[:] = [0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334]
cdef int MONTH_DAYS[13]
MONTH_DAYS[:] = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


cdef inline int64_t _fixed(const char* s, Py_ssize_t n, int scale) noexcept nogil:
    """ASCII ``digits[.digits]`` at ``scale`` (digits beyond it must be zeros); -1 if not that."""
    cdef Py_ssize_t i
    cdef uint64_t v = 0
    cdef int after = -1  # digits after the dot; -1 before it
    cdef char c
    if n == 0 or s[0] == 46:  # "" or ".5"
        return -1
    for i in range(n):
        c = s[i]
        if 48 <= c <= 57:
            if after >= 0:
                after += 1
                if after > scale:
                    if c != 48:
                        return -1  # a non-zero digit beyond the scale: inexact
                    continue
            if v > TEN_LIMIT:
                return -1
            v = v * 10 + <uint64_t>(c - 48)
        elif c == 46 and after < 0:
            after = 0
        else:
            return -1
    if after == 0:
        return -1  # "5.": a dot without decimals
    if after < 0:
        after = 0
    while after < scale:
        if v > TEN_LIMIT:
            return -1
        v *= 10
        after += 1
    if v > INT64_MAX:
        return -1
    return <int64_t>v


cdef inline const char* _ascii(str text, Py_ssize_t* n) noexcept:
    """The text's bytes (its own buffer when ASCII, as market data is); NULL if it has none (surrogates)."""
    try:
        return PyUnicode_AsUTF8AndSize(text, n)
    except UnicodeError:
        return NULL


def fixed_or_neg(str text not None, int scale):
    """A plain unsigned decimal string at ``scale``, exactly; -1 when it is anything else."""
    cdef Py_ssize_t n
    cdef const char* s = _ascii(text, &n)
    if s == NULL or not 0 <= scale <= 18:
        return -1
    return _fixed(s, n, scale)


def fixed_raw_or_neg(object raw not None, int scale):
    """A JSON number token (``msgspec.Raw``, bytes) in plain notation at ``scale``; -1 otherwise."""
    cdef Py_buffer view
    cdef int64_t value
    if not 0 <= scale <= 18:
        return -1
    PyObject_GetBuffer(raw, &view, PyBUF_SIMPLE)  # raises for an object without a buffer: a caller's bug
    try:
        value = _fixed(<const char*>view.buf, view.len, scale)
    finally:
        PyBuffer_Release(&view)
    return value


cdef inline int _digits(const char* s, int count) noexcept nogil:
    """``count`` ASCII digits as a number; -1 if any is not a digit."""
    cdef int v = 0
    cdef int i
    for i in range(count):
        if not 48 <= s[i] <= 57:
            return -1
        v = v * 10 + (s[i] - 48)
    return v


def rfc3339_or_neg(str text not None):
    """``YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z`` to ns since the epoch; -1 when it is anything else."""
    cdef Py_ssize_t n, i
    cdef const char* s = _ascii(text, &n)
    cdef int y, mo, d, hh, mm, ss, leap, mdays, nfrac
    cdef int64_t days, y1, frac
    if s == NULL or n < 20 or s[4] != 45 or s[7] != 45 or s[10] != 84 or s[13] != 58 or s[16] != 58 or s[n - 1] != 90:
        return -1
    y = _digits(s, 4)
    mo = _digits(s + 5, 2)
    d = _digits(s + 8, 2)
    hh = _digits(s + 11, 2)
    mm = _digits(s + 14, 2)
    ss = _digits(s + 17, 2)
    if y < 1970 or y > 2200 or mo < 1 or mo > 12 or d < 1 or hh < 0 or hh > 23 or mm < 0 or mm > 59:
        return -1
    if ss < 0 or ss > 60:
        return -1
    leap = (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0))
    mdays = MONTH_DAYS[mo] + (1 if leap and mo == 2 else 0)
    if d > mdays:
        return -1
    frac = 0
    if n != 20:
        nfrac = <int>(n - 21)  # between the dot at 19 and the Z
        if s[19] != 46 or nfrac < 1 or nfrac > 9:
            return -1
        for i in range(20, n - 1):
            if not 48 <= s[i] <= 57:
                return -1
            frac = frac * 10 + (s[i] - 48)
        for i in range(nfrac, 9):
            frac *= 10
    y1 = y - 1
    days = y1 * 365 + y1 // 4 - y1 // 100 + y1 // 400 - 719162
    days += DAYS_BEFORE_MONTH[mo] + (1 if leap and mo > 2 else 0) + d - 1
    return (days * 86400 + hh * 3600 + mm * 60 + ss) * NS + frac


def digits_or_neg(str text not None):
    """An unsigned integer of 1 to 18 ASCII digits (an id sent as a string); -1 when it is anything else."""
    cdef Py_ssize_t n, i
    cdef const char* s = _ascii(text, &n)
    cdef int64_t v = 0
    if s == NULL or n == 0 or n > 18:
        return -1
    for i in range(n):
        if not 48 <= s[i] <= 57:
            return -1
        v = v * 10 + (s[i] - 48)
    return v


cdef enum:
    CRC_MAX_LEVELS = 25  # per side; Kraken's checksum takes 10
    CRC_BUF = CRC_MAX_LEVELS * 2 * 2 * 19  # levels x sides x (price, qty) x the digits of an int64


cdef inline Py_ssize_t _put_digits(char* out, uint64_t v) noexcept nogil:
    """``v`` in decimal, no leading zeros (``str(int)``); returns the length."""
    cdef char tmp[20]
    cdef Py_ssize_t n = 0, i
    while True:
        tmp[n] = <char>(48 + v % 10)
        v //= 10
        n += 1
        if v == 0:
            break
    for i in range(n):
        out[i] = tmp[n - 1 - i]
    return n


cdef Py_ssize_t _levels_text(char* out, list keys, dict levels, int64_t sign, Py_ssize_t n) except -2:
    """The top ``n`` levels of one book side as ``{price}{qty}`` digits; -1 if a value is negative."""
    cdef Py_ssize_t i, pos = 0
    cdef int64_t price, qty
    cdef object key
    for i in range(min(n, len(keys))):
        key = keys[i]
        price = <int64_t>key * sign
        # asks are keyed by their price: look the level up with the key itself, no new int
        qty = <int64_t>(levels[key] if sign == 1 else levels[price])
        if price < 0 or qty < 0:
            return -1
        pos += _put_digits(out + pos, <uint64_t>price)
        pos += _put_digits(out + pos, <uint64_t>qty)
    return pos


def kraken_crc_or_neg(list ask_keys not None, dict ask_levels not None, list bid_keys not None,
                      dict bid_levels not None, int n):
    """CRC32 of the top ``n`` asks then the top ``n`` bids, each level ``{price}{qty}`` in decimal (Kraken's
    book checksum over a ``BookSide``'s ``keys`` and ``levels``); -1 for a negative value or an ``n`` past 25."""
    cdef char buf[CRC_BUF]
    cdef Py_ssize_t asks, bids
    if not 0 <= n <= CRC_MAX_LEVELS:
        return -1
    try:
        asks = _levels_text(buf, ask_keys, ask_levels, 1, n)
        if asks < 0:
            return -1
        bids = _levels_text(buf + asks, bid_keys, bid_levels, -1, n)
    except OverflowError:  # a value past int64: the Python function decides
        return -1
    if bids < 0:
        return -1
    return _crc32(buf[:asks + bids])
