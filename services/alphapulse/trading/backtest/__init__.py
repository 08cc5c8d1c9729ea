"""Backtests on recorded data: our Parquet export -> a NautilusTrader catalog -> a BacktestEngine run
-> a DuckDB results store and a PNG report."""
