"""Real PostgreSQL, Redis and a real HTTP server for the API tests.

Every test gets its own database (cloned from a migrated template, so it is quick) and its own
Redis key prefix; both are removed afterwards.
"""

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import argon2
import asyncpg
import httpx
import redis.asyncio as aioredis
import uvicorn

from alphapulse.api.app import create_asgi
from alphapulse.api.passwords import PasswordHasher
from alphapulse.api.server import uvicorn_config
from alphapulse.api.settings import ApiSettings, RiskLimits
from alphapulse.clock import SystemClock

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"
REPO = Path(__file__).resolve().parents[4]
TEST_PASSWORD = "correct-horse-battery-staple"


def dsn(database: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{database}"


async def apply_schema(database: str) -> None:
    """The project's migrations, through the same runner the services use."""
    from alphapulse.store.migrate import migrate

    await migrate(dsn(database))


async def create_database(name: str, *, template: str | None = None) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    finally:
        await conn.close()


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def clear_redis_prefix(prefix: str) -> None:
    r = aioredis.from_url(REDIS_URL)
    try:
        keys = [k async for k in r.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await r.delete(*keys)
    finally:
        await r.aclose()


class OffsetClock(SystemClock):
    """The system clock, moved forward on demand (session expiry without sleeping)."""

    def __init__(self) -> None:
        self.offset_ns = 0

    def advance(self, seconds: float) -> None:
        self.offset_ns += int(seconds * 1_000_000_000)

    def now_ns(self) -> int:
        return super().now_ns() + self.offset_ns


def make_settings(database: str, prefix: str, **changes: Any) -> ApiSettings:
    values: dict[str, Any] = {
        "session_secret": b"s" * 48,
        "bridge_secret": b"b" * 48,
        "key_prefix": prefix,
        "cookie_secure": False,  # httpx only sends Secure cookies over https; production keeps it on
        "equity_snapshot_interval_s": 0.0,
        "access_log": False,
        "frontend_dir": Path("/nonexistent/frontend/dist"),
        "risk": RiskLimits(max_order_qty=None, max_order_notional=Decimal(1_000_000)),
    }
    values.update(changes)
    return ApiSettings(database_url=dsn(database), redis_url=REDIS_URL, **values)


CHEAP_HASHER = PasswordHasher(argon2.profiles.CHEAPEST)


@dataclass
class RunningApi:
    base_url: str
    settings: ApiSettings
    clock: OffsetClock
    pool: asyncpg.Pool
    redis: "aioredis.Redis"

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=10)


@asynccontextmanager
async def serve_api(settings: ApiSettings, clock: OffsetClock) -> AsyncIterator[str]:
    """Uvicorn on 127.0.0.1, an ephemeral port, in this event loop."""
    # the cheap argon2 profile keeps the suite fast; the hashing itself is real
    asgi = create_asgi(settings, clock=clock, hasher=CHEAP_HASHER)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # the production config (proxy headers as the settings say), on the harness's socket
    config = uvicorn_config(asgi, settings)
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[sock]), name="test.uvicorn")
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if task.done():
            task.result()
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
        sock.close()


async def login(client: httpx.AsyncClient, username: str, password: str = TEST_PASSWORD) -> httpx.Response:
    return await client.post("/api/auth/login", json={"username": username, "password": password})


def new_name(kind: str) -> str:
    return f"ap_{kind}_{uuid.uuid4().hex[:10]}"


INSTRUMENTS = {  # (exchange, symbol) -> (instrument_id, price_scale, qty_scale)
    ("binance", "BTC-USDT"): (101, 2, 5),
    ("binance", "ETH-USDT"): (102, 2, 4),
    ("kraken", "BTC-USDT"): (201, 1, 8),
}


async def seed_market(pool: asyncpg.Pool, *, now_s: float, trades_per_symbol: int = 120) -> None:
    """Two venues, three instruments, quotes, and one trade a second up to ``now_s``."""
    from datetime import UTC, datetime, timedelta

    await pool.executemany(
        "INSERT INTO instruments (instrument_id, exchange, symbol, price_scale, qty_scale) VALUES ($1, $2, $3, $4, $5)",
        [(iid, ex, sym, ps, qs) for (ex, sym), (iid, ps, qs) in INSTRUMENTS.items()],
    )
    now_ns = int(now_s * 1e9)
    quotes = []
    for exchange, symbol, bid, ask in (
        ("binance", "BTC-USDT", "64000.00", "64001.00"),
        ("binance", "ETH-USDT", "3000.00", "3000.50"),
        ("kraken", "BTC-USDT", "64010.0", "64012.0"),
    ):
        for age_s in (5, 1):  # an older quote, then the latest
            recv_ns = now_ns - age_s * 10**9
            exch_ns = recv_ns - 3_000_000
            quotes.append(
                (
                    datetime.fromtimestamp(exch_ns / 1e9, tz=UTC),
                    INSTRUMENTS[(exchange, symbol)][0],
                    Decimal(bid) - age_s,
                    Decimal("1.5"),
                    Decimal(ask) - age_s,
                    Decimal("2.5"),
                    age_s,
                    exch_ns,
                    recv_ns,
                )
            )
    await pool.executemany(
        "INSERT INTO quotes (time, instrument_id, bid_price, bid_qty, ask_price, ask_qty, seq, ts_exchange_ns, "
        "ts_recv_ns) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        quotes,
    )
    trades = []
    for (exchange, symbol), base in (
        (("binance", "BTC-USDT"), 64000),
        (("binance", "ETH-USDT"), 3000),
        (("kraken", "BTC-USDT"), 64010),
    ):
        for i in range(trades_per_symbol):
            exch_ns = now_ns - (trades_per_symbol - i) * 10**9
            exch_ns -= exch_ns % 1000  # microsecond times, as the writer stores them
            price = Decimal(base) + Decimal(i % 7) - 3
            trades.append(
                (
                    datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=exch_ns // 1000),
                    INSTRUMENTS[(exchange, symbol)][0],
                    1000 + i,
                    "buy" if i % 2 else "sell",
                    price,
                    Decimal("0.01") * (1 + i % 3),
                    i,
                    exch_ns,
                    exch_ns + (2 + i % 5) * 1_000_000,
                )
            )
    await insert_trades(pool, trades)


async def insert_trades(pool: asyncpg.Pool, rows: list[tuple[Any, ...]]) -> None:
    """Rows of (time, instrument_id, trade_id, side, price, qty, seq, ts_exchange_ns, ts_recv_ns)."""
    await pool.executemany(
        "INSERT INTO trades (time, instrument_id, trade_id, side, price, qty, seq, ts_exchange_ns, ts_recv_ns) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        rows,
    )


async def create_account(
    client: httpx.AsyncClient,
    owner: str,
    *,
    usdt: str = "100000",
    name: str = "paper-1",
    extra: list[dict[str, str]] | None = None,
) -> int:
    """Through the API (the caller must be logged in as admin)."""
    resp = await client.post(
        "/api/accounts",
        json={
            "name": name,
            "owner": owner,
            "base_currency": "USDT",
            "balances": [{"asset": "USDT", "amount": usdt}, *(extra or [])],
        },
    )
    assert resp.status_code == 201, resp.text
    account_id: int = resp.json()["id"]
    return account_id
