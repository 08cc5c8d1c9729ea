"""Columnar views of frame buffers agree with per-frame decoding."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alphapulse.protocol import (
    CELL_BYTES,
    BookLevel,
    Exchange,
    Feed,
    FeedState,
    Frame,
    FrameDecoder,
    FrameError,
    FrameType,
    Gap,
    GapReason,
    Heartbeat,
    Instrument,
    Quote,
    Side,
    SnapshotBegin,
    SnapshotEnd,
    Status,
    Trade,
    bulk,
    encode,
)
from alphapulse.protocol.wire import FLAG_REPLAY

TS = 1_700_000_000_000_000_000
TRADE_IDS = [0, 1, 0xFFFF_FFFF, 1 << 32, 0x12_3456_789A, (1 << 40) - 1]

MIXED: list[Frame] = [
    Feed(0x0B9B07DE, 0, Exchange.BINANCE, "binance-spot", TS, replay=True),
    Instrument(0xBA59F470, 2, Exchange.BINANCE, "BTC-USDT", 2, 8, 1, 1, "BTCUSDT"),
    Status(0x0B9B07DE, 4, FeedState.SUBSCRIBED, TS),
    *(
        Trade(0xBA59F470, 5 + i, Side(i % 3), tid, TS + i, TS + i + 500, 6_543_210 + i, -i, snapshot=i == 2)
        for i, tid in enumerate(TRADE_IDS)
    ),
    Quote(0xBA59F470, 11, TS, TS + 1, 100, 2, 101, 3),
    SnapshotBegin(0xBA59F470, 13, 2, TS, TS + 2),
    BookLevel(0xBA59F470, 14, Side.BUY, TS, TS + 2, 100, 5, snapshot=True),
    BookLevel(0xBA59F470, 15, Side.SELL, TS, TS + 2, 101, 0, last=True, snapshot=True),
    SnapshotEnd(0xBA59F470, 16, 2, TS, TS + 2),
    Quote(0x9AF533B3, 0xFFFF_FFFF, TS, TS + 3, -5, 6, -4, 7, replay=True),  # cells at seq 2**32-1 and 0
    Gap(0x0B9B07DE, 1, GapReason.SEQUENCE, TS, 0, 17, 4),
    Trade(0x9AF533B3, 2, Side.SELL, (1 << 40) - 1, TS, TS, 1, 1, replay=True),
    Heartbeat(0x0B9B07DE, 3, TS),
]
BUFFER = b"".join(encode(f) for f in MIXED)


def test_cells_view_matches_every_cell_header() -> None:
    view = bulk.cells(BUFFER)
    assert view.shape == (len(BUFFER) // CELL_BYTES,)
    assert view.dtype == bulk.CELL_DTYPE
    for i, row in enumerate(view):
        cell = BUFFER[i * CELL_BYTES : (i + 1) * CELL_BYTES]
        assert (row["version"], row["type"], row["flags"], row["part"]) == tuple(cell[:4])
        assert row["key"] == int.from_bytes(cell[4:8], "little")
        assert row["seq"] == int.from_bytes(cell[8:12], "little")
        assert bytes(row["body"]) == cell[12:]


def test_cells_view_is_zero_copy() -> None:
    buffer = bytearray(BUFFER)
    view = bulk.cells(buffer)
    buffer[8] = 0x77  # the first cell's seq, low byte
    assert view["seq"][0] == 0x77


def test_trades_view_equals_per_frame_decode() -> None:
    decoded = [f for f in FrameDecoder().feed(BUFFER) if isinstance(f, Trade)]
    records = bulk.trades(BUFFER)
    assert records.dtype == bulk.TRADE_DTYPE
    assert len(records) == len(decoded) == len(TRADE_IDS) + 1
    for rec, trade in zip(records, decoded, strict=True):
        assert rec["symbol_id"] == trade.symbol_id
        assert rec["seq"] == trade.seq
        assert rec["flags"] & 0x03 == trade.side
        assert bool(rec["flags"] & 0x04) == trade.snapshot
        assert bool(rec["flags"] & FLAG_REPLAY) == trade.replay
        assert (rec["ts_exchange_ns"], rec["ts_recv_ns"]) == (trade.ts_exchange_ns, trade.ts_recv_ns)
        assert (rec["price"], rec["qty"]) == (trade.price, trade.qty)
    assert bulk.trade_ids(records).tolist() == [t.trade_id for t in decoded]


def test_trade_ids_are_40_bits() -> None:
    records = bulk.trades(BUFFER)
    ids = bulk.trade_ids(records)
    assert ids.dtype == np.uint64
    assert ids.tolist() == [*TRADE_IDS, (1 << 40) - 1]
    assert records["trade_id_hi"].tolist() == [t >> 32 for t in TRADE_IDS] + [0xFF]


def test_quotes_view_pairs_bid_and_ask_cells() -> None:
    decoded = [f for f in FrameDecoder().feed(BUFFER) if isinstance(f, Quote)]
    pairs = bulk.quotes(BUFFER)
    assert pairs.shape == (len(decoded), 2)
    assert pairs.dtype == bulk.QUOTE_CELL_DTYPE
    for (bid, ask), quote in zip(pairs, decoded, strict=True):
        assert (bid["part"], ask["part"]) == (0, 1)
        assert bid["symbol_id"] == ask["symbol_id"] == quote.symbol_id
        assert bid["seq"] == quote.seq
        assert ask["seq"] == (quote.seq + 1) % (1 << 32)
        assert (bid["ts_exchange_ns"], bid["ts_recv_ns"]) == (quote.ts_exchange_ns, quote.ts_recv_ns)
        assert (bid["price"], bid["qty"], ask["price"], ask["qty"]) == (
            quote.bid_price,
            quote.bid_qty,
            quote.ask_price,
            quote.ask_qty,
        )


def test_book_dtype_reads_book_levels() -> None:
    decoded = [f for f in FrameDecoder().feed(BUFFER) if isinstance(f, BookLevel)]
    view = bulk.cells(BUFFER)
    levels = view[view["type"] == FrameType.BOOK].view(bulk.BOOK_DTYPE)
    assert [
        (int(r["symbol_id"]), int(r["seq"]), int(r["flags"]) & 0x03, int(r["price"]), int(r["qty"])) for r in levels
    ] == [(b.symbol_id, b.seq, b.side, b.price, b.qty) for b in decoded]


def test_vectorized_sequence_check_finds_the_break() -> None:
    """What the relay does: one diff over the seq column of a buffer (uint32 wraps like the wire)."""
    frames = [Heartbeat(1, (0xFFFF_FFFE + i) % (1 << 32), TS) for i in range(4)]
    frames.append(Heartbeat(1, 9, TS))
    steps = np.diff(bulk.cells(b"".join(encode(f) for f in frames))["seq"])
    assert steps.tolist() == [1, 1, 1, 8]  # a step of 8: seq 2..8, seven cells, are missing


def test_empty_buffer_gives_empty_views() -> None:
    assert bulk.cells(b"").shape == (0,)
    assert bulk.trades(b"").shape == (0,)
    assert bulk.quotes(b"").shape == (0, 2)
    assert bulk.trade_ids(bulk.trades(b"")).tolist() == []


@pytest.mark.parametrize(
    "buffer",
    [
        BUFFER[:-1],  # not whole cells
        BUFFER + b"\x01" * 47,
        b"\x02" + BUFFER[1:],  # a foreign version in the first cell
        BUFFER[:-48] + b"\x00" + BUFFER[-47:],  # version 0 in the last cell
    ],
    ids=["short", "long", "version_2", "version_0"],
)
def test_bulk_views_refuse_bad_buffers(buffer: bytes) -> None:
    for view in (bulk.cells, bulk.trades, bulk.quotes):
        with pytest.raises(FrameError):
            view(buffer)


def test_quotes_view_refuses_unpaired_cells() -> None:
    quote = encode(Quote(1, 0, TS, TS, 1, 1, 2, 2))
    with pytest.raises(FrameError):
        bulk.quotes(quote[:CELL_BYTES])  # a bid without its ask
    with pytest.raises(FrameError):
        bulk.quotes(quote[CELL_BYTES:] + quote[:CELL_BYTES])  # ask first


trade_strategy = st.builds(
    Trade,
    st.integers(0, 0xFFFF_FFFF),
    st.integers(0, 0xFFFF_FFFF),
    st.sampled_from(Side),
    st.integers(0, (1 << 40) - 1),
    st.integers(-(1 << 63), (1 << 63) - 1),
    st.integers(-(1 << 63), (1 << 63) - 1),
    st.integers(-(1 << 63), (1 << 63) - 1),
    st.integers(-(1 << 63), (1 << 63) - 1),
    st.booleans(),
    st.booleans(),
)
other_strategy = st.one_of(
    st.builds(Heartbeat, st.integers(0, 0xFFFF_FFFF), st.integers(0, 0xFFFF_FFFF), st.integers(0, TS)),
    st.builds(Quote, *(st.integers(0, 1 << 31) for _ in range(8))),
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=st.lists(st.one_of(trade_strategy, other_strategy), max_size=40))
def test_bulk_trades_equal_decoded_trades_for_any_mix(frames: list[Trade | Heartbeat | Quote]) -> None:
    buffer = b"".join(encode(f) for f in frames)
    records = bulk.trades(buffer)
    expected = [f for f in frames if isinstance(f, Trade)]
    assert bulk.trade_ids(records).tolist() == [t.trade_id for t in expected]
    assert records["price"].tolist() == [t.price for t in expected]
    assert records["qty"].tolist() == [t.qty for t in expected]
    assert records["ts_exchange_ns"].tolist() == [t.ts_exchange_ns for t in expected]
    assert records["seq"].tolist() == [t.seq for t in expected]
    assert len(bulk.quotes(buffer)) == sum(isinstance(f, Quote) for f in frames)
