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
# # Backtesting
# Export → NautilusTrader catalog → both example strategies with fees and L1 fills → DuckDB results
# store → report. The same steps as `alphapulse backtest convert/run`, in code.

# %%
import duckdb
from _setup import DATA, FIGURES

from alphapulse.trading.backtest.catalog import convert_export
from alphapulse.trading.backtest.report import render_report
from alphapulse.trading.backtest.results import list_runs, save_run
from alphapulse.trading.backtest.runner import BacktestSpec, run_backtest
from alphapulse.trading.config import StrategySpec

catalog = FIGURES.parent / "notebook-catalog"
conversion = convert_export(DATA, catalog)
conversion

# %%
strategies = (
    StrategySpec(
        "alphapulse.trading.strategies.ema_reversion:EmaReversion",
        {"instrument_id": "BTC-USDT.BINANCE", "trade_size": "0.1", "period": 50, "entry_bps": 20.0},
    ),
    StrategySpec(
        "alphapulse.trading.strategies.spread:CrossVenueSpread",
        {"instrument_ids": ["BTC-USDT.BINANCE", "BTC-USD.KRAKEN"], "trade_size": "0.01", "entry_bps": 30.0},
    ),
)
outcome = run_backtest(BacktestSpec(catalog, strategies, seed=42))
outcome.stats

# %% [markdown]
# Deterministic: the same inputs give the same fills and PnL.

# %%
again = run_backtest(BacktestSpec(catalog, strategies, seed=42))
assert again.fingerprint() == outcome.fingerprint()
outcome.fingerprint()

# %%
results = FIGURES.parent / "notebook-backtests.duckdb"
run_id = save_run(results, outcome, name="notebook: ema + spread")
render_report(outcome, FIGURES / "backtest_report.png", title="ema + spread")
list_runs(results)[:3]

# %%
with duckdb.connect(str(results), read_only=True) as con:
    fills = con.execute(
        "SELECT instrument_id, side, count(*) AS fills, sum(qty) AS qty, sum(fee) AS fees "
        "FROM backtest_fills WHERE run_id = ? GROUP BY ALL ORDER BY ALL",
        [run_id],
    ).df()
fills
