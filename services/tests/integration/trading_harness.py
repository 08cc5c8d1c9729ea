"""A fake collector that also answers snapshot requests and publishes quotes and book levels, a running
relay, and a TradingNode around the relay data client with a recording strategy."""

import time
from pathlib import Path

from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import OrderBookDeltas, QuoteTick, TradeTick
from nautilus_trader.model.enums import BookType
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.trading.config import StrategyConfig
from nautilus_trader.trading.strategy import Strategy
from relay_harness import Producer

from alphapulse.protocol import (
    BookLevel,
    Control,
    ControlOp,
    Exchange,
    Side,
    SnapshotBegin,
    SnapshotEnd,
    encode,
    pack_book,
    pack_quote,
)


class BookProducer(Producer):
    """Keeps a book per symbol and answers every SNAPSHOT control with SnapshotBegin, levels, SnapshotEnd."""

    def __init__(self, sock_dir: Path, name: str, exchange: Exchange, symbols: list[str], epoch_ns: int = 0) -> None:
        super().__init__(sock_dir, name, exchange, symbols, epoch_ns)
        self.books: dict[int, dict[tuple[Side, int], int]] = {
            sid: {(Side.BUY, 9_000_000): 100_000_000, (Side.SELL, 9_000_100): 200_000_000} for sid in self.sids
        }
        self.snapshots_sent = 0
        self.server.on_control = self.on_control

    def on_control(self, control: Control) -> None:
        self.controls.append(control)
        if control.op == ControlOp.SNAPSHOT:
            for sid in [control.symbol_id] if control.symbol_id else self.sids:
                if sid in self.books:
                    self.server.publish(self.snapshot(sid))

    def snapshot(self, sid: int) -> bytes:
        now = time.time_ns()
        book = self.books[sid]
        out = [encode(SnapshotBegin(sid, self.seq, len(book), now, now))]
        self.seq += 1
        for (side, px), qty in sorted(book.items()):
            out.append(encode(BookLevel(sid, self.seq, side, now, now, px, qty, snapshot=True)))
            self.seq += 1
        out.append(encode(SnapshotEnd(sid, self.seq, len(book), now, now)))
        self.seq += 1
        self.snapshots_sent += 1
        return b"".join(out)

    def quote(self, symbol_index: int, bid: int, ask: int, ts_ns: int | None = None) -> bytes:
        sid = self.sids[symbol_index]
        now = ts_ns if ts_ns is not None else time.time_ns()
        data = pack_quote(sid, self.seq, now, now, bid, 100_000_000, ask, 50_000_000)
        self.seq += 2
        return data

    def level(self, symbol_index: int, side: Side, px: int, qty: int, last: bool = True) -> bytes:
        sid = self.sids[symbol_index]
        if qty:
            self.books[sid][(side, px)] = qty
        else:
            self.books[sid].pop((side, px), None)
        now = time.time_ns()
        data = pack_book(sid, self.seq, side, now, now, px, qty, 0x08 if last else 0)
        self.seq += 1
        return data


class RecordingConfig(StrategyConfig, frozen=True):
    instrument_ids: tuple[str, ...] = ()
    book: bool = True


class RecordingStrategy(Strategy):
    """Subscribes to trades, quotes and books of its instruments and keeps everything it receives."""

    def __init__(self, config: RecordingConfig) -> None:
        super().__init__(config)
        self.ids = [InstrumentId.from_str(s) for s in config.instrument_ids]
        self.trades: list[TradeTick] = []
        self.quotes: list[QuoteTick] = []
        self.deltas: list[OrderBookDeltas] = []
        self.book_updates = 0

    def on_start(self) -> None:
        for iid in self.ids:
            self.subscribe_trade_ticks(iid)
            self.subscribe_quote_ticks(iid)
            if self.config.book:
                self.subscribe_order_book_deltas(iid, BookType.L2_MBP)

    def on_trade_tick(self, tick: TradeTick) -> None:
        self.trades.append(tick)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        self.quotes.append(tick)

    def on_order_book_deltas(self, deltas: OrderBookDeltas) -> None:
        self.deltas.append(deltas)

    def book(self, iid: str) -> OrderBook | None:
        return self.cache.order_book(InstrumentId.from_str(iid))
