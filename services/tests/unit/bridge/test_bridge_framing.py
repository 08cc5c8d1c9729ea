"""Known answers for the hand-written WebSocket frame header and the origin rule."""

import pytest

from alphapulse.bridge.server import origin_allowed, text_frame


@pytest.mark.parametrize(
    ("size", "header"),
    [
        (0, b"\x81\x00"),
        (125, b"\x81\x7d"),
        (126, b"\x81\x7e\x00\x7e"),
        (65535, b"\x81\x7e\xff\xff"),
        (65536, b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
    ],
)
def test_text_frame_headers(size: int, header: bytes) -> None:
    payload = b"x" * size
    assert text_frame(payload) == header + payload


def test_text_frame_parses_back_with_websockets() -> None:
    from websockets.frames import Frame, Opcode
    from websockets.streams import StreamReader

    reader = StreamReader()
    payload = b'[{"type":"pong","id":null}]'
    reader.feed_data(text_frame(payload))
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame = done.value
    assert (frame.opcode, frame.fin, frame.data) == (Opcode.TEXT, True, payload)


@pytest.mark.parametrize(
    ("origin", "allowed", "ok"),
    [
        (None, (), True),
        ("http://a.example", ("http://a.example",), True),
        ("http://b.example", ("http://a.example",), False),
        ("http://b.example", ("*",), True),
        ("null", ("http://a.example",), False),
    ],
)
def test_origin_rule(origin: str | None, allowed: tuple[str, ...], ok: bool) -> None:
    assert origin_allowed(origin, allowed) is ok


@pytest.mark.parametrize(
    ("origin", "host", "ok"),
    [
        ("https://dash.example.com", "dash.example.com", True),
        ("https://DASH.example.com", "dash.example.com", True),
        ("http://127.0.0.1:8765", "127.0.0.1:8765", True),
        ("https://evil.example", "dash.example.com", False),
        ("https://dash.example.com.evil.example", "dash.example.com", False),
        ("null", "null", False),
    ],
)
def test_same_origin_as_the_host_is_allowed(origin: str, host: str, ok: bool) -> None:
    assert origin_allowed(origin, (), host) is ok
