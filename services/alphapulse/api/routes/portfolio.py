"""``/api/accounts``: accounts, balances, positions with PnL, and the equity curve."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
from litestar import Controller, get, post
from litestar.exceptions import HTTPException
from litestar.params import JSONBody

from alphapulse.api.accounts import ACCOUNT_SQL, account_out, account_row, portfolio_of
from alphapulse.api.deps import Ctx, CurrentUser, Market
from alphapulse.api.routes.params import AccountPath, Limit, TimeQ, aware
from alphapulse.api.schemas import AccountOut, CreateAccountIn, EquityPoint, PortfolioOut

__all__ = ("AccountsController",)


class AccountsController(Controller):
    path = "/api/accounts"
    tags = ["portfolio"]  # noqa: RUF012

    @get("/", summary="Accounts you own (admins: all)")
    async def list_(self, principal: CurrentUser, ctx: Ctx) -> list[AccountOut]:
        if principal.is_admin:
            rows = await ctx.pool.fetch(ACCOUNT_SQL + " ORDER BY a.id")
        else:
            rows = await ctx.pool.fetch(ACCOUNT_SQL + " WHERE a.owner_id = $1 ORDER BY a.id", principal.user_id)
        return [account_out(r) for r in rows]

    @post("/", summary="Create a paper account with starting balances (admin)", opt={"role": "admin"})
    async def create(self, principal: CurrentUser, data: JSONBody[CreateAccountIn], ctx: Ctx) -> AccountOut:
        assets = [b.asset for b in data.balances]
        if len(set(assets)) != len(assets):
            raise HTTPException("each asset may appear once in balances", status_code=400)
        async with ctx.pool.acquire() as conn, conn.transaction():
            owner_id = await conn.fetchval("SELECT id FROM users WHERE username = $1", data.owner)
            if owner_id is None:
                raise HTTPException(f"no user {data.owner!r}", status_code=400)
            try:
                account_id = await conn.fetchval(
                    "INSERT INTO accounts (name, owner_id, base_currency) VALUES ($1, $2, $3) RETURNING id",
                    data.name,
                    owner_id,
                    data.base_currency,
                )
            except asyncpg.UniqueViolationError as e:
                raise HTTPException(f"an account named {data.name!r} exists", status_code=409) from e
            await conn.executemany(
                "INSERT INTO balances (account_id, asset, amount) VALUES ($1, $2, $3)",
                [(account_id, b.asset, Decimal(b.amount)) for b in data.balances],
            )
            row = await conn.fetchrow(ACCOUNT_SQL + " WHERE a.id = $1", account_id)
        return account_out(row)

    @get("/{account_id:int}", summary="One account")
    async def get_one(self, principal: CurrentUser, account_id: AccountPath, ctx: Ctx) -> AccountOut:
        return account_out(await account_row(ctx.pool, account_id, principal))

    @get("/{account_id:int}/portfolio", summary="Balances, positions, realised and unrealised PnL, equity")
    async def portfolio(
        self, principal: CurrentUser, account_id: AccountPath, ctx: Ctx, market: Market
    ) -> PortfolioOut:
        return await portfolio_of(ctx.pool, market, await account_row(ctx.pool, account_id, principal))

    @get("/{account_id:int}/equity", summary="Equity history, oldest first")
    async def equity_history(
        self,
        *,
        principal: CurrentUser,
        account_id: AccountPath,
        ctx: Ctx,
        start: TimeQ = None,
        end: TimeQ = None,
        limit: Limit = 1000,
    ) -> list[EquityPoint]:
        await account_row(ctx.pool, account_id, principal)
        end_dt = aware(end, "end") or datetime.now(tz=UTC) + timedelta(seconds=1)
        start_dt = aware(start, "start") or end_dt - timedelta(days=7)
        rows = await ctx.pool.fetch(
            "SELECT ts, equity, realised_pnl, unrealised_pnl FROM equity_history "
            "WHERE account_id = $1 AND ts >= $2 AND ts < $3 ORDER BY ts LIMIT $4",
            account_id,
            start_dt,
            end_dt,
            limit,
        )
        return [EquityPoint(**dict(r)) for r in rows]
