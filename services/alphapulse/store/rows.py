"""Market-data rows as NumPy structured arrays, and their PostgreSQL binary COPY encoding.

The writer never builds a Python object per row: decoded frames become rows of a fixed-size
dtype (fixed-point integers exactly as on the wire, plus each value's scale), the spool stores
those bytes unchanged, and COPY's binary format is produced from them with a few vectorized
assignments (~10 ns/row). The server turns scaled integers into exact NUMERIC and ns into
timestamptz while moving rows from the staging table (see ``sink.py``).
"""

import enum
import struct
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = (
    "BOOK_DTYPE",
    "DTYPES",
    "QUOTE_DTYPE",
    "TRADE_DTYPE",
    "Kind",
    "Rows",
    "Side",
    "copy_binary",
    "empty",
    "pg_columns",
)

Rows = npt.NDArray[np.void]


class Kind(enum.IntEnum):
    """What a batch of rows holds; also the record kind in the spool (never renumber)."""

    TRADES = 1
    QUOTES = 2
    BOOK = 3
    JSON = 10  # instruments, gaps, feed events: few rows, kept as JSON documents


class Side(enum.IntEnum):
    UNKNOWN = 0
    BUY = 1  # trades: taker side; book: bid
    SELL = 2  # trades: taker side; book: ask


TRADE_DTYPE: Final = np.dtype(
    [
        ("instrument_id", "<i8"),
        ("trade_id", "<i8"),
        ("seq", "<i8"),
        ("ts_exchange_ns", "<i8"),
        ("ts_recv_ns", "<i8"),
        ("price_raw", "<i8"),
        ("qty_raw", "<i8"),
        ("side", "<i2"),
        ("price_scale", "<i2"),
        ("qty_scale", "<i2"),
    ]
)
QUOTE_DTYPE: Final = np.dtype(
    [
        ("instrument_id", "<i8"),
        ("seq", "<i8"),
        ("ts_exchange_ns", "<i8"),
        ("ts_recv_ns", "<i8"),
        ("bid_price_raw", "<i8"),
        ("bid_qty_raw", "<i8"),
        ("ask_price_raw", "<i8"),
        ("ask_qty_raw", "<i8"),
        ("price_scale", "<i2"),
        ("qty_scale", "<i2"),
    ]
)
BOOK_DTYPE: Final = np.dtype(
    [
        ("instrument_id", "<i8"),
        ("seq", "<i8"),
        ("ts_exchange_ns", "<i8"),
        ("ts_recv_ns", "<i8"),
        ("price_raw", "<i8"),
        ("qty_raw", "<i8"),
        ("side", "<i2"),
        ("flags", "<i2"),
        ("price_scale", "<i2"),
        ("qty_scale", "<i2"),
    ]
)
DTYPES: Final[dict[Kind, np.dtype[np.void]]] = {
    Kind.TRADES: TRADE_DTYPE,
    Kind.QUOTES: QUOTE_DTYPE,
    Kind.BOOK: BOOK_DTYPE,
}

_PG_TYPE = {np.dtype("<i8"): "bigint", np.dtype("<i2"): "smallint"}
_COPY_HEADER: Final = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER: Final = struct.pack(">h", -1)


def empty(kind: Kind, n: int = 0) -> Rows:
    return np.zeros(n, dtype=DTYPES[kind])


def pg_columns(dtype: np.dtype[np.void]) -> list[tuple[str, str]]:
    """(column, PostgreSQL type) for a staging table with exactly this dtype's fields."""
    assert dtype.names is not None
    return [(name, _PG_TYPE[dtype.fields[name][0]]) for name in dtype.names]  # type: ignore[index]


def _wire_dtype(dtype: np.dtype[np.void]) -> np.dtype[np.void]:
    """The binary COPY tuple for ``dtype``: int16 field count, then (int32 length, big-endian value)."""
    assert dtype.names is not None
    fields: list[tuple[str, str]] = [("_n", ">i2")]
    for name in dtype.names:
        base = dtype.fields[name][0]  # type: ignore[index]
        fields += [(f"_len_{name}", ">i4"), (name, base.newbyteorder(">").str)]
    return np.dtype(fields)


_WIRE: Final = {kind: _wire_dtype(dt) for kind, dt in DTYPES.items()}


def copy_binary(kind: Kind, rows: Rows) -> bytes:
    """``rows`` in PostgreSQL's binary COPY format, ready for ``COPY ... FROM STDIN (FORMAT binary)``."""
    wire = _WIRE[kind]
    out = np.empty(len(rows), dtype=wire)
    names = DTYPES[kind].names
    assert names is not None
    out["_n"] = len(names)
    for name in names:
        out[f"_len_{name}"] = DTYPES[kind].fields[name][0].itemsize  # type: ignore[index]
        out[name] = rows[name]
    return _COPY_HEADER + out.tobytes() + _COPY_TRAILER
