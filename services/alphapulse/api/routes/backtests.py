"""``/api/backtests``: runs recorded by the trading issue's backtester (read-only; see api/backtests.py)."""

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Controller, get
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import PathParameter, QueryParameter

from alphapulse.api.backtests import BacktestStoreBusyError, equity_of, get_run, list_runs
from alphapulse.api.cursor import encode_cursor
from alphapulse.api.deps import Ctx, CurrentUser
from alphapulse.api.routes.params import Cursor, parse_cursor
from alphapulse.api.schemas import BacktestEquityPoint, BacktestRunDetail, BacktestRunOut, BacktestRunsPage

__all__ = ("BacktestsController",)

RunId = Annotated[str, PathParameter(pattern=r"^[0-9A-Za-z-]{1,64}$", description="the run's id")]
_LIST_FIELDS = (
    "run_id",
    "name",
    "pnl",
    "fees",
    "fills",
    "orders",
    "max_drawdown",
    "events",
    "elapsed_s",
    "fingerprint",
)


class _Busy(HTTPException):
    status_code = 503


def _created_at(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


def _run_out(row: dict[str, Any]) -> BacktestRunOut:
    return BacktestRunOut(created_at=_created_at(row["created_ns"]), **{k: row[k] for k in _LIST_FIELDS})


async def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except BacktestStoreBusyError as e:
        raise _Busy("a backtest is writing its results; try again", headers={"Retry-After": "2"}) from e


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
        after = parse_cursor("backtests", cursor, "is")
        rows = await _call(list_runs, ctx.settings.backtests_db, limit=limit, before=after)
        next_cursor = (
            encode_cursor("backtests", rows[-1]["created_ns"], rows[-1]["run_id"]) if len(rows) == limit else None
        )
        return BacktestRunsPage(items=[_run_out(r) for r in rows], next_cursor=next_cursor)

    @get("/{run_id:str}", summary="One backtest run with its configuration and statistics")
    async def get_one(self, *, principal: CurrentUser, run_id: RunId, ctx: Ctx) -> BacktestRunDetail:
        row = await _call(get_run, ctx.settings.backtests_db, run_id)
        if row is None:
            raise NotFoundException(f"no backtest run {run_id}")
        return BacktestRunDetail(
            created_at=_created_at(row["created_ns"]),
            config=row["config"],
            stats=row["stats"],
            start_ns=row["start_ns"],
            end_ns=row["end_ns"],
            catalog=row["catalog"],
            **{k: row[k] for k in _LIST_FIELDS},
        )

    @get("/{run_id:str}/equity", summary="The run's PnL curve (at most `points` points)")
    async def equity(
        self,
        *,
        principal: CurrentUser,
        run_id: RunId,
        ctx: Ctx,
        points: Annotated[int, QueryParameter(ge=2, le=10_000)] = 2000,
    ) -> list[BacktestEquityPoint]:
        if await _call(get_run, ctx.settings.backtests_db, run_id) is None:
            raise NotFoundException(f"no backtest run {run_id}")
        curve = await _call(equity_of, ctx.settings.backtests_db, run_id, max_points=points)
        return [BacktestEquityPoint(ts_ns=t, pnl=v) for t, v in curve]
