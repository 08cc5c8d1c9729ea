"""Applies the engine's order events (``alphapulse:order-events``) to orders, fills, positions, balances.

A Redis consumer group (``alphapulse-api``) spreads events over API replicas; each event is applied
in one database transaction that also records its stream id in ``order_events``, so an event
delivered twice (a crash before XACK, a replayed stream) changes nothing the second time. An event
that breaks the contract is recorded as ``invalid`` and acknowledged: retrying cannot fix it.
"""

import asyncio
import logging
import os
import socket
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import redis.asyncio as aioredis
import redis.exceptions

from alphapulse.api import metrics
from alphapulse.api.portfolio import Position, apply_fill, balance_deltas
from alphapulse.api.streams import FILL_EVENT_TYPES, EventError, OrderEvent, decode_event

__all__ = ("CONSUMER_GROUP", "OrderEventConsumer", "apply_event")

log = logging.getLogger(__name__)
CONSUMER_GROUP = "alphapulse-api"
# A pooled connection or a plain one: the consumer uses the pool, tests may pass either.
Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy
# Worth retrying: the entry stays pending and is applied once the dependency is back.
TEMPORARY_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
)
TERMINAL = frozenset({"filled", "cancelled", "rejected"})


def _text_fields(raw: dict[Any, Any]) -> dict[str, str]:
    def text(v: Any) -> str:
        return v.decode(errors="replace") if isinstance(v, bytes) else str(v)

    return {text(k): text(v) for k, v in raw.items()}


