"""``/api/orders`` and ``/api/fills``: submit (risk-checked, then queued), cancel, list.

An order is written first (status ``pending_new``), then queued on ``alphapulse:orders``; the
engine's events move it on (:mod:`alphapulse.api.events`). If Redis refuses the entry the order is
marked ``rejected`` ("order queue unavailable") and the client gets 503, so no order is left
claiming to be queued when it is not.
"""

import logging
import uuid
from decimal import Decimal
from typing import Any, Literal

import asyncpg
import redis.exceptions
from litestar import Controller, Response, get, post
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED

from alphapulse.api import metrics
from alphapulse.api.accounts import account_row
from alphapulse.api.cursor import encode_cursor
from alphapulse.api.deps import Ctx, CurrentUser, Market
from alphapulse.api.problems import RuleViolation
from alphapulse.api.risk import InstrumentRules, OrderIntent, check_order
from alphapulse.api.routes.params import AccountFilter, Cursor, SmallLimit, parse_cursor, time_us
from alphapulse.api.schemas import FillOut, FillsPage, OrderIn, OrderOut, OrdersPage
from alphapulse.api.streams import OrderRequest, encode_cancel, encode_order

__all__ = ("FillsController", "OrdersController")

log = logging.getLogger(__name__)

OPEN_STATUSES = ("pending_new", "accepted", "partially_filled")
STREAM_MAXLEN = 1_000_000  # approximate trim: the database, not the stream, is the record
_ORDER_COLUMNS = (
    "id, account_id, client_order_id, exchange, symbol, side, type, time_in_force, quantity, limit_price, "
    "status, reject_reason, filled_qty, avg_fill_price, fees, created_at, updated_at, cancel_requested_at, created_ns"
)
_FILL_COLUMNS = "id, order_id, fill_id, account_id, exchange, symbol, side, price, qty, fee, fee_asset, liquidity, ts"
Status = Literal["pending_new", "accepted", "partially_filled", "filled", "cancelled", "rejected", "open"]


class Conflict(HTTPException):
    status_code = 409


class Unavailable(HTTPException):
    status_code = 503


def order_out(row: Any) -> OrderOut:
    values = dict(row)
    values.pop("created_ns", None)
    return OrderOut(**values)


async def _visible_account_ids(ctx: Ctx, principal: CurrentUser, account_id: int | None) -> list[int] | None:
    """Accounts whose orders the caller may list; ``None`` means all (admin without a filter)."""
    if account_id is not None:
        await account_row(ctx.pool, account_id, principal)
        return [account_id]
    if principal.is_admin:
        return None
    rows = await ctx.pool.fetch("SELECT id FROM accounts WHERE owner_id = $1", principal.user_id)
    return [r["id"] for r in rows]


async def _instrument_rules(pool: asyncpg.Pool, exchange: str, symbol: str) -> InstrumentRules | None:
    if await pool.fetchval("SELECT to_regclass('instruments') IS NULL"):
        return None
    row = await pool.fetchrow(
        "SELECT price_scale, qty_scale FROM instruments WHERE exchange = $1 AND symbol = $2", exchange, symbol
    )
    if row is None:
        return None
    # The wire format carries prices and quantities at these scales: anything finer cannot travel.
    return InstrumentRules(Decimal(1).scaleb(-row["price_scale"]), Decimal(1).scaleb(-row["qty_scale"]))


async def _reference_price(market: Market, exchange: str, symbol: str, side: str) -> Decimal | None:
    for q in await market.latest_quotes():
        if q.exchange == exchange and q.symbol == symbol:
            price = q.ask_price if side == "buy" else q.bid_price
            if price is not None:
                return price
    return (await market.marks()).price(exchange, symbol)


def _decimal(raw: str | None, name: str) -> Decimal | None:
    if raw is None:
        return None
    value = Decimal(raw)  # the schema's pattern guarantees a plain decimal
    if value <= 0:
        raise ValidationException(f"{name} must be greater than zero")
    return value


