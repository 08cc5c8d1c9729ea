"""A synthetic market: a random-walk order book per symbol and trades consistent with it (pure, no I/O).

Prices and quantities are integers at the instrument's scale (``price * 10**price_decimals``),
so every value lies on the instrument's tick and lot and renders exactly in any venue format.
The model knows nothing about venues: it emits flat event tuples (see :data:`MarketEvent`);
the venue modules turn them into wire messages.

How prices move: each step either changes one level near the touch (insert, resize, delete,
sometimes improving the best price inside the spread) or a taker trades against the best level of
the other side, removing part or all of it. Both sides stay non-empty and uncrossed; the mid
wanders like a random walk driven by where liquidity appears and disappears.
"""

import bisect
import math
import random
from dataclasses import dataclass, field
from decimal import Decimal

__all__ = (
    "ASK",
    "BID",
    "BUY",
    "LEVEL",
    "SELL",
    "TRADE",
    "Book",
    "Instrument",
    "MarketEvent",
    "MarketModel",
    "SymbolStats",
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
# distance from the touch of a book change: mostly near the top, a geometric-like tail
_DEPTHS = tuple(min(int(-math.log(1.0 - (k + 0.5) / 256) / 0.15), 49) for k in range(256))


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


TRADE = 0
LEVEL = 1

# One flat tuple per event, unpacked as ``kind, symbol, side, price, qty, trade_id, ts_ns``:
#   TRADE: side = taker side (BUY/SELL), trade_id = the trade's id
#   LEVEL: side = BID/ASK, qty = the level's new absolute quantity (0 deletes it), trade_id = 0
# Plain tuples, not classes: the generator makes ~10^5 of them per second.
MarketEvent = tuple[int, int, int, int, int, int, int]


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
        self._depths = tuple(min(d, levels - 1) for d in _DEPTHS)
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
        """Advance the market by ``n`` actions stamped ``ts_ns``; return the resulting events.

        Written flat (locals, no helper calls per action) because it is the generator's inner loop.
        """
        out: list[MarketEvent] = []
        append = out.append
        rnd = self._rng.random
        symbols = self._symbols
        nsym = len(symbols)
        trade_ratio = self.trade_ratio
        max_levels = self.levels * 2
        depths = self._depths
        nd = len(depths)
        for _ in range(n):
            i = int(rnd() * nsym)
            st = symbols[i]
            book = st.book
            bid_px, ask_px = book.bid_px, book.ask_px
            typical = st.typical_qty
            if rnd() < trade_ratio:
                if rnd() < 0.5:  # taker buys: lifts the best ask
                    taker, side, levels, prices, price = BUY, ASK, book.asks, ask_px, ask_px[0]
                else:
                    taker, side, levels, prices, price = SELL, BID, book.bids, bid_px, bid_px[-1]
                avail = levels[price]
                r = rnd()
                qty = avail if r < 0.25 else min(avail, int(typical * (0.005 + r * 0.4)) + 1)
                remaining = avail - qty
                if remaining == 0 and len(prices) == 1:
                    remaining = int(typical * (0.02 + r)) + 1  # never empty a side
                tid = st.next_trade_id
                st.next_trade_id = tid + 1
                s = st.stats
                s.last = price
                if price < s.low:
                    s.low = price
                elif price > s.high:
                    s.high = price
                s.volume += qty
                s.notional += qty * price
                append((TRADE, i, taker, price, qty, tid, ts_ns))
                if remaining:
                    levels[price] = remaining
                else:
                    del levels[price]
                    if side == ASK:
                        del ask_px[0]
                    else:
                        del bid_px[-1]
                append((LEVEL, i, side, price, remaining, 0, ts_ns))
                continue
            r = rnd()
            depth = depths[int(rnd() * nd)]
            # a wide spread fills in quickly: improving the touch is likelier the wider it is
            spread = ask_px[0] - bid_px[-1]
            improve = spread > 1 and rnd() * (spread + 2) > 2
            if r < 0.5:
                side, levels, prices = BID, book.bids, bid_px
                best = bid_px[-1]
                price = best + 1 if improve else best - depth
            else:
                side, levels, prices = ASK, book.asks, ask_px
                best = ask_px[0]
                price = best - 1 if improve else best + depth
            if price <= 0:
                continue
            if price in levels:
                if len(prices) > 1 and rnd() < 0.3:
                    del levels[price]
                    del prices[bisect.bisect_left(prices, price)]
                    append((LEVEL, i, side, price, 0, 0, ts_ns))
                    continue
            else:
                bisect.insort(prices, price)
            qty = int(typical * (0.02 + rnd() * 1.5)) + 1
            levels[price] = qty
            append((LEVEL, i, side, price, qty, 0, ts_ns))
            if len(prices) > max_levels:  # keep the book bounded: drop the level furthest out
                far = prices.pop(0) if side == BID else prices.pop()
                del levels[far]
                append((LEVEL, i, side, far, 0, 0, ts_ns))
        return out
