"""The API's background work: the equity snapshot timer and the events consumer's catch-up at start."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import pytest
import redis.asyncio as aioredis
from api_harness import CHEAP_HASHER, TEST_PASSWORD, OffsetClock, dsn, make_settings, serve_api

from alphapulse.api.users import create_user


async def _wait_for_count(pool: asyncpg.Pool, sql: str, want: int, timeout_s: float = 10.0) -> None:
    """Poll: the work under test runs in the server's background tasks."""
    for _ in range(int(timeout_s / 0.05)):
        if int(await pool.fetchval(sql)) >= want:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{sql} did not reach {want} in {timeout_s} s")


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    p = await asyncpg.create_pool(dsn(database), min_size=1, max_size=2)
    yield p
    await p.close()


async def _account(pool: asyncpg.Pool) -> int:
    user = await create_user(pool, CHEAP_HASHER, username="owner", password=TEST_PASSWORD, role="trader")
    account_id = await pool.fetchval("INSERT INTO accounts (name, owner_id) VALUES ('acct', $1) RETURNING id", user.id)
    await pool.execute("INSERT INTO balances (account_id, asset, amount) VALUES ($1, 'USDT', 500)", account_id)
    return int(account_id)


async def test_equity_is_snapshotted_on_a_timer(database: str, prefix: str, pool: asyncpg.Pool) -> None:
    account_id = await _account(pool)
    settings = make_settings(database, prefix, equity_snapshot_interval_s=0.1)
    async with serve_api(settings, OffsetClock()):
        await _wait_for_count(pool, "SELECT count(*) FROM equity_history", 2)
    rows = await pool.fetch("SELECT account_id, equity FROM equity_history ORDER BY ts")
    assert {r["account_id"] for r in rows} == {account_id}
    assert all(r["equity"] == Decimal(500) for r in rows)


async def test_events_written_before_the_api_started_are_applied(
    database: str, prefix: str, pool: asyncpg.Pool
) -> None:
    account_id = await _account(pool)
    order_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO orders (id, account_id, exchange, symbol, side, type, time_in_force, quantity, limit_price, "
        "status, created_ns) VALUES ($1, $2, 'binance', 'BTC-USDT', 'buy', 'limit', 'gtc', 1, 100, 'pending_new', 1)",
        order_id,
        account_id,
    )
    settings = make_settings(database, prefix)
    redis = aioredis.from_url(settings.redis_url)
    try:
        await redis.xadd(
            settings.order_events_stream,
            {
                "v": "1",
                "order_id": str(order_id),
                "type": "filled",
                "ts_ns": "1772461800000000000",
                "fill_id": "early",
                "price": "100",
                "qty": "1",
            },
        )
        async with serve_api(settings, OffsetClock()):
            await _wait_for_count(pool, "SELECT count(*) FROM fills", 1)
    finally:
        await redis.aclose()
    assert await pool.fetchval("SELECT status FROM orders WHERE id = $1", order_id) == "filled"
    balances = dict(await pool.fetch("SELECT asset, amount FROM balances WHERE account_id = $1", account_id))
    assert balances == {"USDT": Decimal(400), "BTC": Decimal(1)}


async def test_an_entry_that_cannot_be_applied_is_recorded_and_does_not_block_the_next(
    database: str, prefix: str, pool: asyncpg.Pool
) -> None:
    account_id = await _account(pool)
    bad, good = uuid.uuid4(), uuid.uuid4()
    for order_id, symbol in ((bad, "BTCUSDT"), (good, "BTC-USDT")):  # the first is not BASE-QUOTE
        await pool.execute(
            "INSERT INTO orders (id, account_id, exchange, symbol, side, type, time_in_force, quantity, "
            "limit_price, status, created_ns) VALUES ($1, $2, 'binance', $3, 'buy', 'limit', 'gtc', 1, 100, "
            "'pending_new', 1)",
            order_id,
            account_id,
            symbol,
        )
    settings = make_settings(database, prefix)
    redis = aioredis.from_url(settings.redis_url)
    try:
        async with serve_api(settings, OffsetClock()):
            for order_id in (bad, good):
                await redis.xadd(
                    settings.order_events_stream,
                    {
                        "v": "1",
                        "order_id": str(order_id),
                        "type": "filled",
                        "ts_ns": "1",
                        "fill_id": "f",
                        "price": "100",
                        "qty": "1",
                    },
                )
            await _wait_for_count(pool, "SELECT count(*) FROM order_events", 2)
            for _ in range(200):  # acknowledged right after each entry's transaction commits
                pending = await redis.xpending(settings.order_events_stream, "alphapulse-api")
                if pending["pending"] == 0:
                    break
                await asyncio.sleep(0.05)
    finally:
        await redis.aclose()
    outcomes = dict(await pool.fetch("SELECT type, outcome FROM order_events"))
    assert outcomes["error"].startswith("error: ValueError")
    assert outcomes["filled"] == "applied"
    assert await pool.fetchval("SELECT status FROM orders WHERE id = $1", good) == "filled"
    assert await pool.fetchval("SELECT count(*) FROM fills WHERE order_id = $1", bad) == 0  # rolled back
    assert pending["pending"] == 0
