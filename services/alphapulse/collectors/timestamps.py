"""Exact RFC 3339 timestamps to integer nanoseconds, by slicing the string.

``datetime.fromisoformat`` keeps microseconds only (Coinbase sends nine digits), and float
arithmetic rounds; this parser slices the text and does integer arithmetic, caching the epoch
second of each minute it has seen (a bounded cache: market data timestamps move forward).
"""

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
        or prefix[10] not in "T "
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


def parse_rfc3339_ns(text: str) -> int:
    """``2026-03-02T14:30:00.308055123Z`` -> ns since the epoch, exactly (UTC ``Z`` only)."""
    if len(text) < 20 or text[-1] != "Z" or text[16] != ":":
        raise TimestampError(f"not an RFC 3339 UTC timestamp: {text[:40]!r}")
    prefix = text[:16]
    base = _CACHE.get(prefix)
    if base is None:
        base = _minute_s(prefix)
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[prefix] = base
    sec = text[17:19]
    if not (sec.isdigit() and sec.isascii()) or int(sec) > 60:
        raise TimestampError(f"impossible seconds in {text[:40]!r}")
    frac = text[19:-1]
    if frac:
        digits = frac[1:]
        if frac[0] != "." or not 1 <= len(digits) <= 9 or not (digits.isdigit() and digits.isascii()):
            raise TimestampError(f"bad fraction in {text[:40]!r}")
        return (base + int(sec)) * _NS + int(digits.ljust(9, "0"))
    return (base + int(sec)) * _NS
