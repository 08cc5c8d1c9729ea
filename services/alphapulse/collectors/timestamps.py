"""Exact RFC 3339 timestamps to integer nanoseconds, by slicing the string.

``datetime.fromisoformat`` keeps microseconds only (Coinbase sends nine digits), and float
arithmetic rounds; this parser slices the text and does integer arithmetic, caching the epoch
second of each minute it has seen (a bounded cache: market data timestamps move forward).
"""

from alphapulse.collectors.speedups import COMPILED, rfc3339_or_neg

__all__ = ("TimestampError", "parse_rfc3339_ns")

_NS = 1_000_000_000
_CACHE: dict[str, int] = {}
_CACHE_MAX = 4096
_DAYS_BEFORE_MONTH = (0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)


class TimestampError(ValueError):
    """The text is not a valid ``YYYY-MM-DDTHH:MM:SS[.fraction]Z`` timestamp."""


def _days_from_civil(y: int, m: int, d: int) -> int:
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    mdays = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    if not 1 <= m <= 12 or not 1 <= d <= mdays[m - 1] or not 1970 <= y <= 2200:
        raise TimestampError(f"impossible date {y:04d}-{m:02d}-{d:02d}")
    y1 = y - 1
    days = y1 * 365 + y1 // 4 - y1 // 100 + y1 // 400 - 719162  # days from 0001-01-01 to 1970-01-01
    return days + _DAYS_BEFORE_MONTH[m] + (1 if leap and m > 2 else 0) + d - 1


def _minute_s(prefix: str) -> int:
    # prefix: "YYYY-MM-DDTHH:MM"
    if (
        len(prefix) != 16
        or prefix[4] != "-"
        or prefix[7] != "-"
        or prefix[10] != "T"
        or prefix[13] != ":"
        or not (prefix[:4] + prefix[5:7] + prefix[8:10] + prefix[11:13] + prefix[14:16]).isdigit()
        or not prefix.isascii()
    ):
        raise TimestampError(f"not an RFC 3339 timestamp: {prefix!r}")
    hh, mm = int(prefix[11:13]), int(prefix[14:16])
    if hh > 23 or mm > 59:
        raise TimestampError(f"impossible time of day in {prefix!r}")
    days = _days_from_civil(int(prefix[:4]), int(prefix[5:7]), int(prefix[8:10]))
    return days * 86400 + hh * 3600 + mm * 60


_POW10 = (1, 10, 100, 1000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000)


def _second_ns(head: str) -> int:
    # head: "YYYY-MM-DDTHH:MM:SS"
    if len(head) != 19 or head[16] != ":":
        raise TimestampError(f"not an RFC 3339 UTC timestamp: {head[:40]!r}")
    sec = head[17:19]
    if not (sec.isdigit() and sec.isascii()) or int(sec) > 60:
        raise TimestampError(f"impossible seconds in {head[:40]!r}")
    return (_minute_s(head[:16]) + int(sec)) * _NS


def _parse_rfc3339_ns_py(text: str) -> int:
    """``2026-03-02T14:30:00.308055123Z`` -> ns since the epoch, exactly (UTC ``Z`` only).

    The epoch of each whole second seen is cached (bounded): market data timestamps share seconds.
    """
    head = text[:19]
    base = _CACHE.get(head)
    if base is None:
        base = _second_ns(head)
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[head] = base
    tail = text[19:]
    if tail == "Z":
        return base
    digits = tail[1:-1]
    n = len(digits)
    if tail[:1] != "." or tail[-1:] != "Z" or not 1 <= n <= 9 or not (digits.isdigit() and digits.isascii()):
        raise TimestampError(f"bad fraction or zone in {text[:40]!r}")
    return base + int(digits) * _POW10[9 - n]


if COMPILED:

    def parse_rfc3339_ns(text: str) -> int:
        """``2026-03-02T14:30:00.308055123Z`` -> ns since the epoch, exactly (UTC ``Z`` only).

        The C function takes the valid case; the Python one names what is wrong with the rest."""
        value = rfc3339_or_neg(text)
        return value if value >= 0 else _parse_rfc3339_ns_py(text)

else:
    parse_rfc3339_ns = _parse_rfc3339_ns_py
