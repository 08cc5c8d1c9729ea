"""Backtest results, read-only: the trading issue's DuckDB results file (docs/trading.md).

The backtester writes one DuckDB file (``<data-dir>/backtests.duckdb`` by default; tables
``backtest_runs`` and ``backtest_equity`` among others, ``alphapulse.trading.backtest.results``).
The API opens it read-only per request, in a worker thread (DuckDB is synchronous), so it never
holds the file while a backtest wants to write its results. Importing the trading package here
would pull NautilusTrader into the API process; the columns read below are the contract instead,
and a test writes a file with the trading package's own schema to keep both sides honest.
"""

import json
from pathlib import Path
from typing import Any

import duckdb

from alphapulse.errors import RetryableError

__all__ = ("BacktestStoreBusyError", "equity_of", "get_run", "list_runs")

_LIST_COLUMNS = "run_id, created_ns, name, pnl, fees, fills, orders, max_drawdown, events, elapsed_s, fingerprint"


class BacktestStoreBusyError(RetryableError):
    """The results file is locked by a backtest writing to it; retry shortly."""


def _connect(path: Path) -> duckdb.DuckDBPyConnection | None:
    if not path.exists():
        return None
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.IOException as e:  # another process holds the write lock
        raise BacktestStoreBusyError(str(e)) from e


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = con.execute(sql, params)
    cols = [d[0] for d in cur.description or ()]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def list_runs(path: Path, *, limit: int, before: tuple[int, str] | None) -> list[dict[str, Any]]:
    """Newest first; ``before`` is the (created_ns, run_id) of the previous page's last run."""
    con = _connect(path)
    if con is None:
        return []
    try:
        where, params = "", []
        if before is not None:
            where, params = "WHERE (created_ns, run_id) < (?, ?)", [before[0], before[1]]
        return _rows(
            con,
            f"SELECT {_LIST_COLUMNS} FROM backtest_runs {where} ORDER BY created_ns DESC, run_id DESC LIMIT ?",
            [*params, limit],
        )
    finally:
        con.close()


def get_run(path: Path, run_id: str) -> dict[str, Any] | None:
    con = _connect(path)
    if con is None:
        return None
    try:
        rows = _rows(
            con,
            f"SELECT {_LIST_COLUMNS}, config, stats, start_ns, end_ns, catalog FROM backtest_runs WHERE run_id = ?",
            [run_id],
        )
    finally:
        con.close()
    if not rows:
        return None
    run = rows[0]
    for key in ("config", "stats"):
        raw = run.get(key)
        run[key] = json.loads(raw) if isinstance(raw, str) else (raw or {})
    return run


def equity_of(path: Path, run_id: str, *, max_points: int) -> list[tuple[int, float]]:
    """The run's PnL curve, thinned to at most ``max_points`` (every n-th point, the last always kept)."""
    con = _connect(path)
    if con is None:
        return []
    try:
        points = con.execute(
            "SELECT ts_ns, pnl FROM backtest_equity WHERE run_id = ? ORDER BY ts_ns", [run_id]
        ).fetchall()
    finally:
        con.close()
    if len(points) <= max_points:
        return [(int(t), float(v)) for t, v in points]
    step = -(-len(points) // max_points)
    thinned = points[::step]
    if thinned[-1] != points[-1]:
        thinned.append(points[-1])
    return [(int(t), float(v)) for t, v in thinned]
