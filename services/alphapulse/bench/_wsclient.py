"""The few pieces of RFC 6455 the benchmarks' raw WebSocket clients need (they measure servers, so they stay
below any client library): the upgrade request, masked text frames, pongs, and splitting received frames."""

import base64
import os
import struct

__all__ = ("masked_text", "pong", "take_frames", "upgrade_request")


def upgrade_request(hostport: str, path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def masked_text(payload: bytes) -> bytes:
    """A client text frame: client frames must be masked; a zero mask key is valid and leaves the bytes as they are."""
    n = len(payload)
    head = struct.pack("!BB", 0x81, 0x80 | n) if n < 126 else struct.pack("!BBH", 0x81, 0x80 | 126, n)
    return head + b"\0\0\0\0" + payload


def pong(payload: bytes) -> bytes:
    """The masked answer to a ping carrying ``payload`` (at most 125 bytes, as pings are)."""
    return struct.pack("!BB", 0x8A, 0x80 | len(payload)) + b"\0\0\0\0" + payload


def take_frames(buf: bytearray) -> list[tuple[int, bytes]]:
    """Remove the complete (unmasked, server-sent) frames from the front of ``buf``: (opcode, payload) each."""
    frames = []
    off, n = 0, len(buf)
    while n - off >= 2:
        b0, b1 = buf[off], buf[off + 1]
        length, hdr = b1 & 0x7F, 2
        if length == 126:
            if n - off < 4:
                break
            length, hdr = int.from_bytes(buf[off + 2 : off + 4], "big"), 4
        elif length == 127:
            if n - off < 10:
                break
            length, hdr = int.from_bytes(buf[off + 2 : off + 10], "big"), 10
        if n - off < hdr + length:
            break
        frames.append((b0 & 0x0F, bytes(buf[off + hdr : off + hdr + length])))
        off += hdr + length
    del buf[:off]
    return frames
