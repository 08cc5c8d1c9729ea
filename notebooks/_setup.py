"""Shared by every notebook: where the data and the figures are, and a sample dataset when there is none.

``ALPHAPULSE_NB_DATA``: a Parquet export (``alphapulse`` storage layout); a small seeded sample is
written there if it is empty. ``ALPHAPULSE_NB_FIGURES``: where figures go.
"""

import os
from pathlib import Path

import duckdb
import matplotlib as mpl

mpl.use("Agg")

from alphapulse.trading.backtest.sample import write_sample_session

DATA = Path(os.environ.get("ALPHAPULSE_NB_DATA", ".alphapulse/notebook-data")).resolve()
FIGURES = Path(os.environ.get("ALPHAPULSE_NB_FIGURES", ".alphapulse/notebook-figures")).resolve()
FIGURES.mkdir(parents=True, exist_ok=True)
if not any(DATA.glob("type=*")):
    write_sample_session(DATA, quotes=int(os.environ.get("ALPHAPULSE_NB_QUOTES", "6000")))


def quotes() -> duckdb.DuckDBPyRelation:
    """Every quote with its mid and spread (DOUBLE for analysis; the Parquet keeps the exact decimals)."""
    return duckdb.sql(
        f"""SELECT exchange, symbol, exchange || ':' || symbol AS market, ts_recv_ns, ts_exchange_ns,
                   bid_price::DOUBLE AS bid, ask_price::DOUBLE AS ask, bid_qty::DOUBLE AS bid_qty,
                   ask_qty::DOUBLE AS ask_qty, (bid_price::DOUBLE + ask_price::DOUBLE) / 2 AS mid
            FROM read_parquet('{DATA}/type=quotes/**/*.parquet', hive_partitioning = true)"""
    )


def trades() -> duckdb.DuckDBPyRelation:
    return duckdb.sql(
        f"""SELECT exchange, symbol, exchange || ':' || symbol AS market, ts_recv_ns, ts_exchange_ns, side,
                   price::DOUBLE AS price, qty::DOUBLE AS qty, trade_id
            FROM read_parquet('{DATA}/type=trades/**/*.parquet', hive_partitioning = true)"""
    )


def save(fig: "mpl.figure.Figure", name: str) -> Path:
    path = FIGURES / f"{name}.png"
    fig.savefig(path, dpi=100)
    return path
