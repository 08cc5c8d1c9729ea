"""Wire constants: the cell size, frame types, codes and the byte layouts (``struct`` formats).

Every frame is one or more 48-byte *cells*; every cell starts with the same 12-byte header::

    offset  size  field
    0       u8    version (1)
    1       u8    frame type (FrameType)
    2       u8    flags (type-specific; bit 7 = REPLAY on every type)
    3       u8    part: index of this cell within a multi-cell frame (trades: trade-id bits 32..39)
    4       u32   key: symbol id for market data and instruments, feed id for feed-level frames
    8       u32   seq: the feed's sequence number, one per cell, wrapping at 2**32

Because every cell is 48 bytes and carries the key and sequence at fixed offsets, the relay checks
sequences and filters by symbol on whole buffers with NumPy, never per frame in Python.
All integers little-endian.
"""

import struct
from enum import IntEnum, IntFlag

__all__ = (
    "CELL",
    "CELLS",
    "CELL_BYTES",
    "COUNT_UNKNOWN",
    "FLAG_REPLAY",
    "HEADER",
    "SEQ_MOD",
    "VERSION",
    "ControlOp",
    "Exchange",
    "FeedState",
    "FrameType",
    "GapReason",
    "Side",
    "TradeFlag",
)

VERSION = 1
CELL_BYTES = 48
SEQ_MOD = 1 << 32
COUNT_UNKNOWN = (1 << 64) - 1
FLAG_REPLAY = 0x80


class FrameType(IntEnum):
    TRADE = 1
    QUOTE = 2
    BOOK = 3
    SNAPSHOT_BEGIN = 4
    SNAPSHOT_END = 5
    INSTRUMENT = 6
    FEED = 7
    STATUS = 8
    GAP = 9
    HEARTBEAT = 10
    CONTROL = 11


# cells per frame type; every other type is one cell
CELLS: dict[int, int] = {FrameType.QUOTE: 2, FrameType.INSTRUMENT: 2, FrameType.FEED: 2}


class Exchange(IntEnum):
    KRAKEN = 1
    COINBASE = 2
    BINANCE = 3


class Side(IntEnum):
    """Trades: the taker's side. Book levels: which side of the book."""

    UNKNOWN = 0
    BUY = 1  # book: bid
    SELL = 2  # book: ask


class TradeFlag(IntFlag):
    SNAPSHOT = 0x04  # historical trade from a venue snapshot, not a live print
    BOOK_LAST = 0x08  # book level: last level of one venue message (apply the batch atomically)
    BOOK_SNAPSHOT = 0x10  # book level: part of a snapshot (between SNAPSHOT_BEGIN and SNAPSHOT_END)


class GapReason(IntEnum):
    EXCHANGE = 1  # the venue's own sequence skipped (Coinbase sequence_num, Binance U/u, Kraken trade id)
    RECONNECT = 2  # the venue connection dropped; whatever it sent meanwhile is lost
    CHECKSUM = 3  # the book checksum failed; the book is being rebuilt
    SLOW_CONSUMER = 4  # the relay dropped frames for this consumer: its queue was full
    FEED_LOST = 5  # the relay lost its connection to the feed socket (collector restart)
    SPOOL_OVERFLOW = 6  # the database writer's spool overflowed
    SEQUENCE = 7  # the relay saw the feed's own sequence skip


class FeedState(IntEnum):
    CONNECTING = 1
    CONNECTED = 2
    SUBSCRIBED = 3
    DISCONNECTED = 4
    RESYNCING = 5
    STALE = 6


class ControlOp(IntEnum):
    SUBSCRIBE = 1  # add (symbol or all) x (type mask) x (exchange mask) to the consumer's filter
    UNSUBSCRIBE = 2
    SNAPSHOT = 3  # ask the feed(s) for a fresh book snapshot of a symbol (0 = every symbol)
    RESET = 4  # clear the filter: receive nothing but feed-level frames until the next SUBSCRIBE
    RESUME = 5  # upstream: send me feed ``symbol_id``'s cells of session ``epoch_ns`` from ``from_seq`` on
    REPLAY = 6  # downstream answer: ``count`` replayed cells of that feed, from ``from_seq``, follow at once
    REPLAY_END = 7  # downstream answer ends: the feed's next live seq is ``from_seq`` (its session: ``epoch_ns``)


HEADER = struct.Struct("<BBBBII")
# One Struct per cell layout. Names: px/qty are scaled int64, ts are int64 ns since the epoch.
CELL: dict[int, struct.Struct] = {
    # trade: trade_id_lo u32, ts_exchange, ts_recv, price, qty   (trade_id_hi in the part byte)
    FrameType.TRADE: struct.Struct("<BBBBIIIqqqq"),
    # quote cell (bid = part 0, ask = part 1): reserved u32, ts_exchange, ts_recv, price, qty
    FrameType.QUOTE: struct.Struct("<BBBBIIIqqqq"),
    # book level: reserved u32, ts_exchange, ts_recv, price, qty (qty 0 deletes the level)
    FrameType.BOOK: struct.Struct("<BBBBIIIqqqq"),
    # snapshot begin/end: level count u32, ts_exchange, ts_recv, request id u64, reserved
    FrameType.SNAPSHOT_BEGIN: struct.Struct("<BBBBIIIqqQq"),
    FrameType.SNAPSHOT_END: struct.Struct("<BBBBIIIqqQq"),
    # status: reconnects u32, ts_ns, detail i64 (state-specific), reserved x2
    FrameType.STATUS: struct.Struct("<BBBBIIIqqqq"),
    # gap: symbol id u32 (0 = whole feed), first u64, count u64, ts_ns, reserved
    FrameType.GAP: struct.Struct("<BBBBIIIQQqq"),
    # heartbeat: reserved u32, ts_ns, reserved x3
    FrameType.HEARTBEAT: struct.Struct("<BBBBIIIqqqq"),
    # control: type mask u32, exchange mask u32, request id u32, from seq u32, ts_ns, epoch ns, count u32
    FrameType.CONTROL: struct.Struct("<BBBBIIIIIIqqI"),
}
# instrument cell 0: exchange u8, price scale u8, qty scale u8, symbol length u8, symbol 32 bytes
INSTRUMENT_0 = struct.Struct("<BBBBIIBBBB32s")
# instrument cell 1: native symbol length u8, 3 pad, price increment, qty increment, native 16 bytes
INSTRUMENT_1 = struct.Struct("<BBBBIIB3xqq16s")
# feed cell 0: exchange u8, name length u8, 2 pad, epoch ns, name bytes 0..24
FEED_0 = struct.Struct("<BBBBIIBB2xq24s")
# feed cell 1: name bytes 24..60
FEED_1 = struct.Struct("<BBBBII36s")

SYMBOL_MAX_BYTES = 32
NATIVE_SYMBOL_MAX_BYTES = 16
FEED_NAME_MAX_BYTES = 60

for _s in (*CELL.values(), INSTRUMENT_0, INSTRUMENT_1, FEED_0, FEED_1):
    assert _s.size == CELL_BYTES, _s.format
