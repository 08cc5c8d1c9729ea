"""The PostgreSQL pool: asyncpg with JSON codecs; numerics come back as exact ``Decimal``."""

import asyncpg
import orjson

__all__ = ("REQUIRED_TABLES", "create_pool", "missing_tables")

# What the API cannot run without; the market-data tables are checked per request instead, so the
# API starts (and serves auth and trading) before the first collector has written anything.
REQUIRED_TABLES = (
    "users",
    "accounts",
    "balances",
    "orders",
    "fills",
    "order_events",
    "positions",
    "equity_history",
)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(
            typename, encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads, schema="pg_catalog"
        )


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool: asyncpg.Pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=30
    )
    return pool


async def missing_tables(pool: asyncpg.Pool, tables: tuple[str, ...] = REQUIRED_TABLES) -> list[str]:
    rows = await pool.fetch("SELECT t FROM unnest($1::text[]) AS t WHERE to_regclass(t) IS NULL", list(tables))
    return [r["t"] for r in rows]
