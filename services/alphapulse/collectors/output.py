"""The collector's side of the feed socket: frames packed into one buffer, each with the feed's sequence.

The collector owns the feed sequence: every 48-byte cell takes the next number (a 2-cell quote takes
two). Parsers call the typed methods below; the connection flushes the buffer once per batch of
WebSocket reads, so the feed socket sees one write per loop iteration, not one per message.
Counters are plain integers (read by the metrics collector at scrape time, never per message).
"""

from collections.abc import Callable
from dataclasses import replace

from alphapulse.collectors.books import Book
from alphapulse.protocol import (
    COUNT_UNKNOWN,
    Exchange,
    Feed,
    FeedState,
    Gap,
    GapReason,
    Instrument,
    SnapshotBegin,
    SnapshotEnd,
    Status,
    TradeFlag,
    encode,
    pack_book,
    pack_quote,
)
from alphapulse.protocol.errors import FrameError
from alphapulse.protocol.frames import TRADE_ID_MAX
from alphapulse.protocol.wire import CELL, SEQ_MOD, VERSION, FrameType

__all__ = ("FrameWriter",)

_SNAPSHOT = int(TradeFlag.SNAPSHOT)
_TRADE_PACK = CELL[FrameType.TRADE].pack
_VERSION = int(VERSION)
_TRADE = int(FrameType.TRADE)
_BOOK_LAST = int(TradeFlag.BOOK_LAST)
_BOOK_SNAPSHOT = int(TradeFlag.BOOK_SNAPSHOT)


