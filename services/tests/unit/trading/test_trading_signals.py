"""The strategies' arithmetic and the PnL curve, on numbers alone."""

import numpy as np
import pytest

from alphapulse.trading.backtest.equity import FillRow, equity_curve, max_drawdown
from alphapulse.trading.strategies.signals import Ema, best_cross, spread_bps


def test_ema_warms_up_then_follows() -> None:
    ema = Ema(3)
    assert ema.update(10.0) is None and ema.update(10.0) is None
    assert ema.update(10.0) == 10.0
    assert ema.update(14.0) == pytest.approx(12.0)  # alpha = 2 / (3 + 1)


def test_best_cross_buys_the_lowest_ask_against_the_highest_bid_elsewhere() -> None:
    quotes = {"A": (100.0, 101.0), "B": (103.0, 104.0), "C": (99.0, 100.0)}
    cheap, rich, bps = best_cross(quotes) or ("", "", 0.0)
    assert (cheap, rich) == ("C", "B") and bps == pytest.approx(spread_bps(103.0, 100.0)) == pytest.approx(300.0)
    assert best_cross({"A": (1.0, 2.0)}) is None


def test_equity_marks_positions_and_charges_fees() -> None:
    marks = {"X": (np.array([0, 10, 20], dtype=np.int64), np.array([100.0, 110.0, 90.0]))}
    fills = [FillRow(5, "X", "buy", "100", "2", "1", "USD", "t1", "o1", "taker")]
    ts, pnl = equity_curve(fills, marks, points=3)
    assert list(ts) == [0, 5, 10, 20]
    assert list(pnl) == pytest.approx([0.0, -1.0, 19.0, -21.0])  # bought 2 @ 100 (+1 fee), marked at 100/110/90
    assert max_drawdown(pnl) == pytest.approx(40.0)
