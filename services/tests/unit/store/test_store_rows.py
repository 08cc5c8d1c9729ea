"""Binary COPY encoding of row arrays: byte-exact against a hand-built PGCOPY vector."""

import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alphapulse.store.rows import BOOK_DTYPE, DTYPES, Kind, copy_binary, empty, pg_columns

HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"


def _field(fmt: str, value: int) -> bytes:
    return struct.pack(">i", struct.calcsize(fmt)) + struct.pack(">" + fmt, value)


def test_one_trade_row_encodes_to_the_known_bytes() -> None:
    rows = empty(Kind.TRADES, 1)
    values = (0x1001, 42, 7, 1_764_028_800_000_000_001, 1_764_028_800_000_000_002, -5, 2**63 - 1, 1, 1, 8)
    rows[0] = values
    formats = ["q"] * 7 + ["h"] * 3
    expected = HEADER + struct.pack(">h", 10)
    expected += b"".join(_field(f, v) for f, v in zip(formats, values, strict=True))
    expected += TRAILER
    assert copy_binary(Kind.TRADES, rows) == expected


@pytest.mark.parametrize("kind", [Kind.TRADES, Kind.QUOTES, Kind.BOOK])
def test_every_kind_encodes_fixed_size_tuples(kind: Kind) -> None:
    n = 5
    data = copy_binary(kind, np.zeros(n, dtype=DTYPES[kind]))
    names = DTYPES[kind].names
    assert names is not None
    per_row = 2 + sum(4 + DTYPES[kind].fields[name][0].itemsize for name in names)  # type: ignore[index]
    assert len(data) == len(HEADER) + n * per_row + len(TRAILER)


def test_staging_columns_follow_the_dtype() -> None:
    cols = pg_columns(BOOK_DTYPE)
    assert cols[0] == ("instrument_id", "bigint")
    assert ("flags", "smallint") in cols
    assert [c for c, _ in cols] == list(BOOK_DTYPE.names or ())


def _decode_copy(kind: Kind, data: bytes) -> list[tuple[int, ...]]:
    """A minimal reader of PGCOPY binary, written from the format's documentation."""
    assert data.startswith(HEADER)
    assert data.endswith(TRAILER)
    body, off, rows = data[len(HEADER) : -len(TRAILER)], 0, []
    while off < len(body):
        (n,) = struct.unpack_from(">h", body, off)
        off += 2
        values = []
        for _ in range(n):
            (size,) = struct.unpack_from(">i", body, off)
            off += 4
            values.append(int.from_bytes(body[off : off + size], "big", signed=True))
            off += size
        rows.append(tuple(values))
    return rows


@given(st.data())
def test_copy_binary_round_trips_any_values(data: st.DataObject) -> None:
    n = data.draw(st.integers(0, 20))
    rows = empty(Kind.BOOK, n)
    for name in BOOK_DTYPE.names or ():
        info = np.iinfo(BOOK_DTYPE.fields[name][0])  # type: ignore[index]
        values = data.draw(st.lists(st.integers(int(info.min), int(info.max)), min_size=n, max_size=n))
        rows[name] = values
    assert _decode_copy(Kind.BOOK, copy_binary(Kind.BOOK, rows)) == [tuple(int(v) for v in r) for r in rows.tolist()]
