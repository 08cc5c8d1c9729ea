"""``/api/backtests``: backtest runs written by the trading issue's backtester (read-only here)."""

import uuid
from typing import Annotated

from litestar import Controller, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, QueryParameter

from alphapulse.api.cursor import encode_cursor
from alphapulse.api.deps import Ctx, CurrentUser
from alphapulse.api.routes.params import Cursor, parse_cursor, time_us
from alphapulse.api.schemas import BacktestRunOut, BacktestRunsPage

__all__ = ("BacktestsController",)

_COLUMNS = "id, name, strategy, params, venues, symbols, data_start, data_end, status, metrics, started_at, finished_at"


class BacktestsController(Controller):
    path = "/api/backtests"
    tags = ["backtests"]  # noqa: RUF012

    @get("/", summary="Backtest runs, newest first")
    async def list_(
        self,
        *,
        principal: CurrentUser,
        ctx: Ctx,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        cursor: Cursor = None,
    ) -> BacktestRunsPage:
        after = parse_cursor("backtests", cursor, "tu")
        rows = await ctx.pool.fetch(
            f"SELECT {_COLUMNS} FROM backtest_runs "
            "WHERE ($1::timestamptz IS NULL OR (started_at, id) < ($1, $2::uuid)) "
            "ORDER BY started_at DESC, id DESC LIMIT $3",
            after[0] if after else None,
            after[1] if after else None,
            limit,
        )
        next_cursor = (
            encode_cursor("backtests", time_us(rows[-1]["started_at"]), str(rows[-1]["id"]))
            if len(rows) == limit
            else None
        )
        return BacktestRunsPage(items=[BacktestRunOut(**dict(r)) for r in rows], next_cursor=next_cursor)

    @get("/{run_id:uuid}", summary="One backtest run")
    async def get_one(self, principal: CurrentUser, run_id: FromPath[uuid.UUID], ctx: Ctx) -> BacktestRunOut:
        row = await ctx.pool.fetchrow(f"SELECT {_COLUMNS} FROM backtest_runs WHERE id = $1", run_id)
        if row is None:
            raise NotFoundException(f"no backtest run {run_id}")
        return BacktestRunOut(**dict(row))
