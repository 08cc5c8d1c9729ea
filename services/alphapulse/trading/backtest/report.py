"""A one-page PNG report of a run: prices with the fills on them, and the PnL curve."""

from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")  # headless: no display in CI or pods
import matplotlib.pyplot as plt
import numpy as np

from alphapulse.trading.backtest.runner import BacktestOutcome

__all__ = ("render_report",)


def render_report(outcome: BacktestOutcome, path: Path, *, title: str = "") -> Path:
    fig, (ax_px, ax_pnl) = plt.subplots(2, 1, figsize=(11, 7), sharex=True, height_ratios=(2, 1))
    t0 = min((int(ts[0]) for ts, _ in outcome.marks.values() if len(ts)), default=0)

    def minutes(ts: np.ndarray) -> np.ndarray:
        return (np.asarray(ts, dtype=np.int64) - t0) / 60e9

    for iid, (ts, mids) in sorted(outcome.marks.items()):
        step = max(1, len(ts) // 4000)  # plot at most ~4k points per line
        ax_px.plot(minutes(ts[::step]), mids[::step], lw=0.8, label=iid)
    for side, marker, color in (("buy", "^", "tab:green"), ("sell", "v", "tab:red")):
        rows = [f for f in outcome.fills if f.side == side]
        if rows:
            ax_px.scatter(minutes(np.array([f.ts_ns for f in rows])), [float(f.price) for f in rows],
                          marker=marker, color=color, s=24, label=f"{side} fills", zorder=3)  # fmt: skip
    ax_px.set_ylabel("mid price")
    ax_px.legend(loc="best", fontsize=8)
    ax_pnl.plot(minutes(outcome.equity_ts), outcome.equity_pnl, color="tab:blue", lw=1)
    ax_pnl.axhline(0, color="grey", lw=0.5)
    ax_pnl.set_ylabel("PnL (quote units, after fees)")
    ax_pnl.set_xlabel("minutes from start")
    s = outcome.stats
    fig.suptitle(
        f"{title or 'backtest'}: PnL {s.get('pnl', 0):.2f}, fees {s.get('fees', 0):.2f}, "
        f"{int(s.get('fills', 0))} fills, max drawdown {s.get('max_drawdown', 0):.2f}"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
