"""What the bridge remembers per symbol so a page never starts empty: the latest quote, a ring of
recent trades, and the order book (kept whole, shown as its top levels)."""

import heapq
from collections import deque
from typing import TYPE_CHECKING

from alphapulse.bridge.render import InstrumentInfo

if TYPE_CHECKING:
    from alphapulse.bridge.clients import Client

__all__ = ("Book", "SymbolState")

BID, ASK = 1, 2  # alphapulse.protocol.Side.BUY / SELL, as book sides


class Book:
    """Price → quantity per side. ``valid`` only between a complete snapshot and the next gap."""

    __slots__ = ("asks", "bids", "changed", "in_snapshot", "seq", "settled", "ts_exchange_ns", "ts_recv_ns", "valid")

    def __init__(self) -> None:
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.valid = False
        self.in_snapshot = False
        self.changed = False
        self.settled = True  # the last level applied closed its venue message (BOOK_LAST)
        self.seq = 0
        self.ts_exchange_ns = 0
        self.ts_recv_ns = 0

    def begin_snapshot(self) -> None:
        self.bids.clear()
        self.asks.clear()
        self.valid = False
        self.in_snapshot = True

    def end_snapshot(self, seq: int, ts_exchange_ns: int, ts_recv_ns: int) -> None:
        self.in_snapshot = False
        self.valid = True
        self.changed = True
        self.settled = True
        self.seq, self.ts_exchange_ns, self.ts_recv_ns = seq, ts_exchange_ns, ts_recv_ns

    def apply(
        self, side: int, price: int, qty: int, seq: int, ts_exchange_ns: int, ts_recv_ns: int, last: bool
    ) -> None:
        levels = self.bids if side == BID else self.asks
        if qty:
            levels[price] = qty
        else:
            levels.pop(price, None)
        self.changed = True
        self.settled = last
        self.seq, self.ts_exchange_ns, self.ts_recv_ns = seq, ts_exchange_ns, ts_recv_ns

    def invalidate(self) -> None:
        self.valid = False

    def ready(self) -> bool:
        """A consistent book with news to show: after a snapshot, at the end of a venue message."""
        return self.valid and self.changed and self.settled and not self.in_snapshot

    def top(self, depth: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        bids, asks = self.bids, self.asks
        best_bids = heapq.nlargest(depth, bids)
        best_asks = heapq.nsmallest(depth, asks)
        return [(p, bids[p]) for p in best_bids], [(p, asks[p]) for p in best_asks]


class SymbolState:
    """One symbol: its instrument (once announced), state for new subscribers, and who listens."""

    __slots__ = ("book", "book_event", "exchange", "info", "quote", "routes", "symbol", "trades")

    def __init__(self, exchange: str, symbol: str, trade_ring: int) -> None:
        self.exchange = exchange
        self.symbol = symbol
        self.info: InstrumentInfo | None = None
        self.quote: bytes | None = None
        self.trades: deque[bytes] = deque(maxlen=trade_ring)
        self.book = Book()
        self.book_event: bytes | None = None  # the rendered top of book, None when stale
        # subscribers per channel: trades, quotes, book (index = channel number)
        self.routes: tuple[set[Client], set[Client], set[Client]] = (set(), set(), set())
