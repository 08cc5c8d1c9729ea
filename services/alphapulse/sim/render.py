"""Exact decimal and timestamp rendering in each venue's wire conventions (pure, no I/O).

Values travel as integers at a scale (``units * 10**-decimals``); rendering never goes through
``float``. Binance prints 8 decimals always, Kraken prints exactly the pair precision (as a
JSON number), Coinbase prints the minimal form (no trailing zeros).
"""

import time
from collections.abc import Callable
from datetime import UTC, datetime

__all__ = (
    "Memo",
    "RfcClock",
    "fixed",
    "go_time",
    "minimal",
    "rfc3339_ns",
    "rfc3339_us",
)


def fixed(units: int, decimals: int) -> str:
    """``units * 10**-decimals`` with exactly ``decimals`` digits after the point."""
    if decimals == 0:
        return str(units)
    if units < 0:
        return "-" + fixed(-units, decimals)
    digits = str(units)
    if len(digits) <= decimals:
        digits = digits.rjust(decimals + 1, "0")
    return f"{digits[:-decimals]}.{digits[-decimals:]}"


def minimal(units: int, decimals: int) -> str:
    """Shortest exact form: ``90000``, ``0.02``, ``89999.9`` (Coinbase's strings)."""
    s = fixed(units, decimals)
    if decimals:
        s = s.rstrip("0").rstrip(".")
    return s


class Memo(dict[int, str]):
    """``memo[units]`` renders once and remembers: prices keep revisiting the same levels.

    A dict subclass so that a hit is a plain C-level lookup; misses go through ``__missing__``.
    """

    __slots__ = ("_render",)
    _LIMIT = 1 << 16  # a runaway random walk must not grow it without bound

    def __init__(self, render: Callable[[int], str]) -> None:
        super().__init__()
        self._render = render

    def __missing__(self, units: int) -> str:
        if len(self) >= self._LIMIT:
            self.clear()
        text = self[units] = self._render(units)
        return text


def _second_prefix(sec: int, sep: str) -> str:
    return datetime.fromtimestamp(sec, tz=UTC).strftime(f"%Y-%m-%d{sep}%H:%M:%S")


class RfcClock:
    """RFC3339 rendering with the date part cached per second (the hot path renders thousands per s)."""

    __slots__ = ("_last_ns", "_last_us", "_ns_in", "_ns_out", "_prefix", "_sec")

    def __init__(self) -> None:
        self._sec = -1
        self._prefix = ""
        self._last_us = -1
        self._last_ns = ""
        self._ns_in = -1
        self._ns_out = ""

    def _head(self, ns: int) -> tuple[str, int]:
        sec, frac = divmod(ns, 1_000_000_000)
        if sec != self._sec:
            self._sec = sec
            self._prefix = _second_prefix(sec, "T")
        return self._prefix, frac

    def us(self, ns: int) -> str:
        """``2026-03-02T14:30:00.302968Z`` (Kraken, Coinbase trade times)."""
        if ns == self._last_us:  # a generator batch shares one timestamp
            return self._last_ns
        head, frac = self._head(ns)
        self._last_us = ns
        self._last_ns = f"{head}.{frac // 1000:06d}Z"
        return self._last_ns

    def ns(self, ns: int) -> str:
        """``2026-03-02T14:30:00.912941313Z`` (Coinbase envelope timestamps)."""
        if ns == self._ns_in:
            return self._ns_out
        head, frac = self._head(ns)
        self._ns_in = ns
        self._ns_out = f"{head}.{frac:09d}Z"
        return self._ns_out


def rfc3339_us(ns: int) -> str:
    sec, frac = divmod(ns, 1_000_000_000)
    return f"{_second_prefix(sec, 'T')}.{frac // 1000:06d}Z"


def rfc3339_ns(ns: int) -> str:
    sec, frac = divmod(ns, 1_000_000_000)
    return f"{_second_prefix(sec, 'T')}.{frac:09d}Z"


_MONO_START_NS = time.monotonic_ns()


def go_time(ns: int) -> str:
    """Go's ``time.Time.String()`` as Coinbase heartbeats print it, monotonic reading included."""
    sec, frac = divmod(ns, 1_000_000_000)
    mono = time.monotonic_ns() - _MONO_START_NS
    mono_s, mono_frac = divmod(mono, 1_000_000_000)
    return f"{_second_prefix(sec, ' ')}.{frac:09d} +0000 UTC m=+{mono_s}.{mono_frac:09d}"
