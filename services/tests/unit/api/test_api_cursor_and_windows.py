"""Pagination cursors and candle windows."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alphapulse.api.cursor import CursorError, cursor_int, decode_cursor, encode_cursor
from alphapulse.api.marketdata import candle_window


@given(st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), min_size=1, max_size=3))
def test_cursor_round_trip(values: list[int]) -> None:
    cursor = encode_cursor("trades", *values)
    assert [cursor_int(p) for p in decode_cursor("trades", cursor, len(values))] == values


@given(st.text(max_size=250))
def test_random_cursors_are_refused_cleanly(text: str) -> None:
    try:
        parts = decode_cursor("trades", text, 2)
    except CursorError:
        return
    assert len(parts) == 2


def test_a_cursor_is_bound_to_its_endpoint_and_arity() -> None:
    cursor = encode_cursor("orders", 1, "abc")
    with pytest.raises(CursorError):
        decode_cursor("trades", cursor, 2)
    with pytest.raises(CursorError):
        decode_cursor("orders", cursor, 3)
    with pytest.raises(CursorError, match="out of range"):
        cursor_int(str(2**63))


def test_candle_window_aligns_and_bounds_the_page() -> None:
    # no range: the page ends after the current bucket
    assert candle_window(interval_s=60, start_s=None, end_s=None, now_s=1_000_030, limit=10) == (
        999_480,
        1_000_080,
    )
    # an explicit range is aligned outward and cut to `limit` buckets
    assert candle_window(interval_s=60, start_s=125, end_s=10_000, now_s=0, limit=3) == (120, 300)
    assert candle_window(interval_s=3600, start_s=0, end_s=1800, now_s=0, limit=500) == (0, 3600)


def test_candle_pieces_split_only_the_chunk_still_filling() -> None:
    from alphapulse.api.marketdata import candle_pieces

    hour = 3600
    # now = 10:30:00; settled buckets end at 10:29 (60 s settle)
    now = 10 * hour + 30 * 60
    pieces = candle_pieces(interval_s=60, start_s=8 * hour + 15 * 60, end_s=11 * hour, now_s=now)
    assert pieces == [
        (8 * hour, 9 * hour, True),
        (9 * hour, 10 * hour, True),
        (10 * hour, 10 * hour + 29 * 60, True),
        (10 * hour + 29 * 60, 11 * hour, False),
    ]
    # a window far in the past is all closed chunks
    assert all(closed for _, _, closed in candle_pieces(interval_s=60, start_s=0, end_s=3 * hour, now_s=now))