def _ts(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC).replace(microsecond=(ns // 1000) % 1_000_000)


async def _apply_fill(conn: Conn, order: Any, event: OrderEvent) -> str:
    # decode_event guarantees these for fill events; the asserts tell the type checker
    assert event.price is not None
    assert event.qty is not None
    assert event.fill_id is not None
    inserted = await conn.fetchval(
        "INSERT INTO fills (order_id, fill_id, account_id, exchange, symbol, side, price, qty, fee, fee_asset, "
        "liquidity, ts, ts_ns) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
        "ON CONFLICT (order_id, fill_id) DO NOTHING RETURNING id",
        order["id"],
        event.fill_id,
        order["account_id"],
        order["exchange"],
        order["symbol"],
        order["side"],
        event.price,
        event.qty,
        event.fee,
        event.fee_asset,
        event.liquidity,
        _ts(event.ts_ns),
        event.ts_ns,
    )
    if inserted is None:
        return "duplicate_fill"
    filled = order["filled_qty"] + event.qty
    prev_avg = order["avg_fill_price"] or Decimal(0)
    avg = (order["filled_qty"] * prev_avg + event.qty * event.price) / filled
    status = "filled" if filled >= order["quantity"] or event.type == "filled" else "partially_filled"
    await conn.execute(
        "UPDATE orders SET filled_qty = $2, avg_fill_price = $3, fees = fees + $4, status = $5, updated_at = now() "
        "WHERE id = $1",
        order["id"],
        filled,
        avg,
        event.fee,
        status,
    )
    pos_row = await conn.fetchrow(
        "SELECT qty, avg_price, realised_pnl, fees FROM positions "
        "WHERE account_id = $1 AND exchange = $2 AND symbol = $3 FOR UPDATE",
        order["account_id"],
        order["exchange"],
        order["symbol"],
    )
    pos = Position(*pos_row.values()) if pos_row else Position()
    fee_in_quote = event.fee if (event.fee_asset is None or event.fee_asset == order["symbol"].split("-")[1]) else 0
    new = apply_fill(pos, side=order["side"], qty=event.qty, price=event.price, fee=Decimal(fee_in_quote))
    await conn.execute(
        "INSERT INTO positions (account_id, exchange, symbol, qty, avg_price, realised_pnl, fees, updated_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, now()) ON CONFLICT (account_id, exchange, symbol) DO UPDATE SET "
        "qty = EXCLUDED.qty, avg_price = EXCLUDED.avg_price, realised_pnl = EXCLUDED.realised_pnl, "
        "fees = EXCLUDED.fees, updated_at = now()",
        order["account_id"],
        order["exchange"],
        order["symbol"],
        new.qty,
        new.avg_price,
        new.realised_pnl,
        new.fees,
    )
    deltas = balance_deltas(
        symbol=order["symbol"],
        side=order["side"],
        qty=event.qty,
        price=event.price,
        fee=event.fee,
        fee_asset=event.fee_asset,
    )
    await conn.executemany(
        "INSERT INTO balances (account_id, asset, amount, updated_at) VALUES ($1, $2, $3, now()) "
        "ON CONFLICT (account_id, asset) DO UPDATE SET amount = balances.amount + EXCLUDED.amount, updated_at = now()",
        [(order["account_id"], asset, delta) for asset, delta in sorted(deltas.items())],
    )
    return "applied"


async def _apply_status(conn: Conn, order: Any, event: OrderEvent) -> str:
    current = order["status"]
    if current in TERMINAL:
        return "ignored_terminal"
    if event.type == "accepted":
        if current != "pending_new":
            return "ignored_stale"
        await conn.execute(
            "UPDATE orders SET status = 'accepted', venue_order_id = coalesce($2, venue_order_id), updated_at = now() "
            "WHERE id = $1",
            order["id"],
            event.venue_order_id,
        )
    else:  # rejected or cancelled
        await conn.execute(
            "UPDATE orders SET status = $2, reject_reason = coalesce($3, reject_reason), updated_at = now() "
            "WHERE id = $1",
            order["id"],
            event.type,
            event.reason,
        )
    return "applied"


async def apply_event(conn: Conn, stream_id: str, raw: dict[Any, Any]) -> str:
    """Apply one stream entry; returns the outcome recorded for it (``applied``, ``duplicate``, ...)."""
    async with conn.transaction():
        try:
            event = decode_event(raw)
        except EventError as e:
            payload = _text_fields(raw)
            await conn.execute(
                "INSERT INTO order_events (stream_id, type, payload, outcome) VALUES ($1, 'invalid', $2, $3) "
                "ON CONFLICT (stream_id) DO NOTHING",
                stream_id,
                payload,
                f"invalid: {e}"[:500],
            )
            return "invalid"
        claimed = await conn.fetchval(
            "INSERT INTO order_events (stream_id, order_id, type, payload, outcome) VALUES ($1, $2, $3, $4, 'pending') "
            "ON CONFLICT (stream_id) DO NOTHING RETURNING stream_id",
            stream_id,
            event.order_id,
            event.type,
            _text_fields(raw),
        )
        if claimed is None:
            return "duplicate"
        order = await conn.fetchrow(
            "SELECT id, account_id, exchange, symbol, side, quantity, status, filled_qty, avg_fill_price "
            "FROM orders WHERE id = $1 FOR UPDATE",
            event.order_id,
        )
        if order is None:
            outcome = "unknown_order"
        elif event.type in FILL_EVENT_TYPES:
            outcome = (
                "ignored_terminal"
                if order["status"] in {"cancelled", "rejected"}
                else await _apply_fill(conn, order, event)
            )
        else:
            outcome = await _apply_status(conn, order, event)
        await conn.execute("UPDATE order_events SET outcome = $2 WHERE stream_id = $1", stream_id, outcome)
        return outcome


class OrderEventConsumer:
    """Reads the events stream through a consumer group and applies each entry."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        redis: "aioredis.Redis",
        *,
        stream: str,
        group: str = CONSUMER_GROUP,
        consumer: str | None = None,
        block_ms: int = 1000,
        batch: int = 100,
    ) -> None:
        self._pool = pool
        self._redis = redis
        self._stream = stream
        self._group = group
        self._consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self._block_ms = block_ms
        self._batch = batch

    async def ensure_group(self) -> None:
        try:
            # "0": events written before the first API started are applied too.
            await self._redis.xgroup_create(self._stream, self._group, id="0", mkstream=True)
        except redis.exceptions.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    async def _handle(self, entries: list[Any]) -> int:
        count = 0
        for stream_id, fields in entries:
            sid = stream_id.decode() if isinstance(stream_id, bytes) else str(stream_id)
            if fields is None:  # trimmed from the stream while pending: nothing left to apply
                await self._redis.xack(self._stream, self._group, sid)
                continue
            try:
                async with self._pool.acquire() as conn:
                    outcome = await apply_event(conn, sid, fields)
            except TEMPORARY_ERRORS:
                raise
            except Exception as e:  # a bad entry must not stall every entry behind it
                log.exception("order event %s could not be applied; recorded and skipped", sid)
                outcome = "error"
                await self._pool.execute(
                    "INSERT INTO order_events (stream_id, type, payload, outcome) VALUES ($1, 'error', $2, $3) "
                    "ON CONFLICT (stream_id) DO UPDATE SET outcome = EXCLUDED.outcome",
                    sid,
                    _text_fields(fields),
                    f"error: {e!r}"[:500],
                )
            event_type = fields.get(b"type", fields.get("type", b"?"))
            metrics.ORDER_EVENTS.labels(
                type=event_type.decode() if isinstance(event_type, bytes) else str(event_type),
                outcome=outcome,
            ).inc()
            await self._redis.xack(self._stream, self._group, sid)
            count += 1
        return count

    async def drain_pending(self) -> int:
        """Re-apply what this consumer read but did not acknowledge before a restart."""
        total = 0
        while True:
            reply: Any = await self._redis.xreadgroup(
                self._group, self._consumer, {self._stream: "0"}, count=self._batch
            )
            entries = reply[0][1] if reply else []
            if not entries:
                return total
            total += await self._handle(entries)

    async def poll_once(self, block_ms: int | None = None) -> int:
        reply: Any = await self._redis.xreadgroup(
            self._group,
            self._consumer,
            {self._stream: ">"},
            count=self._batch,
            block=self._block_ms if block_ms is None else block_ms,
        )
        return await self._handle(reply[0][1]) if reply else 0

    async def run(self) -> None:
        await self.ensure_group()
        while True:
            try:
                await self.drain_pending()  # first, and after every outage: read but not acknowledged
                while True:
                    await self.poll_once()
            except TEMPORARY_ERRORS as e:
                # The entry stays pending and is re-read after the backoff.
                log.warning("order event consumer: dependency unavailable, retrying", extra={"error": repr(e)})
            await asyncio.sleep(1.0)
