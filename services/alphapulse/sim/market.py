"""A synthetic market: a random-walk order book per symbol and trades consistent with it (pure, no I/O).

Prices and quantities are integers at the instrument's scale (``price * 10**price_decimals``),
so every value lies on the instrument's tick and lot and renders exactly in any venue format.
The model knows nothing about venues: it emits :class:`TradeEvent` and :class:`LevelEvent`;
the venue modules turn them into wire messages.

How prices move: each step either changes one level near the touch (insert, resize, delete,
sometimes improving the best price inside the spread) or a taker trades against the best level of
the other side, removing part or all of it. Both sides stay non-empty and uncrossed; the mid
wanders like a random walk driven by where liquidity appears and disappears.
"""

import bisect
import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

__all__ = (
    "ASK",
    "BID",
    "BUY",
    "SELL",
    "Book",
    "Instrument",
    "LevelEvent",
    "MarketEvent",
    "MarketModel",
    "SymbolStats",
    "TradeEvent",
    "instrument_for",
)

BID = 0
ASK = 1
BUY = 0  # taker side
SELL = 1

# Start prices and precisions per base asset; Kraken/Coinbase/Binance precisions match the fixtures.
_START_PRICE = {"BTC": Decimal(90000), "ETH": Decimal(3100), "SOL": Decimal(135)}
_KRAKEN_PRICE_DECIMALS = {"BTC": 1, "ETH": 2, "SOL": 2}
_BINANCE_QTY_DECIMALS = {"BTC": 5, "ETH": 4, "SOL": 3}


@dataclass(frozen=True, slots=True)
class Instrument:
    """One tradable pair; ``symbol`` is the normalized ``BASE-QUOTE`` spelling."""

    symbol: str
    price_decimals: int  # tick = 10**-price_decimals
    qty_decimals: int  # lot = 10**-qty_decimals
    start_price: Decimal

    @property
    def base(self) -> str:
        return self.symbol.split("-", 1)[0]

    @property
    def quote(self) -> str:
        return self.symbol.split("-", 1)[1]

    @property
    def start_price_units(self) -> int:
        return int(self.start_price.scaleb(self.price_decimals).to_integral_value())


def instrument_for(venue: str, symbol: str) -> Instrument:
    """The instrument a venue lists for ``symbol`` (precisions as in the fixtures' reference data)."""
    base, sep, quote = symbol.partition("-")
    if not sep or not base or not quote or not (base + quote).isalnum():
        raise ValueError(f"symbol {symbol!r} is not BASE-QUOTE")
    start = _START_PRICE.get(base, Decimal(100))
    if venue == "kraken":
        return Instrument(symbol, _KRAKEN_PRICE_DECIMALS.get(base, 2), 8, start)
    if venue == "coinbase":
        return Instrument(symbol, 2, 8, start)
    if venue == "binance":
        return Instrument(symbol, 2, _BINANCE_QTY_DECIMALS.get(base, 2), start)
    raise ValueError(f"unknown venue {venue!r}")


class TradeEvent(NamedTuple):
    symbol: int  # index into the model's instruments
    side: int  # taker side: BUY or SELL
    price: int
    qty: int
    trade_id: int
    ts_ns: int


class LevelEvent(NamedTuple):
    symbol: int
    side: int  # BID or ASK
    price: int
    qty: int  # new absolute quantity; 0 deletes the level
    ts_ns: int


MarketEvent = TradeEvent | LevelEvent


class Book:
    """Price levels per side: a dict for quantities plus a sorted price list for order."""

    __slots__ = ("ask_px", "asks", "bid_px", "bids")

    def __init__(self) -> None:
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.bid_px: list[int] = []  # ascending; best bid last
        self.ask_px: list[int] = []  # ascending; best ask first

    def set(self, side: int, price: int, qty: int) -> None:
        levels, prices = (self.bids, self.bid_px) if side == BID else (self.asks, self.ask_px)
        if qty:
            if price not in levels:
                bisect.insort(prices, price)
            levels[price] = qty
        elif price in levels:
            del levels[price]
            del prices[bisect.bisect_left(prices, price)]

    def best_bid(self) -> int | None:
        return self.bid_px[-1] if self.bid_px else None

    def best_ask(self) -> int | None:
        return self.ask_px[0] if self.ask_px else None

    def top(self, side: int, n: int) -> list[tuple[int, int]]:
        """The best ``n`` levels of a side, best first."""
        if side == BID:
            bids = self.bids
            return [(p, bids[p]) for p in reversed(self.bid_px[-n:])] if n else []
        asks = self.asks
        return [(p, asks[p]) for p in self.ask_px[:n]]


@dataclass(slots=True)
class SymbolStats:
    """Rolling figures the tickers print (a simulated 24 h window that never rolls)."""

    open: int
    last: int
    low: int
    high: int
    volume: int = 0  # qty units
    notional: int = 0  # price units * qty units
    trades: int = 0


