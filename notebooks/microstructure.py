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
# # Market microstructure
# Quoted spreads, cross-venue lead/lag of the mid, and trade-size distributions.

# %%
import matplotlib.pyplot as plt
import numpy as np
from _setup import quotes, save, trades

spreads = (
    quotes()
    .query(
        "q",
        """SELECT market, quantile_cont((ask - bid) / mid * 1e4, [0.5, 0.9, 0.99]) AS spread_bps_p50_p90_p99,
              avg(bid_qty) AS avg_bid_qty, avg(ask_qty) AS avg_ask_qty
       FROM q GROUP BY market ORDER BY market""",
    )
    .df()
)
spreads

# %% [markdown]
# Lead/lag: mids on a common 100 ms grid, correlation of one venue's returns with the other's at
# shifted lags. A peak at a positive lag means the first market leads.

# %%
grid = (
    quotes()
    .query(
        "q",
        """SELECT market, ts_recv_ns // 100000000 AS slot, last(mid ORDER BY ts_recv_ns) AS mid
       FROM q GROUP BY ALL ORDER BY slot""",
    )
    .df()
)
wide = grid.pivot(index="slot", columns="market", values="mid").ffill().dropna()
a, b = wide.columns[:2]
ra, rb = np.diff(np.log(wide[a].to_numpy())), np.diff(np.log(wide[b].to_numpy()))
lags = np.arange(-60, 61)
corr = [np.corrcoef(ra[max(0, -k) : len(ra) - max(0, k)], rb[max(0, k) : len(rb) - max(0, -k)])[0, 1] for k in lags]
best = int(lags[int(np.nanargmax(corr))])
fig, ax = plt.subplots(figsize=(8, 4))
ax.plot(lags / 10, corr)
ax.axvline(best / 10, color="red", lw=0.8)
ax.set_xlabel(f"lag of {b} behind {a} (s)")
ax.set_ylabel("return correlation")
save(fig, "microstructure_leadlag")
print(f"{a} leads {b} by {best / 10:.1f} s" if best > 0 else f"{b} leads {a} by {-best / 10:.1f} s")

# %% [markdown]
# Trade sizes per market and taker side (log scale: sizes are heavy-tailed on real venues).

# %%
sizes = trades().df()
fig, ax = plt.subplots(figsize=(8, 4))
for (market, side), s in sizes.groupby(["market", "side"]):
    ax.hist(np.log10(s["qty"]), bins=30, alpha=0.4, label=f"{market} {side}")
ax.set_xlabel("log10(trade size)")
ax.legend(fontsize=7)
save(fig, "microstructure_trade_sizes")
sizes.groupby(["market", "side"])["qty"].describe()
