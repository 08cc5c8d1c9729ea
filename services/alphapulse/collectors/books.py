"""Order books kept per symbol, so the collector can verify checksums and answer snapshot requests.

A side is a dict price -> quantity (scaled int64) plus a sorted list of its prices (bids stored
negated so both lists ascend from the best level): O(1) lookups, ``bisect`` for order, and the top
N levels without sorting. Every side is capped (``max_levels``): a hostile or broken venue cannot
grow memory without bound; the levels farthest from the touch go first.
"""

from bisect import bisect_left, insort
from collections.abc import Iterator

from alphapulse.protocol import Side

__all__ = ("Book", "BookSide", "BookStore")

DEFAULT_MAX_LEVELS = 5000


class BookSide:
    __slots__ = ("_sign", "keys", "levels")

    def __init__(self, side: Side) -> None:
        self.levels: dict[int, int] = {}
        # ascending from the best level: asks by price, bids by -price (read it, never change it outside)
        self.keys: list[int] = []
        self._sign = -1 if side is Side.BUY else 1

    def set(self, price: int, qty: int) -> bool:
        """Set the absolute quantity at ``price`` (0 deletes); True if the book changed."""
        levels = self.levels
        key = price * self._sign
        if qty == 0:
            if levels.pop(price, None) is None:
                return False
            keys = self.keys
            del keys[bisect_left(keys, key)]
            return True
        if price not in levels:
            insort(self.keys, key)
        levels[price] = qty
        return True

    def best(self) -> int | None:
        return self.keys[0] * self._sign if self.keys else None

    def top(self, n: int) -> list[tuple[int, int]]:
        sign, levels = self._sign, self.levels
        return [(k * sign, levels[k * sign]) for k in self.keys[:n]]

    def truncate(self, depth: int) -> list[int]:
        """Drop levels beyond ``depth``; return their prices (worst last)."""
        keys = self.keys
        if len(keys) <= depth:
            return []
        sign, levels = self._sign, self.levels
        dropped = [k * sign for k in keys[depth:]]
        del keys[depth:]
        for p in dropped:
            del levels[p]
        return dropped

    def clear(self) -> None:
        self.levels.clear()
        self.keys.clear()

    def __len__(self) -> int:
        return len(self.keys)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        sign, levels = self._sign, self.levels
        for k in self.keys:
            yield k * sign, levels[k * sign]


class Book:
    """One instrument's book. ``synced`` is False while it is being (re)built: not served, not trusted."""

    __slots__ = ("asks", "bids", "max_levels", "symbol_id", "synced", "ts_exchange_ns")

    def __init__(self, symbol_id: int, max_levels: int = DEFAULT_MAX_LEVELS) -> None:
        self.symbol_id = symbol_id
        self.bids = BookSide(Side.BUY)
        self.asks = BookSide(Side.SELL)
        self.synced = False
        self.ts_exchange_ns = 0
        self.max_levels = max_levels

    def side(self, side: Side) -> BookSide:
        return self.bids if side is Side.BUY else self.asks

    def crossed(self) -> bool:
        bid, ask = self.bids.best(), self.asks.best()
        return bid is not None and ask is not None and bid >= ask

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()
        self.synced = False

    def enforce_cap(self) -> list[tuple[Side, int]]:
        """Apply ``max_levels`` per side; the dropped (side, price) pairs, to publish as deletes."""
        dropped: list[tuple[Side, int]] = []
        if len(self.bids) > self.max_levels:
            dropped += [(Side.BUY, p) for p in self.bids.truncate(self.max_levels)]
        if len(self.asks) > self.max_levels:
            dropped += [(Side.SELL, p) for p in self.asks.truncate(self.max_levels)]
        return dropped

    def levels(self) -> Iterator[tuple[Side, int, int]]:
        """Bids best first, then asks best first."""
        for p, q in self.bids:
            yield Side.BUY, p, q
        for p, q in self.asks:
            yield Side.SELL, p, q

    def level_count(self) -> int:
        return len(self.bids) + len(self.asks)


class BookStore:
    def __init__(self, max_levels: int = DEFAULT_MAX_LEVELS) -> None:
        self._books: dict[int, Book] = {}
        self._max_levels = max_levels

    def get(self, symbol_id: int) -> Book:
        book = self._books.get(symbol_id)
        if book is None:
            book = self._books[symbol_id] = Book(symbol_id, self._max_levels)
        return book

    def find(self, symbol_id: int) -> Book | None:
        return self._books.get(symbol_id)

    def __iter__(self) -> Iterator[Book]:
        return iter(self._books.values())