@dataclass(slots=True)
class _SymbolState:
    instrument: Instrument
    book: Book
    stats: SymbolStats
    next_trade_id: int
    typical_qty: int
    extra: dict[str, int] = field(default_factory=dict)


class MarketModel:
    """Deterministic for a given seed: the same seed and step sizes give the same events."""

    def __init__(
        self,
        instruments: list[Instrument],
        *,
        seed: int = 1,
        levels: int = 50,
        trade_ratio: float = 0.3,
    ) -> None:
        if not instruments:
            raise ValueError("a market needs at least one instrument")
        self.instruments = list(instruments)
        self.levels = levels
        self.trade_ratio = trade_ratio
        self._rng = random.Random(seed)
        self._symbols = [self._initial(i, inst) for i, inst in enumerate(self.instruments)]

    def _initial(self, index: int, inst: Instrument) -> _SymbolState:
        rng = self._rng
        mid = inst.start_price_units
        # a position of roughly $20k, in lots
        typical = max(1, int(Decimal(20000) / inst.start_price * 10**inst.qty_decimals))
        book = Book()
        for k in range(self.levels):
            if k == 0 or rng.random() < 0.7:
                book.set(BID, mid - 1 - k, self._qty(typical))
            if k == 0 or rng.random() < 0.7:
                book.set(ASK, mid + 1 + k, self._qty(typical))
        stats = SymbolStats(open=mid, last=mid, low=mid, high=mid, volume=typical * 5000)
        stats.notional = stats.volume * mid
        return _SymbolState(inst, book, stats, next_trade_id=100_000_000 * (index + 1), typical_qty=typical)

    def _qty(self, typical: int) -> int:
        return max(1, int(typical * (0.02 + self._rng.random() * 1.5)))

    def book(self, symbol: int) -> Book:
        return self._symbols[symbol].book

    def stats(self, symbol: int) -> SymbolStats:
        return self._symbols[symbol].stats

    def step(self, n: int, ts_ns: int) -> list[MarketEvent]:
        """Advance the market by ``n`` actions stamped ``ts_ns``; return the resulting events."""
        out: list[MarketEvent] = []
        rng = self._rng
        nsym = len(self._symbols)
        for _ in range(n):
            i = rng.randrange(nsym) if nsym > 1 else 0
            st = self._symbols[i]
            if rng.random() < self.trade_ratio:
                self._trade(i, st, ts_ns, out)
            else:
                self._level(i, st, ts_ns, out)
        return out

    def _trade(self, i: int, st: _SymbolState, ts_ns: int, out: list[MarketEvent]) -> None:
        book, rng = st.book, self._rng
        taker = BUY if rng.random() < 0.5 else SELL
        hit_side = ASK if taker == BUY else BID
        price = book.best_ask() if taker == BUY else book.best_bid()
        if price is None:
            self._level(i, st, ts_ns, out)
            return
        levels = book.asks if hit_side == ASK else book.bids
        avail = levels[price]
        qty = avail if rng.random() < 0.25 else min(avail, self._qty(st.typical_qty) // 4 + 1)
        remaining = avail - qty
        # never empty a side: the last level is only resized
        if remaining == 0 and len(levels) == 1:
            remaining = self._qty(st.typical_qty)
        tid = st.next_trade_id
        st.next_trade_id = tid + 1
        s = st.stats
        s.last = price
        s.low = min(s.low, price)
        s.high = max(s.high, price)
        s.volume += qty
        s.notional += qty * price
        s.trades += 1
        out.append(TradeEvent(i, taker, price, qty, tid, ts_ns))
        book.set(hit_side, price, remaining)
        out.append(LevelEvent(i, hit_side, price, remaining, ts_ns))

    def _level(self, i: int, st: _SymbolState, ts_ns: int, out: list[MarketEvent]) -> None:
        book, rng = st.book, self._rng
        side = BID if rng.random() < 0.5 else ASK
        best_bid = book.best_bid()
        best_ask = book.best_ask()
        assert best_bid is not None and best_ask is not None  # both sides are kept non-empty
        depth = min(int(rng.expovariate(0.15)), self.levels - 1)
        improve = rng.random() < 0.1 and best_ask - best_bid > 1
        if side == BID:
            price = best_bid + 1 if improve else best_bid - depth
            levels = book.bids
        else:
            price = best_ask - 1 if improve else best_ask + depth
            levels = book.asks
        if price <= 0:
            return
        if price in levels and len(levels) > 1 and rng.random() < 0.4:
            qty = 0
        else:
            qty = self._qty(st.typical_qty)
        book.set(side, price, qty)
        out.append(LevelEvent(i, side, price, qty, ts_ns))
        # keep the book bounded: drop the level furthest from the touch
        prices = book.bid_px if side == BID else book.ask_px
        if len(prices) > self.levels * 2:
            far = prices[0] if side == BID else prices[-1]
            book.set(side, far, 0)
            out.append(LevelEvent(i, side, far, 0, ts_ns))
