"""Exact decimals and timestamps: the collector's fast paths agree with the slow, obviously right ones."""

import datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alphapulse.collectors.parsing import Reject, decimals_of, fixed_str
from alphapulse.collectors.timestamps import TimestampError, parse_rfc3339_ns
from alphapulse.protocol import FixedPointError, to_fixed


@given(whole=st.integers(0, 10**10), frac=st.text("0123456789", max_size=12), scale=st.integers(0, 12))
def test_fixed_str_agrees_with_to_fixed(whole: int, frac: str, scale: int) -> None:
    text = f"{whole}.{frac}" if frac else str(whole)
    try:
        want: int | None = to_fixed(text, scale)
    except FixedPointError:
        want = None
    try:
        got: int | None = fixed_str(text, scale, "x", positive=False)
    except Reject:
        got = None
    assert got == want
    assert fixed_str(text, scale, "x", positive=False) == got if got is not None else True  # cached path too


@pytest.mark.parametrize("text", ["1e5", "-1", "+1", "1,000", "١٢", "1.", ".5", "NaN", "Infinity", "", " 1", "1_0"])
def test_fixed_str_refuses_what_is_not_a_plain_decimal(text: str) -> None:
    with pytest.raises(Reject):
        fixed_str(text, 8, "x")


def test_zero_is_refused_only_where_it_must_be_positive() -> None:
    assert fixed_str("0.00000000", 8, "qty", positive=False) == 0
    with pytest.raises(Reject, match="non_positive"):
        fixed_str("0.00000000", 8, "qty")


@pytest.mark.parametrize(("inc", "places"), [("0.01000000", 2), ("0.00001000", 5), (Decimal("1e-08"), 8), ("1", 0)])
def test_decimals_of_increments(inc: str | Decimal, places: int) -> None:
    assert decimals_of(inc) == places


@given(
    st.datetimes(datetime.datetime(1970, 1, 1), datetime.datetime(2199, 12, 31)),
    st.integers(0, 999_999_999),
    st.integers(1, 9),
)
def test_timestamps_are_exact_to_the_nanosecond(dt: datetime.datetime, ns: int, digits: int) -> None:
    frac = str(ns).rjust(9, "0")[:digits]
    text = dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{frac}Z"
    whole = int(dt.replace(tzinfo=datetime.UTC).timestamp())
    assert parse_rfc3339_ns(text) == whole * 10**9 + int(frac.ljust(9, "0"))


@pytest.mark.parametrize(
    "text",
    [
        "2026-13-45T25:61:00.000000Z",
        "2026-02-30T00:00:00Z",
        "2026-03-02T14:30:00.Z",
        "2026-03-02T14:30:00+00:00",
        "2026-03-02T14:30:00.1234567890Z",
        "2026-03-02 14:30:00Z",
        "",
    ],
)
def test_impossible_timestamps_are_refused(text: str) -> None:
    with pytest.raises(TimestampError):
        parse_rfc3339_ns(text)