class OrdersController(Controller):
    path = "/api/orders"
    tags = ["trading"]  # noqa: RUF012

    @post("/", status_code=HTTP_201_CREATED, opt={"role": "trader"}, summary="Submit an order (paper trading)")
    async def submit(
        self, principal: CurrentUser, data: JSONBody[OrderIn], ctx: Ctx, market: Market
    ) -> Response[OrderOut]:
        quantity = _decimal(data.quantity, "quantity")
        limit_price = _decimal(data.limit_price, "limit_price")
        assert quantity is not None
        if data.type == "limit" and limit_price is None:
            raise ValidationException("a limit order needs limit_price")
        if data.type == "market" and limit_price is not None:
            raise ValidationException("a market order takes no limit_price")
        account = await account_row(ctx.pool, data.account_id, principal)
        intent = OrderIntent(data.exchange, data.symbol, data.side, data.type, quantity, limit_price)
        rules = await _instrument_rules(ctx.pool, data.exchange, data.symbol)
        reference = (
            None if data.type == "limit" else await _reference_price(market, data.exchange, data.symbol, data.side)
        )
        if (reason := check_order(intent, ctx.settings.risk, instrument=rules, reference_price=reference)) is not None:
            metrics.ORDERS_SUBMITTED.labels(result="risk_rejected").inc()
            raise RuleViolation(reason, extra={"reason": reason})
        request = OrderRequest(
            order_id=uuid.uuid4(),
            account_id=account["id"],
            exchange=data.exchange,
            symbol=data.symbol,
            side=data.side,
            type=data.type,
            quantity=quantity,
            limit_price=limit_price,
            time_in_force=data.time_in_force,
            user=principal.username,
            created_ns=ctx.clock.now_ns(),
        )
        try:
            row = await ctx.pool.fetchrow(
                f"INSERT INTO orders (id, account_id, user_id, client_order_id, exchange, symbol, side, type, "
                f"time_in_force, quantity, limit_price, status, created_ns) "
                f"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'pending_new', $12) RETURNING {_ORDER_COLUMNS}",
                request.order_id,
                request.account_id,
                principal.user_id,
                data.client_order_id,
                request.exchange,
                request.symbol,
                request.side,
                request.type,
                request.time_in_force,
                quantity,
                limit_price,
                request.created_ns,
            )
        except asyncpg.UniqueViolationError as e:
            raise Conflict(f"client_order_id {data.client_order_id!r} was already used on this account") from e
        try:
            await ctx.redis.xadd(
                ctx.settings.orders_stream,
                encode_order(request),  # type: ignore[arg-type]
                maxlen=STREAM_MAXLEN,
                approximate=True,
            )
        except (
            redis.exceptions.ConnectionError,
            redis.exceptions.TimeoutError,
            redis.exceptions.ResponseError,
        ) as e:
            log.warning("order queue unavailable", extra={"order_id": str(request.order_id), "error": repr(e)})
            await ctx.pool.execute(
                "UPDATE orders SET status = 'rejected', reject_reason = 'order queue unavailable', updated_at = now() "
                "WHERE id = $1",
                request.order_id,
            )
            metrics.ORDERS_SUBMITTED.labels(result="queue_unavailable").inc()
            raise Unavailable(
                "the order queue is unavailable; the order was not sent", headers={"Retry-After": "5"}
            ) from e
        metrics.ORDERS_SUBMITTED.labels(result="queued").inc()
        assert row is not None  # INSERT ... RETURNING always returns the row
        return Response(order_out(row), status_code=HTTP_201_CREATED, headers={"Location": f"/api/orders/{row['id']}"})

    @get("/", summary="Orders, newest first")
    async def list_(
        self,
        *,
        principal: CurrentUser,
        ctx: Ctx,
        account_id: AccountFilter = None,
        status: FromQuery[Status | None] = None,
        limit: SmallLimit = 100,
        cursor: Cursor = None,
    ) -> OrdersPage:
        accounts = await _visible_account_ids(ctx, principal, account_id)
        statuses = list(OPEN_STATUSES) if status == "open" else ([status] if status else None)
        after = parse_cursor("orders", cursor, "iu")
        rows = await ctx.pool.fetch(
            f"SELECT {_ORDER_COLUMNS} FROM orders "
            "WHERE ($1::bigint[] IS NULL OR account_id = ANY($1)) AND ($2::text[] IS NULL OR status = ANY($2)) "
            "AND ($3::bigint IS NULL OR (created_ns, id) < ($3, $4::uuid)) "
            "ORDER BY created_ns DESC, id DESC LIMIT $5",
            accounts,
            statuses,
            after[0] if after else None,
            after[1] if after else None,
            limit,
        )
        next_cursor = (
            encode_cursor("orders", rows[-1]["created_ns"], str(rows[-1]["id"])) if len(rows) == limit else None
        )
        return OrdersPage(items=[order_out(r) for r in rows], next_cursor=next_cursor)

    @get("/{order_id:uuid}", summary="One order")
    async def get_one(self, principal: CurrentUser, order_id: FromPath[uuid.UUID], ctx: Ctx) -> OrderOut:
        row = await ctx.pool.fetchrow(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE id = $1", order_id)
        if row is None:
            raise NotFoundException(f"no order {order_id}")
        try:
            await account_row(ctx.pool, row["account_id"], principal)
        except NotFoundException as e:
            raise NotFoundException(f"no order {order_id}") from e
        return order_out(row)

    @post(
        "/{order_id:uuid}/cancel",
        status_code=HTTP_202_ACCEPTED,
        opt={"role": "trader"},
        summary="Ask the engine to cancel an open order",
    )
    async def cancel(self, principal: CurrentUser, order_id: FromPath[uuid.UUID], ctx: Ctx) -> OrderOut:
        row = await ctx.pool.fetchrow(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE id = $1", order_id)
        if row is None:
            raise NotFoundException(f"no order {order_id}")
        try:
            await account_row(ctx.pool, row["account_id"], principal)
        except NotFoundException as e:
            raise NotFoundException(f"no order {order_id}") from e
        if row["status"] not in OPEN_STATUSES:
            raise Conflict(f"order {order_id} is {row['status']}; only open orders can be cancelled")
        fields = encode_cancel(
            order_id=order_id,
            account_id=row["account_id"],
            exchange=row["exchange"],
            symbol=row["symbol"],
            user=principal.username,
            created_ns=ctx.clock.now_ns(),
        )
        try:
            await ctx.redis.xadd(ctx.settings.orders_stream, fields, maxlen=STREAM_MAXLEN, approximate=True)  # type: ignore[arg-type]
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as e:
            raise Unavailable("the order queue is unavailable; try again", headers={"Retry-After": "5"}) from e
        updated = await ctx.pool.fetchrow(
            f"UPDATE orders SET cancel_requested_at = coalesce(cancel_requested_at, now()), updated_at = now() "
            f"WHERE id = $1 RETURNING {_ORDER_COLUMNS}",
            order_id,
        )
        if updated is None:  # deleted between the two statements (its account was removed)
            raise NotFoundException(f"no order {order_id}")
        return order_out(updated)


class FillsController(Controller):
    path = "/api/fills"
    tags = ["trading"]  # noqa: RUF012

    @get("/", summary="Fills, newest first")
    async def list_(
        self,
        *,
        principal: CurrentUser,
        ctx: Ctx,
        account_id: AccountFilter = None,
        order_id: FromQuery[uuid.UUID | None] = None,
        limit: SmallLimit = 100,
        cursor: Cursor = None,
    ) -> FillsPage:
        accounts = await _visible_account_ids(ctx, principal, account_id)
        after = parse_cursor("fills", cursor, "ti")
        rows = await ctx.pool.fetch(
            f"SELECT {_FILL_COLUMNS} FROM fills "
            "WHERE ($1::bigint[] IS NULL OR account_id = ANY($1)) AND ($2::uuid IS NULL OR order_id = $2) "
            "AND ($3::timestamptz IS NULL OR (ts, id) < ($3, $4::bigint)) "
            "ORDER BY ts DESC, id DESC LIMIT $5",
            accounts,
            order_id,
            after[0] if after else None,
            after[1] if after else None,
            limit,
        )
        next_cursor = encode_cursor("fills", time_us(rows[-1]["ts"]), rows[-1]["id"]) if len(rows) == limit else None
        return FillsPage(items=[FillOut(**dict(r)) for r in rows], next_cursor=next_cursor)
