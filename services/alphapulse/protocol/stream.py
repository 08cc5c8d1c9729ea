"""Streaming parsers: bytes arrive in arbitrary pieces, frames come out whole.

``FrameDecoder.feed(data) -> list[Frame]`` keeps any partial frame for the next call.
``CellAligner.feed(data) -> bytes`` only cuts at cell boundaries (48 bytes) for code that works on
whole buffers (the relay, bulk decoders) and never needs frame objects.
"""

from alphapulse.protocol.errors import FrameError
from alphapulse.protocol.frames import Frame, cells_of, decode
from alphapulse.protocol.wire import CELL_BYTES, CELLS

__all__ = ("CellAligner", "FrameAligner", "FrameDecoder")


class CellAligner:
    """Accumulates bytes and hands back the longest prefix that is a whole number of cells."""

    __slots__ = ("_rest",)

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> bytes:
        if self._rest:
            data = self._rest + data
        cut = len(data) - len(data) % CELL_BYTES
        self._rest = data[cut:]
        return data if cut == len(data) else data[:cut]

    @property
    def pending_bytes(self) -> int:
        return len(self._rest)


class FrameAligner:
    """Like CellAligner, but never ends a piece inside a multi-cell frame (a quote, an instrument),
    so whatever is forwarded or dropped downstream is always whole frames. Looks only at the last
    cell: cost independent of the piece's size."""

    __slots__ = ("_rest",)

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> bytes:
        if self._rest:
            data = self._rest + data
        cut = len(data) - len(data) % CELL_BYTES
        if cut:
            last = cut - CELL_BYTES
            cells = CELLS.get(data[last + 1], 1)
            part = data[last + 3]
            if cells > 1 and part < cells - 1:
                cut = max(0, last - part * CELL_BYTES)  # hold the frame's first cells back until it is whole
        self._rest = data[cut:]
        return data if cut == len(data) else data[:cut]

    @property
    def pending_bytes(self) -> int:
        return len(self._rest)


class FrameDecoder:
    """Bytes in, frames out. Raises FrameError on the first invalid frame (the stream is then unusable)."""

    __slots__ = ("_buf", "_max_pending_bytes")

    def __init__(self, max_pending_bytes: int = 1 << 20) -> None:
        self._buf = bytearray()
        self._max_pending_bytes = max_pending_bytes

    def feed(self, data: bytes) -> list[Frame]:
        buf = self._buf
        buf += data
        frames: list[Frame] = []
        offset = 0
        end = len(buf)
        view = memoryview(buf)
        try:
            while end - offset >= CELL_BYTES:
                size = cells_of(buf[offset + 1]) * CELL_BYTES
                if end - offset < size:
                    break
                frames.append(decode(view, offset))
                offset += size
        finally:
            view.release()
        del buf[:offset]
        if len(buf) > self._max_pending_bytes:
            raise FrameError(f"{len(buf)} bytes pending without a complete frame")
        return frames

    @property
    def pending_bytes(self) -> int:
        return len(self._buf)
