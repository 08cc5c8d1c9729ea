"""The backtest results store: one DuckDB file, apart from live data.

Why DuckDB and not a ``backtest`` schema in PostgreSQL: results are written once per run and then
only read, by notebooks, the report and the API, mostly as whole columns (equity curves, fill
lists); a single file is copied, archived or deleted with the run's catalog, never competes with
the live writer for the system of record, and DuckDB reads the same Parquet exports the runs came
from, so "the backtest's trades equal the recorded trades" is one query. The API lists runs by
opening the file read-only.

Exact values (prices, quantities, fees) are ``DECIMAL(38, 12)``, converted from NautilusTrader's
decimal strings, never floats; PnL curves and statistics are ``DOUBLE`` (they are floats already).
"""

import json
import time
import uuid
from pathlib import Path
from typing import Any

import duckdb

from alphapulse.trading.backtest.runner import BacktestOutcome

__all__ = ("SCHEMA", "list_runs", "save_run")

SCHEMA = """
CREATE TABLE IF NOT EXISTS backtest_runs (
    run_id VARCHAR PRIMARY KEY, created_ns BIGINT NOT NULL, name VARCHAR, config JSON NOT NULL,
    catalog VARCHAR, start_ns BIGINT, end_ns BIGINT, book_type VARCHAR, seed INTEGER,
    events BIGINT, elapsed_s DOUBLE, fills BIGINT, orders BIGINT, pnl DOUBLE, fees DOUBLE,
    max_drawdown DOUBLE, fingerprint VARCHAR, stats JSON
);
CREATE TABLE IF NOT EXISTS backtest_fills (
    run_id VARCHAR NOT NULL, ts_ns BIGINT NOT NULL, instrument_id VARCHAR, side VARCHAR,
    price DECIMAL(38, 12), qty DECIMAL(38, 12), fee DECIMAL(38, 12), fee_currency VARCHAR,
    trade_id VARCHAR, order_id VARCHAR, liquidity VARCHAR
);
CREATE TABLE IF NOT EXISTS backtest_orders (
    run_id VARCHAR NOT NULL, order_id VARCHAR, instrument_id VARCHAR, side VARCHAR, type VARCHAR,
    quantity DECIMAL(38, 12), filled_qty DECIMAL(38, 12), avg_px VARCHAR, status VARCHAR, ts_init BIGINT
);
CREATE TABLE IF NOT EXISTS backtest_positions (
    run_id VARCHAR NOT NULL, position_id VARCHAR, instrument_id VARCHAR, side VARCHAR,
    quantity DECIMAL(38, 12), realized_pnl VARCHAR, opened_ns BIGINT, closed_ns BIGINT
);
CREATE TABLE IF NOT EXISTS backtest_equity (run_id VARCHAR NOT NULL, ts_ns BIGINT NOT NULL, pnl DOUBLE);
"""


def _connect(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    if not read_only:
        con.execute(SCHEMA)
    return con


def save_run(path: Path, outcome: BacktestOutcome, *, name: str = "", config: dict[str, Any] | None = None) -> str:
    run_id = str(uuid.uuid4())
    spec = outcome.spec
    cfg = config or {
        "strategies": [{"path": s.path, "config": s.config} for s in spec.strategies],
        "instrument_ids": list(spec.instrument_ids),
    }
    con = _connect(path)
    try:
        con.execute("BEGIN")
        con.execute(
            "INSERT INTO backtest_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, time.time_ns(), name, json.dumps(cfg, default=str), str(spec.catalog), spec.start_ns,
             spec.end_ns, spec.book_type, spec.seed, outcome.events, outcome.elapsed_s, len(outcome.fills),
             len(outcome.orders), outcome.pnl, outcome.stats.get("fees", 0.0), outcome.stats.get("max_drawdown", 0.0),
             outcome.fingerprint(), json.dumps(outcome.stats)],
        )  # fmt: skip
        if outcome.fills:
            con.executemany(
                "INSERT INTO backtest_fills VALUES (?, ?, ?, ?, ?::DECIMAL(38,12), ?::DECIMAL(38,12), "
                "?::DECIMAL(38,12), ?, ?, ?, ?)",
                [[run_id, f.ts_ns, f.instrument_id, f.side, f.price, f.qty, f.fee, f.fee_currency, f.trade_id,
                  f.order_id, f.liquidity] for f in outcome.fills],
            )  # fmt: skip
        if outcome.orders:
            con.executemany(
                "INSERT INTO backtest_orders VALUES (?, ?, ?, ?, ?, ?::DECIMAL(38,12), ?::DECIMAL(38,12), ?, ?, ?)",
                [[run_id, o["order_id"], o["instrument_id"], o["side"], o["type"], o["quantity"], o["filled_qty"],
                  o["avg_px"], o["status"], o["ts_init"]] for o in outcome.orders],
            )  # fmt: skip
        if outcome.positions:
            con.executemany(
                "INSERT INTO backtest_positions VALUES (?, ?, ?, ?, ?::DECIMAL(38,12), ?, ?, ?)",
                [[run_id, p["position_id"], p["instrument_id"], p["side"], p["quantity"], p["realized_pnl"],
                  p["opened_ns"], p["closed_ns"]] for p in outcome.positions],
            )  # fmt: skip
        if len(outcome.equity_ts):
            con.executemany(
                "INSERT INTO backtest_equity VALUES (?, ?, ?)",
                [[run_id, int(t), float(v)] for t, v in zip(outcome.equity_ts, outcome.equity_pnl, strict=True)],
            )
        con.execute("COMMIT")
    finally:
        con.close()
    return run_id


def list_runs(path: Path) -> list[dict[str, Any]]:
    """Newest first: id, time, name, PnL, fills, fingerprint (what the API's read-only endpoint returns)."""
    if not path.exists():
        return []
    con = _connect(path, read_only=True)
    try:
        rows = con.execute(
            "SELECT run_id, created_ns, name, pnl, fees, fills, orders, max_drawdown, events, elapsed_s, fingerprint "
            "FROM backtest_runs ORDER BY created_ns DESC"
        ).fetchall()
        cols = [d[0] for d in con.description or ()]
    finally:
        con.close()
    return [dict(zip(cols, r, strict=True)) for r in rows]