class FrameWriter:
    def __init__(
        self,
        feed_id: int,
        exchange: Exchange,
        name: str,
        epoch_ns: int,
        publish: Callable[[bytes], None] | None = None,
    ) -> None:
        self.feed_id = feed_id
        self.exchange = exchange
        self.name = name
        self.epoch_ns = epoch_ns
        self.seq = 0
        self.buf = bytearray()
        self.publish = publish
        self.first_recv_ns = 0  # receive time of the oldest message in the buffer (socket latency)
        self.last_ts_exchange_ns = 0  # exchange time of the last trade (exchange latency, sampled)
        # counters (metrics): frames by type, gaps by reason
        self.trades = 0
        self.quotes = 0
        self.book_levels = 0
        self.snapshots = 0
        self.gaps: dict[str, int] = {}
        self.statuses = 0
        # state that new readers get first (hello): feed, instruments, latest status
        self.feed_frame = Feed(feed_id, 0, exchange, name, epoch_ns)
        self.instruments: dict[int, Instrument] = {}
        self.status_frame: Status | None = None
        self.state: FeedState | None = None
        self.reconnects = 0

    # -- feed-level frames -------------------------------------------------------------------
    def feed(self) -> None:
        self.feed_frame = replace(self.feed_frame, seq=self.seq)
        self._frame(encode(self.feed_frame), 2)

    def instrument(self, frame: Instrument) -> None:
        """Announce (or re-announce, if its scales changed) an instrument."""
        known = self.instruments.get(frame.symbol_id)
        if known is not None and replace(known, seq=0) == replace(frame, seq=0):
            return
        frame = replace(frame, seq=self.seq)
        self.instruments[frame.symbol_id] = frame
        self._frame(encode(frame), 2)

    def status(self, state: FeedState, ts_ns: int, detail: int = 0) -> None:
        frame = Status(self.feed_id, self.seq, state, ts_ns, self.reconnects, detail)
        self.status_frame = frame
        self.state = state
        self.statuses += 1
        self._frame(encode(frame), 1)

    def gap(
        self,
        reason: GapReason,
        ts_ns: int,
        symbol_id: int = 0,
        first: int = 0,
        count: int = COUNT_UNKNOWN,
    ) -> None:
        self.gaps[reason.name.lower()] = self.gaps.get(reason.name.lower(), 0) + 1
        self._frame(encode(Gap(self.feed_id, self.seq, reason, ts_ns, symbol_id, first, count)), 1)

    def hello(self) -> bytes:
        """What a new reader gets first: state, not history, all marked replay."""
        parts = [encode(replace(self.feed_frame, replay=True))]
        parts += [encode(replace(i, replay=True)) for i in self.instruments.values()]
        if self.status_frame is not None:
            parts.append(encode(replace(self.status_frame, replay=True)))
        return b"".join(parts)

    # -- market data (hot path) --------------------------------------------------------------
    def trade(
        self,
        symbol_id: int,
        side: int,
        trade_id: int,
        ts_exchange_ns: int,
        ts_recv_ns: int,
        price: int,
        qty: int,
        snapshot: bool = False,
    ) -> None:
        buf = self.buf
        if not buf:
            self.first_recv_ns = ts_recv_ns
        if not 0 <= trade_id <= TRADE_ID_MAX:
            raise FrameError(f"trade id {trade_id} does not fit in 40 bits")
        seq = self.seq
        # protocol.pack_trade's layout with plain-int constants: the enum lookups and IntEnum
        # conversions cost more than the pack itself (tests check the bytes are identical)
        buf += _TRADE_PACK(
            _VERSION,
            _TRADE,
            side | (_SNAPSHOT if snapshot else 0),
            trade_id >> 32,
            symbol_id,
            seq % SEQ_MOD,
            trade_id & 0xFFFFFFFF,
            ts_exchange_ns,
            ts_recv_ns,
            price,
            qty,
        )
        self.seq = seq + 1
        self.trades += 1
        self.last_ts_exchange_ns = ts_exchange_ns

    def quote(
        self,
        symbol_id: int,
        ts_exchange_ns: int,
        ts_recv_ns: int,
        bid_price: int,
        bid_qty: int,
        ask_price: int,
        ask_qty: int,
    ) -> None:
        if not self.buf:
            self.first_recv_ns = ts_recv_ns
        self.buf += pack_quote(symbol_id, self.seq, ts_exchange_ns, ts_recv_ns, bid_price, bid_qty, ask_price, ask_qty)
        self.seq += 2
        self.quotes += 1

    def book_changes(
        self,
        symbol_id: int,
        changes: list[tuple[int, int, int]],
        ts_exchange_ns: int,
        ts_recv_ns: int,
    ) -> None:
        """One venue message's level changes (side, price, qty); the last carries BOOK_LAST."""
        if not changes:
            return
        if not self.buf:
            self.first_recv_ns = ts_recv_ns
        buf, seq, last = self.buf, self.seq, len(changes) - 1
        for i, (side, price, qty) in enumerate(changes):
            buf += pack_book(
                symbol_id, seq + i, side, ts_exchange_ns, ts_recv_ns, price, qty, _BOOK_LAST if i == last else 0
            )
        self.seq = seq + len(changes)
        self.book_levels += len(changes)

    def book_snapshot(self, book: Book, ts_exchange_ns: int, ts_recv_ns: int, request_id: int = 0) -> None:
        """SnapshotBegin, every level (bids then asks, best first), SnapshotEnd."""
        if not self.buf:
            self.first_recv_ns = ts_recv_ns
        sid, n = book.symbol_id, book.level_count()
        self.buf += encode(SnapshotBegin(sid, self.seq, n, ts_exchange_ns, ts_recv_ns, request_id))
        seq = self.seq + 1
        buf = self.buf
        flags = _BOOK_SNAPSHOT
        for i, (side, price, qty) in enumerate(book.levels()):
            buf += pack_book(
                sid, seq, side, ts_exchange_ns, ts_recv_ns, price, qty, flags | (_BOOK_LAST if i == n - 1 else 0)
            )
            seq += 1
        buf += encode(SnapshotEnd(sid, seq, n, ts_exchange_ns, ts_recv_ns, request_id))
        self.seq = seq + 1
        self.snapshots += 1
        self.book_levels += n

    # -- plumbing ------------------------------------------------------------------------------
    def _frame(self, data: bytes, cells: int) -> None:
        self.buf += data
        self.seq += cells

    def flush(self) -> int:
        """Hand the buffered frames to the feed socket; returns the bytes published."""
        n = len(self.buf)
        if n and self.publish is not None:
            self.publish(bytes(self.buf))
        self.buf.clear()
        return n
