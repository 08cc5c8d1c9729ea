"""What was lost and what was doubled, decided from the trades that landed and the gaps recorded. Pure."""

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ("GapRow", "Hole", "TradeAudit", "TradeRow", "audit_trades", "percentile")

# A gap row explains a hole when it was recorded between the trade before the hole (minus this
# slack: a disconnect can be noticed before the last buffered trade is read) and shortly after
# the trade that ends it (the collector notices a venue skip when the next trade arrives).
GAP_SLACK_BEFORE_NS = 1_000_000_000
GAP_SLACK_AFTER_NS = 2_000_000_000


@dataclass(frozen=True, slots=True)
class TradeRow:
    exchange: str
    instrument_id: int
    trade_id: int
    ts_recv_ns: int


@dataclass(frozen=True, slots=True)
class GapRow:
    exchange: str  # '' = not feed-specific (a consumer's own relay connection)
    reason: str
    detected_ns: int


@dataclass(frozen=True, slots=True)
class Hole:
    exchange: str
    instrument_id: int
    first: int  # first missing trade id
    count: int
    explained_by: str | None  # the gap reason that announced it, None = silent loss


@dataclass(frozen=True, slots=True)
class TradeAudit:
    trades: int
    duplicates: int
    holes: tuple[Hole, ...]

    @property
    def lost_silently(self) -> int:
        """Trades missing with no gap saying so: must be zero."""
        return sum(h.count for h in self.holes if h.explained_by is None)

    @property
    def lost_with_gap(self) -> int:
        """Trades missing where an explicit gap row says data was lost there."""
        return sum(h.count for h in self.holes if h.explained_by is not None)


def audit_trades(
    rows: Iterable[TradeRow], gaps: Sequence[GapRow], expected_last: dict[int, int] | None = None
) -> TradeAudit:
    """``rows`` as stored; venue trade ids are consecutive per instrument (the simulator's are).

    ``expected_last`` (instrument -> last trade id the venue produced) also catches a lost tail.
    """
    by_inst: dict[int, list[TradeRow]] = {}
    total = 0
    for r in rows:
        by_inst.setdefault(r.instrument_id, []).append(r)
        total += 1
    dups = 0
    holes: list[Hole] = []
    for inst, trades in by_inst.items():
        trades.sort(key=lambda r: r.trade_id)
        for prev, cur in itertools.pairwise(trades):
            if cur.trade_id == prev.trade_id:
                dups += 1
            elif cur.trade_id > prev.trade_id + 1:
                why = _explained(prev.exchange, prev.ts_recv_ns, cur.ts_recv_ns, gaps)
                holes.append(Hole(prev.exchange, inst, prev.trade_id + 1, cur.trade_id - prev.trade_id - 1, why))
        last = trades[-1]
        if expected_last is not None and expected_last.get(inst, last.trade_id) > last.trade_id:
            missing = expected_last[inst] - last.trade_id
            why = _explained(last.exchange, last.ts_recv_ns, last.ts_recv_ns + 60 * 10**9, gaps)
            holes.append(Hole(last.exchange, inst, last.trade_id + 1, missing, why))
    return TradeAudit(total, dups, tuple(holes))


def _explained(exchange: str, before_ns: int, after_ns: int, gaps: Sequence[GapRow]) -> str | None:
    lo, hi = before_ns - GAP_SLACK_BEFORE_NS, after_ns + GAP_SLACK_AFTER_NS
    for g in gaps:
        if g.exchange in ("", exchange) and lo <= g.detected_ns <= hi:
            return g.reason
    return None


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return float(ordered[k])
