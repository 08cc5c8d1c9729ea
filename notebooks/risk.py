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
# # Risk
# Drawdowns of each market's mid and historical Value at Risk / Expected Shortfall of one-minute
# returns, for a position of one unit of the base asset.

# %%
import matplotlib.pyplot as plt
import numpy as np
from _setup import quotes, save

minute = (
    quotes()
    .query(
        "q",
        """SELECT market, ts_recv_ns // 60000000000 AS minute, last(mid ORDER BY ts_recv_ns) AS mid
       FROM q GROUP BY ALL ORDER BY market, minute""",
    )
    .df()
)

# %%
fig, ax = plt.subplots(figsize=(9, 4))
report = {}
for market, m in minute.groupby("market"):
    px = m["mid"].to_numpy()
    peak = np.maximum.accumulate(px)
    dd = (px - peak) / peak * 100
    ax.plot(np.arange(len(dd)), dd, label=market)
    r = np.diff(np.log(px))
    var95 = -np.quantile(r, 0.05)
    es95 = -r[r <= np.quantile(r, 0.05)].mean()
    report[market] = {
        "max_drawdown_pct": float(-dd.min()),
        "VaR95_1m_pct": float(var95 * 100),
        "ES95_1m_pct": float(es95 * 100),
        "VaR95_1m_quote_per_unit": float(var95 * px[-1]),
    }
ax.set_ylabel("drawdown (%)")
ax.set_xlabel("minutes")
ax.legend()
save(fig, "risk_drawdowns")
report
