"""Columnar views of frame buffers with NumPy, for consumers that want arrays, not objects.

The only module of ``alphapulse.protocol`` that needs NumPy; the rest is standard library.
A buffer of whole cells is viewed as ``CELL_DTYPE`` records (header fields + raw body); the cells
of one type can then be re-viewed with that type's dtype at ~ns per frame.
"""

import numpy as np
import numpy.typing as npt

from alphapulse.protocol.errors import FrameError
from alphapulse.protocol.wire import CELL_BYTES, VERSION, FrameType

__all__ = ("BOOK_DTYPE", "CELL_DTYPE", "QUOTE_CELL_DTYPE", "TRADE_DTYPE", "cells", "quotes", "trade_ids", "trades")

CELL_DTYPE = np.dtype(
    [
        ("version", "u1"),
        ("type", "u1"),
        ("flags", "u1"),
        ("part", "u1"),
        ("key", "<u4"),
        ("seq", "<u4"),
        ("body", "V36"),
    ]
)
TRADE_DTYPE = np.dtype(
    [
        ("version", "u1"),
        ("type", "u1"),
        ("flags", "u1"),
        ("trade_id_hi", "u1"),
        ("symbol_id", "<u4"),
        ("seq", "<u4"),
        ("trade_id_lo", "<u4"),
        ("ts_exchange_ns", "<i8"),
        ("ts_recv_ns", "<i8"),
        ("price", "<i8"),
        ("qty", "<i8"),
    ]
)
QUOTE_CELL_DTYPE = np.dtype(
    [
        ("version", "u1"),
        ("type", "u1"),
        ("flags", "u1"),
        ("part", "u1"),
        ("symbol_id", "<u4"),
        ("seq", "<u4"),
        ("reserved", "<u4"),
        ("ts_exchange_ns", "<i8"),
        ("ts_recv_ns", "<i8"),
        ("price", "<i8"),
        ("qty", "<i8"),
    ]
)
BOOK_DTYPE = QUOTE_CELL_DTYPE
for _d in (CELL_DTYPE, TRADE_DTYPE, QUOTE_CELL_DTYPE):
    assert _d.itemsize == CELL_BYTES


def cells(buffer: bytes | bytearray | memoryview) -> npt.NDArray[np.void]:
    """A zero-copy record view of a buffer of whole cells; refuses foreign versions."""
    if len(buffer) % CELL_BYTES:
        raise FrameError(f"buffer of {len(buffer)} bytes is not a whole number of {CELL_BYTES}-byte cells")
    view = np.frombuffer(buffer, dtype=CELL_DTYPE)
    if view.size and not (view["version"] == VERSION).all():
        raise FrameError("buffer holds cells of an unsupported protocol version")
    return view


def trades(buffer: bytes | bytearray | memoryview) -> npt.NDArray[np.void]:
    """Every trade in the buffer as TRADE_DTYPE records (a copy; the buffer may hold other types)."""
    view = cells(buffer)
    picked: npt.NDArray[np.void] = view[view["type"] == FrameType.TRADE].view(TRADE_DTYPE)
    return picked


def quotes(buffer: bytes | bytearray | memoryview) -> npt.NDArray[np.void]:
    """Quotes as (bid cell, ask cell) rows: shape (n, 2) of QUOTE_CELL_DTYPE."""
    view = cells(buffer)
    picked = view[view["type"] == FrameType.QUOTE].view(QUOTE_CELL_DTYPE)
    if picked.size % 2 or (picked.size and not (picked["part"][0::2] == 0).all()):
        raise FrameError("quote cells are not in bid/ask pairs")
    pairs: npt.NDArray[np.void] = picked.reshape(-1, 2)
    return pairs


def trade_ids(records: npt.NDArray[np.void]) -> npt.NDArray[np.uint64]:
    """The 40-bit venue trade ids of TRADE_DTYPE records."""
    hi = records["trade_id_hi"].astype(np.uint64)
    lo = records["trade_id_lo"].astype(np.uint64)
    return (hi << np.uint64(32)) | lo
