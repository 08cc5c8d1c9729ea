"""API order requests on a real Redis stream, filled by the sandbox against relay quotes, reported back."""

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

import orjson
import redis.asyncio as aioredis
from relay_harness import eventually, running_relay
from trading_harness import BookProducer

from alphapulse.protocol import Exchange
from alphapulse.trading.config import parse_trade_spec
from alphapulse.trading.node import build_node, running_node

REDIS = "redis://127.0.0.1:6379/0"


def _order(order_id: str, **overrides: str) -> dict[str, str]:
    fields = {
        "v": "1",
        "action": "new",
        "order_id": order_id,
        "account": "1",
        "exchange": "binance",
        "symbol": "BTC-USDT",
        "side": "buy",
        "type": "market",
        "quantity": "0.5",
        "limit_price": "",
        "time_in_force": "gtc",
        "user": "alice",
        "created_ns": "1",
    }
    fields.update(overrides)
    return fields


async def test_paper_orders_from_the_api_stream_are_filled_and_reported(sock_dir: Path) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    orders, events, audit = prefix + "orders", prefix + "order-events", prefix + "trading-audit"
    r = aioredis.from_url(REDIS, decode_responses=True)
    producer = BookProducer(sock_dir, "binance-o", Exchange.BINANCE, ["BTC-USDT"])
    await producer.start()
    spec = parse_trade_spec(
        {
            "venues": {"BINANCE": {"starting_balances": ["1000000 USDT", "10 BTC"]}},
            "orders": {
                "redis_url": REDIS,
                "stream": orders,
                "events": events,
                "group": prefix + "g",
                "audit_stream": audit,
            },
        },
        env={},
    )
    try:
        async with running_relay(sock_dir) as relay:
            await eventually(lambda: bool(relay.inputs), what="relay to find the feed")
            node = build_node(spec, loop=asyncio.get_running_loop(), sock_dir=str(sock_dir), log_level="ERROR")
            async with running_node(node):
                sid = producer.sids[0]
                await eventually(
                    lambda: any(c.filter.by_symbol.get(sid) for c in relay.consumers), what="gateway subscriptions"
                )
                producer.server.publish(producer.quote(0, 9_000_000, 9_000_100))  # 90000.00 / 90001.00
                await asyncio.sleep(0.1)
                market, limit, bad = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
                await r.xadd(orders, _order(market))
                await r.xadd(orders, _order(limit, side="sell", type="limit", limit_price="95000.00", quantity="1"))
                await r.xadd(orders, _order(bad, quantity="0.000000001"))  # finer than the 8-decimal lot

                async def seen() -> list[dict[str, str]]:
                    return [f for _, f in await r.xrange(events)]

                async def until(check: Callable[[list[dict[str, str]]], bool], what: str) -> list[dict[str, str]]:
                    for _ in range(500):
                        got = await seen()
                        if check(got):
                            return got
                        await asyncio.sleep(0.02)
                    raise AssertionError(f"timed out waiting for {what}: {await seen()}")

                await until(lambda got: len(got) >= 4, "four events")
                await r.xadd(orders, {**_order(limit), "action": "cancel"})
                got = await until(lambda got: any(e["type"] == "cancelled" for e in got), "the cancel")
        by_order: dict[str, list[dict[str, str]]] = {}
        for e in got:
            by_order.setdefault(e["order_id"], []).append(e)
        assert [e["type"] for e in by_order[market]] == ["accepted", "filled"]
        fill = by_order[market][1]
        assert (fill["price"], fill["qty"], fill["liquidity"], fill["fee_asset"]) == (
            "90001.00",
            "0.50000000",
            "taker",
            "USDT",
        )
        assert fill["fee"] == "45.0005"  # 0.5 x 90001 x 0.1 % taker
        assert [e["type"] for e in by_order[limit]] == ["accepted", "cancelled"]
        (rejected,) = by_order[bad]
        assert rejected["type"] == "rejected" and "quantity" in rejected["reason"]
        # the audit trail holds NautilusTrader's own events for the same orders, and the position
        trail = [orjson.loads(f["doc"]) for _, f in await r.xrange(audit)]
        kinds = [
            (d["kind"], d.get("type")) for d in trail if d.get("client_order_id") == market or d["kind"] == "position"
        ]
        assert ("order", "OrderSubmitted") in kinds and ("order", "OrderFilled") in kinds
        assert ("position", "PositionOpened") in kinds
    finally:
        await r.delete(orders, events, audit)
        await r.aclose()
        await producer.server.close()
