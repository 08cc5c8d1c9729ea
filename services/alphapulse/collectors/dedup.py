"""Trades are never emitted twice: per symbol, a high-water trade id plus the holes below it.

Venue trade ids grow per symbol (Kraken ``trade_id``, Coinbase ``trade_id``, Binance ``t``), so
"already emitted" is "at or below the highest id emitted, and not one of the ids skipped on the
way up". Skipped ids are kept as a few ranges (bounded: the oldest are forgotten), so a trade that
arrives late (Coinbase lists a message's trades newest first) is still emitted once, while a
reconnect's or a snapshot's replay of old trades is dropped. Memory is O(symbols × max_holes).
"""

from dataclasses import dataclass, field

__all__ = ("TradeDedup",)


@dataclass(slots=True)
class _SymbolIds:
    high: int
    holes: list[list[int]] = field(default_factory=list)  # [first, last] ranges of ids skipped


class TradeDedup:
    def __init__(self, max_holes: int = 64, max_hole_span: int = 1_000_000) -> None:
        self._by_symbol: dict[int, _SymbolIds] = {}
        self._max_holes = max_holes
        self._max_hole_span = max_hole_span  # a jump wider than this is a venue reset, not holes to wait for

    def admit(self, symbol_id: int, trade_id: int) -> int:
        """:meth:`accept` and the jump in one call (the hot path): -1 if the trade was seen already, else how
        many ids it skips above the previous high (0: the next one, the first, or a late one filling a hole)."""
        state = self._by_symbol.get(symbol_id)
        if state is not None:
            high = state.high
            if trade_id == high + 1:  # the common case: the next trade
                state.high = trade_id
                return 0
            if trade_id > high:
                self.accept(symbol_id, trade_id)
                return trade_id - high - 1
        return 0 if self.accept(symbol_id, trade_id) else -1

    def accept(self, symbol_id: int, trade_id: int) -> bool:
        """True exactly once per (symbol, trade id): the first time it is seen."""
        state = self._by_symbol.get(symbol_id)
        if state is None:
            self._by_symbol[symbol_id] = _SymbolIds(trade_id)
            return True
        high = state.high
        if trade_id > high:
            if trade_id > high + 1 and trade_id - high - 1 <= self._max_hole_span:
                holes = state.holes
                holes.append([high + 1, trade_id - 1])
                if len(holes) > self._max_holes:
                    del holes[0]
            state.high = trade_id
            return True
        holes = state.holes
        if not holes:
            return False
        for i, hole in enumerate(holes):
            first, last = hole
            if first <= trade_id <= last:
                if first == last:
                    del holes[i]
                elif trade_id == first:
                    hole[0] = first + 1
                elif trade_id == last:
                    hole[1] = last - 1
                else:
                    hole[1] = trade_id - 1
                    holes.insert(i + 1, [trade_id + 1, last])
                    if len(holes) > self._max_holes:
                        del holes[0]
                return True
        return False

    def accept_batch(self, symbol_id: int, trade_ids: list[int]) -> set[int]:
        """The ids of one venue message to emit; decided in ascending order, whatever the wire order."""
        return {tid for tid in sorted(trade_ids) if self.accept(symbol_id, tid)}
