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
# # Signal analysis
# Does the EMA-reversion signal (mid minus its EMA, in bps) predict the next moves? The information
# coefficient (rank correlation of the signal with forward returns) by horizon, and the forward
# return after strong signals. Uses the same `Ema` the strategy trades with.

# %%
import matplotlib.pyplot as plt
import numpy as np
from _setup import quotes, save

from alphapulse.trading.strategies.signals import Ema

q = quotes().filter("exchange = 'binance'").order("ts_recv_ns").df()
mid = q["mid"].to_numpy()
ema = Ema(50)
signal = np.array([np.nan if (e := ema.update(m)) is None else (m - e) / e * 1e4 for m in mid])


def rank(x: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(x)).astype(float)


horizons = [1, 5, 10, 20, 50, 100, 200]
ic = {}
for h in horizons:
    fwd = (mid[h:] - mid[:-h]) / mid[:-h] * 1e4
    s = signal[:-h]
    ok = ~np.isnan(s)
    ic[h] = float(np.corrcoef(rank(s[ok]), rank(fwd[ok]))[0, 1])
ic

# %%
fig, ax = plt.subplots(figsize=(8, 4))
ax.bar([str(h) for h in horizons], [ic[h] for h in horizons])
ax.axhline(0, color="grey", lw=0.5)
ax.set_xlabel("horizon (quotes)")
ax.set_ylabel("rank IC")
save(fig, "signal_ic")

# %% [markdown]
# Forward 50-quote return after the signal crosses the strategy's entry threshold (20 bps under).

# %%
h = 50
fwd = np.full(len(mid), np.nan)
fwd[:-h] = (mid[h:] - mid[:-h]) / mid[:-h] * 1e4
entries = signal <= -20
print(
    f"{int(np.nansum(entries))} entries; mean forward return {np.nanmean(fwd[entries]):.2f} bps "
    f"vs {np.nanmean(fwd):.2f} bps unconditional"
)
