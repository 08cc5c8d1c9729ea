"""Accounts: who may see which, and the portfolio view (balances, positions, PnL, equity) of one."""

from decimal import Decimal
from typing import Any

import asyncpg
from litestar.exceptions import NotFoundException

from alphapulse.api.auth import Principal
from alphapulse.api.marketdata import MarketData
from alphapulse.api.portfolio import Position, equity, unrealised_pnl
from alphapulse.api.schemas import AccountOut, BalanceOut, PortfolioOut, PositionOut

__all__ = ("ACCOUNT_SQL", "account_out", "account_row", "portfolio_of")

ACCOUNT_SQL = """
SELECT a.id, a.name, u.username AS owner, a.owner_id, a.kind, a.base_currency, a.created_at
FROM accounts a JOIN users u ON u.id = a.owner_id
"""


def account_out(row: Any) -> AccountOut:
    return AccountOut(
        id=row["id"],
        name=row["name"],
        owner=row["owner"],
        kind=row["kind"],
        base_currency=row["base_currency"],
        created_at=row["created_at"],
    )


async def account_row(pool: asyncpg.Pool, account_id: int, principal: Principal) -> Any:
    """The account if the caller may see it; 404 otherwise (whether it exists is not disclosed)."""
    row = await pool.fetchrow(ACCOUNT_SQL + " WHERE a.id = $1", account_id)
    if row is None or (row["owner_id"] != principal.user_id and not principal.is_admin):
        raise NotFoundException(f"no account {account_id}")
    return row


async def portfolio_of(pool: asyncpg.Pool, market: MarketData, account: Any) -> PortfolioOut:
    marks = await market.marks()
    base = account["base_currency"]
    balances = {
        r["asset"]: r["amount"]
        for r in await pool.fetch(
            "SELECT asset, amount FROM balances WHERE account_id = $1 ORDER BY asset", account["id"]
        )
    }
    prices = {a: p for a in balances if a != base and (p := marks.asset_price(a, base)) is not None}
    total, unpriced = equity(balances, prices, base)
    positions = []
    realised = unrealised = fees = Decimal(0)
    for r in await pool.fetch(
        "SELECT exchange, symbol, qty, avg_price, realised_pnl, fees FROM positions "
        "WHERE account_id = $1 ORDER BY exchange, symbol",
        account["id"],
    ):
        pos = Position(r["qty"], r["avg_price"], r["realised_pnl"], r["fees"])
        mark = marks.price(r["exchange"], r["symbol"])
        upnl = unrealised_pnl(pos, mark)
        realised += pos.realised_pnl
        unrealised += upnl
        fees += pos.fees
        positions.append(
            PositionOut(
                exchange=r["exchange"],
                symbol=r["symbol"],
                qty=pos.qty,
                avg_price=pos.avg_price,
                mark_price=mark,
                unrealised_pnl=upnl,
                realised_pnl=pos.realised_pnl,
                fees=pos.fees,
            )
        )
    balance_out = [
        BalanceOut(
            asset=a,
            amount=amt,
            price=Decimal(1) if a == base else prices.get(a),
            value=amt if a == base else (amt * prices[a] if a in prices else None),
        )
        for a, amt in balances.items()
    ]
    return PortfolioOut(
        account=account_out(account),
        balances=balance_out,
        positions=positions,
        equity=total,
        realised_pnl=realised,
        unrealised_pnl=unrealised,
        fees=fees,
        unpriced_assets=unpriced,
    )
