"""Exact rendering of decimals, timestamps and WebSocket frames."""

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from alphapulse.sim.framing import binary_frame, text_frame
from alphapulse.sim.render import RfcClock, fixed, go_time, minimal, rfc3339_ns, rfc3339_us


@pytest.mark.parametrize(
    ("units", "decimals", "want_fixed", "want_minimal"),
    [
        (9000001, 2, "90000.01", "90000.01"),
        (9000000, 2, "90000.00", "90000"),
        (0, 8, "0.00000000", "0"),
        (5, 8, "0.00000005", "0.00000005"),
        (900000, 1, "90000.0", "90000"),
        (-135, 2, "-1.35", "-1.35"),
        (42, 0, "42", "42"),
    ],
)
def test_decimal_vectors(units: int, decimals: int, want_fixed: str, want_minimal: str) -> None:
    assert fixed(units, decimals) == want_fixed
    assert minimal(units, decimals) == want_minimal


@given(st.integers(-(10**18), 10**18), st.integers(0, 12))
def test_decimals_are_exact(units: int, decimals: int) -> None:
    want = Decimal(units).scaleb(-decimals)
    assert Decimal(fixed(units, decimals)) == want
    assert Decimal(minimal(units, decimals)) == want
    if decimals:
        assert len(fixed(units, decimals).split(".")[1]) == decimals


def test_timestamps() -> None:
    ns = 1_772_461_800_912_941_313  # 2026-03-02T14:30:00.912941313Z
    clock = RfcClock()
    assert clock.us(ns) == rfc3339_us(ns) == "2026-03-02T14:30:00.912941Z"
    assert clock.ns(ns) == rfc3339_ns(ns) == "2026-03-02T14:30:00.912941313Z"
    assert clock.us(ns + 10**9) == "2026-03-02T14:30:01.912941Z"  # the cached second moves on
    assert re.fullmatch(r"2026-03-02 14:30:00\.912941313 \+0000 UTC m=\+\d+\.\d{9}", go_time(ns))


def _parse(wire: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(wire)
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as stop:
        frame: Frame = stop.value
        return frame
    raise AssertionError("incomplete frame")


@given(st.binary(max_size=70_000))
def test_frames_parse_back_with_websockets(payload: bytes) -> None:
    frame = _parse(binary_frame(payload))
    assert (frame.opcode, frame.fin, frame.data) == (Opcode.BINARY, True, payload)


@pytest.mark.parametrize("n", [0, 1, 125, 126, 65535, 65536, 1 << 20])
def test_text_frame_length_boundaries(n: int) -> None:
    payload = b"x" * n
    frame = _parse(text_frame(payload))
    assert (frame.opcode, frame.fin, frame.data) == (Opcode.TEXT, True, payload)
