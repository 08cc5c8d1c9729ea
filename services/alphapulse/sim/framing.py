"""WebSocket data frames encoded by hand for the batched hot path (RFC 6455 §5.2).

The simulator lets ``websockets`` do the handshake, read client frames, answer pings and close;
market data goes out as pre-encoded server frames (unmasked, FIN set, no extension bits), many
per ``transport.write``. ``websockets``' own ``send()`` costs a frame object, an extension pass
and a write per message; at 200,000 messages/s that is most of the budget (measured in
``docs/simulator.md``). Frames written whole and only between ``websockets``' own writes keep the
stream valid: it never writes a partial frame.
"""

import struct

__all__ = ("binary_frame", "text_frame")

_FIN_TEXT = 0x81
_FIN_BINARY = 0x82
_LEN16 = 126
_LEN64 = 127
_SHORT_HEADERS = tuple(bytes((_FIN_TEXT, n)) for n in range(126))
_pack16 = struct.Struct("!BBH").pack


def _frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < _LEN16:
        return bytes((opcode, n)) + payload
    if n < 1 << 16:
        return bytes((opcode, _LEN16)) + n.to_bytes(2, "big") + payload
    return bytes((opcode, _LEN64)) + n.to_bytes(8, "big") + payload


def text_frame(payload: bytes) -> bytes:
    """One complete unmasked text frame carrying ``payload`` (which must be UTF-8)."""
    n = len(payload)
    if n < _LEN16:
        return _SHORT_HEADERS[n] + payload
    if n < 1 << 16:
        return _pack16(_FIN_TEXT, _LEN16, n) + payload
    return _frame(_FIN_TEXT, payload)


def binary_frame(payload: bytes) -> bytes:
    """One complete unmasked binary frame."""
    return _frame(_FIN_BINARY, payload)
