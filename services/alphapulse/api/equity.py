"""Equity curve: a snapshot of every account's equity and PnL, taken on a timer."""

import asyncio
import logging
from datetime import UTC, datetime

import asyncpg
import redis.exceptions

from alphapulse.api.accounts import ACCOUNT_SQL, portfolio_of
from alphapulse.api.marketdata import MarketData

__all__ = ("EquitySnapshotter", "snapshot_equity")

log = logging.getLogger(__name__)


async def snapshot_equity(pool: asyncpg.Pool, market: MarketData, *, now: datetime | None = None) -> int:
    """Write one ``equity_history`` row per account at ``now``; returns how many were written."""
    ts = now or datetime.now(tz=UTC)
    rows = []
    for account in await pool.fetch(ACCOUNT_SQL + " ORDER BY a.id"):
        view = await portfolio_of(pool, market, account)
        rows.append((account["id"], ts, view.equity, view.realised_pnl, view.unrealised_pnl))
    await pool.executemany(
        "INSERT INTO equity_history (account_id, ts, equity, realised_pnl, unrealised_pnl) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, ts) DO NOTHING",
        rows,
    )
    return len(rows)


class EquitySnapshotter:
    def __init__(self, pool: asyncpg.Pool, market: MarketData, *, interval_s: float) -> None:
        self._pool = pool
        self._market = market
        self._interval_s = interval_s

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await snapshot_equity(self._pool, self._market)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, redis.exceptions.RedisError) as e:
                log.warning("equity snapshot failed; next one in %.0f s", self._interval_s, extra={"error": repr(e)})
