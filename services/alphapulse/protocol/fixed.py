"""Exact conversion between exchange decimals and scaled signed 64-bit integers.

No float anywhere: ``"0.1"`` at scale 8 is exactly ``10_000_000``. Digits beyond the scale are
accepted only when they are zeros (Binance renders every value with 8 decimals); anything else,
exponent notation in strings, or a value outside int64 raises :class:`FixedPointError`.
"""

from decimal import Decimal

from alphapulse.protocol.errors import FixedPointError

__all__ = ("INT64_MAX", "INT64_MIN", "MAX_SCALE", "from_fixed", "to_decimal", "to_fixed")

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
MAX_SCALE = 18
_INT64_DIGITS = 19  # |int64| < 10**19: a value needing more digits cannot fit


def _fits(value: int, original: object, scale: int) -> int:
    if not INT64_MIN <= value <= INT64_MAX:
        raise FixedPointError(f"{original!r} at scale {scale} does not fit in a signed 64-bit integer")
    return value


def _from_str(text: str, scale: int) -> int:
    negative = text.startswith("-")
    body = text[1:] if negative else text
    whole, dot, frac = body.partition(".")
    if not (whole.isascii() and whole.isdigit()) or (dot and not (frac.isascii() and frac.isdigit())):
        raise FixedPointError(f"{text!r} is not a plain decimal number (digits, optional '-' and '.')")
    if len(frac) > scale:
        if frac[scale:].strip("0"):
            raise FixedPointError(f"{text!r} has more than {scale} decimal places (its instrument's scale)")
        frac = frac[:scale]
    digits = (whole + frac + "0" * (scale - len(frac))).lstrip("0")
    if len(digits) > _INT64_DIGITS:  # refuse before int(): it caps strings at 4,300 digits with ValueError
        raise FixedPointError(f"{text[:40]!r}... at scale {scale} does not fit in a signed 64-bit integer")
    value = int(digits or "0")
    return _fits(-value if negative else value, text, scale)


def _from_decimal(value: Decimal, scale: int) -> int:
    if not value.is_finite():
        raise FixedPointError(f"{value!r} is not a finite number")
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    if not any(digits):
        return 0
    # Bound the work by the digits and exponent *before* any arithmetic: a Decimal such as 1E+100000000
    # would otherwise build a 100-million-digit power of ten, and int() refuses strings over 4,300 digits.
    if value.adjusted() + scale >= _INT64_DIGITS:
        raise FixedPointError(f"{value:.6E} at scale {scale} does not fit in a signed 64-bit integer")
    shift = exponent + scale
    kept, dropped = (digits, ()) if shift >= 0 else (digits[:shift], digits[shift:])
    if any(dropped):
        raise FixedPointError(f"{value} has more than {scale} decimal places (its instrument's scale)")
    number = int("".join(map(str, kept)) or "0") * 10 ** max(shift, 0)
    return _fits(-number if sign else number, value, scale)


def to_fixed(value: str | Decimal | int, scale: int) -> int:
    """The exact integer ``value * 10**scale``; raises FixedPointError if that is not exact or not int64."""
    if not 0 <= scale <= MAX_SCALE:
        raise FixedPointError(f"scale {scale} is outside 0..{MAX_SCALE}")
    if type(value) is str:
        return _from_str(value, scale)
    if isinstance(value, Decimal):
        return _from_decimal(value, scale)
    if type(value) is int:
        if not INT64_MIN <= value <= INT64_MAX:  # checked first: repr() of a huge int raises ValueError
            raise FixedPointError(f"an integer of {value.bit_length()} bits does not fit in a signed 64-bit integer")
        return _fits(value * 10**scale, value, scale)
    raise FixedPointError(f"{value!r} ({type(value).__name__}) is not a str, Decimal or int; floats are refused")


def from_fixed(value: int, scale: int) -> str:
    """The decimal string of ``value / 10**scale``, rendered with exactly ``scale`` decimals."""
    if scale == 0:
        return str(value)
    sign = "-" if value < 0 else ""
    digits = str(abs(value)).rjust(scale + 1, "0")
    return f"{sign}{digits[:-scale]}.{digits[-scale:]}"


def to_decimal(value: int, scale: int) -> Decimal:
    return Decimal(value).scaleb(-scale)
