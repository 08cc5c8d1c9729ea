# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Portfolio performance
# From the backtest results store (run `backtesting` first, or point `ALPHAPULSE_NB_RESULTS` at a
# DuckDB file): PnL over time, PnL and fees per instrument, turnover.

# %%
import os
from pathlib import Path

import duckdb
import matplotlib.pyplot as plt
import numpy as np
from _setup import FIGURES, save

results = Path(os.environ.get("ALPHAPULSE_NB_RESULTS", FIGURES.parent / "notebook-backtests.duckdb"))
con = duckdb.connect(str(results), read_only=True)
run = con.execute("SELECT run_id, name, pnl, fees FROM backtest_runs ORDER BY created_ns DESC LIMIT 1").df()
run_id = run["run_id"][0]
run

# %%
equity = con.execute("SELECT ts_ns, pnl FROM backtest_equity WHERE run_id = ? ORDER BY ts_ns", [run_id]).df()
fig, ax = plt.subplots(figsize=(9, 4))
ax.plot((equity["ts_ns"] - equity["ts_ns"].min()) / 60e9, equity["pnl"])
ax.set_xlabel("minutes")
ax.set_ylabel("PnL after fees (quote units)")
save(fig, "portfolio_equity")

# %%
per_instrument = con.execute(
    """SELECT instrument_id,
              sum(CASE WHEN side = 'sell' THEN price * qty ELSE -price * qty END)::DOUBLE AS cash_flow,
              sum(CASE WHEN side = 'buy' THEN qty ELSE -qty END)::DOUBLE AS net_qty,
              sum(fee)::DOUBLE AS fees, sum(price * qty)::DOUBLE AS turnover, count(*) AS fills
       FROM backtest_fills WHERE run_id = ? GROUP BY instrument_id ORDER BY instrument_id""",
    [run_id],
).df()
per_instrument

# %%
fig, ax = plt.subplots(figsize=(7, 4))
x = np.arange(len(per_instrument))
ax.bar(x - 0.2, per_instrument["turnover"] / 1e3, width=0.4, label="turnover (k)")
ax.bar(x + 0.2, per_instrument["fees"], width=0.4, label="fees")
ax.set_xticks(x, per_instrument["instrument_id"])
ax.legend()
save(fig, "portfolio_turnover_fees")
con.close()
