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
# # Market analysis
# Prices, one-minute candles and returns per market, read with DuckDB straight from the Parquet
# export (set `ALPHAPULSE_NB_DATA` to a real export; a seeded sample is generated otherwise).

# %%
import matplotlib.pyplot as plt
import numpy as np
from _setup import quotes, save, trades

q = quotes()
t = trades()
q.aggregate("market, count(*) AS quotes, min(mid) AS low, max(mid) AS high").df()

# %% [markdown]
# One-minute candles from trades (the same bucketing the database's continuous aggregates use).

# %%
candles = t.query(
    "t",
    """SELECT market, (ts_recv_ns // 60000000000) * 60 AS minute,
              first(price ORDER BY ts_recv_ns) AS open, max(price) AS high, min(price) AS low,
              last(price ORDER BY ts_recv_ns) AS close, sum(qty) AS volume
       FROM t GROUP BY ALL ORDER BY market, minute""",
).df()
candles.head()

# %%
fig, axes = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
for market, c in candles.groupby("market"):
    minutes = (c["minute"] - c["minute"].min()) / 60
    axes[0].plot(minutes, c["close"], label=market)
    axes[1].bar(minutes, c["volume"], alpha=0.5, label=market)
axes[0].set_ylabel("close")
axes[1].set_ylabel("volume")
axes[1].set_xlabel("minutes")
axes[0].legend()
save(fig, "market_candles")

# %% [markdown]
# Returns of the one-minute closes: distribution and annualised volatility.

# %%
fig, ax = plt.subplots(figsize=(8, 4))
vols = {}
for market, c in candles.groupby("market"):
    r = np.diff(np.log(c["close"].to_numpy()))
    vols[market] = float(r.std() * np.sqrt(365 * 24 * 60))
    ax.hist(r * 1e4, bins=40, alpha=0.5, label=market)
ax.set_xlabel("1-minute log return (bps)")
ax.legend()
save(fig, "market_returns")
vols
