"""Mark-to-market PnL of a run, from its fills and the quotes it saw (pure; no NautilusTrader).

Quote currencies are summed as if equal (USD and USDT, the same bet the spread strategy makes); the
curve is PnL relative to the start, in quote units.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ("FillRow", "equity_curve", "max_drawdown")


@dataclass(frozen=True, slots=True)
class FillRow:
    ts_ns: int
    instrument_id: str
    side: str  # buy | sell
    price: str  # exact decimal strings, as NautilusTrader printed them
    qty: str
    fee: str  # in the quote currency
    fee_currency: str
    trade_id: str
    order_id: str
    liquidity: str


def equity_curve(
    fills: list[FillRow],
    marks: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]],
    points: int = 500,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """PnL at ``points`` evenly spaced times plus every fill time; ``marks`` maps an instrument to (ts, mid)."""
    if not marks:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    t0 = min(int(ts[0]) for ts, _ in marks.values() if len(ts))
    t1 = max(int(ts[-1]) for ts, _ in marks.values() if len(ts))
    grid = np.unique(np.concatenate([np.linspace(t0, t1, points).astype(np.int64),
                                     np.array([f.ts_ns for f in fills], dtype=np.int64)]))  # fmt: skip
    pnl = np.zeros(len(grid))
    by_inst: dict[str, list[FillRow]] = {}
    for f in fills:
        by_inst.setdefault(f.instrument_id, []).append(f)
    for iid, rows in by_inst.items():
        ts_fill = np.array([f.ts_ns for f in rows], dtype=np.int64)
        signed = np.array([(1 if f.side == "buy" else -1) * float(f.qty) for f in rows])
        cash = np.array([-s * float(f.price) - float(f.fee) for s, f in zip(signed, rows, strict=True)])
        # state after every fill at or before each grid time
        k = np.searchsorted(ts_fill, grid, side="right")
        pos = np.concatenate([[0.0], np.cumsum(signed)])[k]
        cash_t = np.concatenate([[0.0], np.cumsum(cash)])[k]
        mts, mids = marks.get(iid, (np.zeros(0, dtype=np.int64), np.zeros(0)))
        if len(mts):
            j = np.clip(np.searchsorted(mts, grid, side="right") - 1, 0, len(mts) - 1)
            mark = mids[j]
        else:
            mark = np.zeros(len(grid))
        pnl += cash_t + pos * mark
    return grid, pnl


def max_drawdown(pnl: npt.NDArray[np.float64]) -> float:
    """The largest fall from a running peak (a positive number, in the curve's units)."""
    if len(pnl) == 0:
        return 0.0
    peak = np.maximum.accumulate(np.maximum(pnl, 0.0))
    return float((peak - pnl).max())
