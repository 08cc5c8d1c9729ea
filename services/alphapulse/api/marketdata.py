"""Reads of the storage issue's market-data tables (instruments, trades, quotes, gaps).

The SQL matching the storage schema lives here and nowhere else, so a renamed column is a
one-file change. Hot reads (latest quotes, candles) go through a short Redis cache: many
dashboards asking the same question in the same second cost the database one query.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import msgspec
import redis.asyncio as aioredis

from alphapulse.api.schemas import CandleOut, FeedHealthOut, InstrumentOut, QuoteOut, TradeOut

__all__ = (
    "CANDLE_INTERVALS_S",
    "MarketData",
    "Marks",
    "candle_window",
)

CANDLE_INTERVALS_S = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14_400, "1d": 86_400}

_TS_NS = "(extract(epoch FROM {col}) * 1000000000)::bigint"

_INSTRUMENTS_SQL = """
SELECT exchange, symbol, native_symbol, price_increment, qty_increment
FROM instruments
WHERE ($1::text IS NULL OR exchange = $1)
ORDER BY exchange, symbol
"""

# One index probe per instrument (quotes is large; DISTINCT ON would scan it).
_LATEST_QUOTES_SQL = f"""
SELECT i.exchange, i.symbol, q.bid_price, q.bid_qty, q.ask_price, q.ask_qty,
       {_TS_NS.format(col="q.ts_exchange")} AS ts_exchange_ns, {_TS_NS.format(col="q.ts_recv")} AS ts_recv_ns
FROM instruments i
CROSS JOIN LATERAL (
    SELECT bid_price, bid_qty, ask_price, ask_qty, ts_exchange, ts_recv FROM quotes
    WHERE quotes.exchange = i.exchange AND quotes.symbol = i.symbol
    ORDER BY ts_recv DESC LIMIT 1
) q
ORDER BY i.exchange, i.symbol
"""

_LAST_TRADES_SQL = """
SELECT i.exchange, i.symbol, t.price
FROM instruments i
CROSS JOIN LATERAL (
    SELECT price FROM trades WHERE trades.exchange = i.exchange AND trades.symbol = i.symbol
    ORDER BY ts_exchange DESC LIMIT 1
) t
"""

_TRADES_SQL = f"""
SELECT exchange, symbol, trade_id, side, price, qty,
       {_TS_NS.format(col="ts_exchange")} AS ts_exchange_ns, {_TS_NS.format(col="ts_recv")} AS ts_recv_ns
FROM trades
WHERE exchange = $1 AND symbol = $2 AND ts_exchange >= $3 AND ts_exchange < $4
  AND (ts_exchange, trade_id) > ($5, $6)
ORDER BY ts_exchange, trade_id
LIMIT $7
"""

# Plain-PostgreSQL bucketing (TimescaleDB's time_bucket is not assumed); buckets align to the epoch.
_CANDLES_SQL = """
SELECT to_timestamp(floor(extract(epoch FROM ts_exchange) / $3) * $3) AS ts,
       (array_agg(price ORDER BY ts_exchange, trade_id))[1] AS open,
       max(price) AS high,
       min(price) AS low,
       (array_agg(price ORDER BY ts_exchange DESC, trade_id DESC))[1] AS close,
       sum(qty) AS volume,
       count(*) AS trades
FROM trades
WHERE exchange = $1 AND symbol = $2 AND ts_exchange >= $4 AND ts_exchange < $5
GROUP BY 1
ORDER BY 1
"""

_HEALTH_SQL = """
SELECT i.exchange, i.symbol,
       extract(epoch FROM now() - last.ts_recv)::float8 AS last_trade_age_s,
       recent.n AS trades_1m,
       recent.p50_ms, recent.p99_ms
FROM instruments i
LEFT JOIN LATERAL (
    SELECT ts_recv FROM trades WHERE trades.exchange = i.exchange AND trades.symbol = i.symbol
    ORDER BY ts_exchange DESC LIMIT 1
) last ON true
LEFT JOIN LATERAL (
    SELECT count(*) AS n,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM ts_recv - ts_exchange) * 1000) AS p50_ms,
           percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM ts_recv - ts_exchange) * 1000) AS p99_ms
    FROM trades
    WHERE trades.exchange = i.exchange AND trades.symbol = i.symbol AND ts_exchange >= now() - interval '1 minute'
) recent ON true
WHERE ($1::text IS NULL OR i.exchange = $1)
ORDER BY i.exchange, i.symbol
"""

_GAPS_SQL = """
SELECT exchange, symbol, count(*) AS n FROM gaps
WHERE ts_recv >= now() - interval '1 hour'
GROUP BY exchange, symbol
"""


def candle_window(
    *, interval_s: int, start_s: int | None, end_s: int | None, now_s: int, limit: int
) -> tuple[int, int]:
    """The ``[start, end)`` seconds a candles page covers: aligned to buckets, at most ``limit`` buckets.

    Without an end, the page ends after the current (still open) bucket, so that one cache key serves
    everyone for the life of that bucket.
    """
    end = end_s if end_s is not None else (now_s // interval_s + 1) * interval_s
    end = -(-end // interval_s) * interval_s
    start = start_s if start_s is not None else end - limit * interval_s
    start = start // interval_s * interval_s
    return start, min(end, start + limit * interval_s)


def _dt(seconds: int | float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


@dataclass(frozen=True, slots=True)
class Marks:
    """Mark prices: quote mid where both sides exist, otherwise the last trade."""

    by_symbol: dict[tuple[str, str], Decimal]

    def price(self, exchange: str, symbol: str) -> Decimal | None:
        return self.by_symbol.get((exchange, symbol))

    def asset_price(
        self, asset: str, base_currency: str, prefer_exchange: str | None = None
    ) -> Decimal | None:
        symbol = f"{asset}-{base_currency}"
        if prefer_exchange and (p := self.by_symbol.get((prefer_exchange, symbol))) is not None:
            return p
        candidates = sorted((ex, p) for (ex, sym), p in self.by_symbol.items() if sym == symbol)
        return candidates[0][1] if candidates else None


class MarketData:
    def __init__(
        self,
        pool: asyncpg.Pool,
        redis: "aioredis.Redis",
        *,
        prefix: str,
        quotes_ttl_ms: int,
        candles_ttl_ms: int,
    ) -> None:
        self._pool = pool
        self._redis = redis
        self._prefix = prefix
        self._quotes_ttl_ms = quotes_ttl_ms
        self._candles_ttl_ms = candles_ttl_ms
        self._quotes_decoder = msgspec.json.Decoder(list[QuoteOut])
        self._candles_decoder = msgspec.json.Decoder(list[CandleOut])

    async def _tables_exist(self, *tables: str) -> bool:
        missing = await self._pool.fetchval(
            "SELECT count(*) FROM unnest($1::text[]) AS t WHERE to_regclass(t) IS NULL", list(tables)
        )
        return int(missing) == 0

    async def _cached(self, key: str, ttl_ms: int, load: Callable[[], Awaitable[bytes]]) -> bytes:
        if ttl_ms > 0:
            hit = await self._redis.get(key)
            if hit is not None:
                return bytes(hit)
        value = await load()
        if ttl_ms > 0:
            await self._redis.set(key, value, px=ttl_ms)
        return value

    async def instruments(self, exchange: str | None) -> list[InstrumentOut]:
        if not await self._tables_exist("instruments"):
            return []
        rows = await self._pool.fetch(_INSTRUMENTS_SQL, exchange)
        return [InstrumentOut(**dict(r)) for r in rows]

    async def latest_quotes(self) -> list[QuoteOut]:
        async def load() -> bytes:
            if not await self._tables_exist("instruments", "quotes"):
                return b"[]"
            rows = await self._pool.fetch(_LATEST_QUOTES_SQL)
            return msgspec.json.encode([QuoteOut(**dict(r)) for r in rows])

        raw = await self._cached(f"{self._prefix}cache:quotes:latest", self._quotes_ttl_ms, load)
        return self._quotes_decoder.decode(raw)

    async def marks(self) -> Marks:
        by_symbol: dict[tuple[str, str], Decimal] = {}
        if await self._tables_exist("instruments", "trades"):
            for r in await self._pool.fetch(_LAST_TRADES_SQL):
                by_symbol[(r["exchange"], r["symbol"])] = r["price"]
        for q in await self.latest_quotes():
            if q.bid_price is not None and q.ask_price is not None:
                by_symbol[(q.exchange, q.symbol)] = (q.bid_price + q.ask_price) / 2
        return Marks(by_symbol)

    async def trades(
        self,
        *,
        exchange: str,
        symbol: str,
        start: datetime,
        end: datetime,
        after: tuple[datetime, int],
        limit: int,
    ) -> list[TradeOut]:
        if not await self._tables_exist("trades"):
            return []
        rows = await self._pool.fetch(_TRADES_SQL, exchange, symbol, start, end, after[0], after[1], limit)
        return [TradeOut(**dict(r)) for r in rows]

    async def candles(
        self, *, exchange: str, symbol: str, interval_s: int, start_s: int, end_s: int
    ) -> list[CandleOut]:
        async def load() -> bytes:
            if not await self._tables_exist("trades"):
                return b"[]"
            rows = await self._pool.fetch(
                _CANDLES_SQL, exchange, symbol, interval_s, _dt(start_s), _dt(end_s)
            )
            return msgspec.json.encode([CandleOut(**dict(r)) for r in rows])

        key = f"{self._prefix}cache:candles:{exchange}:{symbol}:{interval_s}:{start_s}:{end_s}"
        return self._candles_decoder.decode(await self._cached(key, self._candles_ttl_ms, load))

    async def feed_health(self, exchange: str | None) -> list[FeedHealthOut]:
        if not await self._tables_exist("instruments", "trades"):
            return []
        rows = await self._pool.fetch(_HEALTH_SQL, exchange)
        gaps: dict[tuple[str, str], int] | None = None
        if await self._tables_exist("gaps"):
            try:
                gaps = {(r["exchange"], r["symbol"]): int(r["n"]) for r in await self._pool.fetch(_GAPS_SQL)}
            except asyncpg.UndefinedColumnError:
                gaps = None  # a gaps table of another shape: report "unknown" rather than fail
        reported: dict[str, dict[str, str]] = {}
        for ex in sorted({r["exchange"] for r in rows}):
            raw = await self._redis.hgetall(f"{self._prefix}feed-status:{ex}")
            reported[ex] = {
                (k.decode() if isinstance(k, bytes) else str(k)): (
                    v.decode() if isinstance(v, bytes) else str(v)
                )
                for k, v in raw.items()
            }
        out = []
        for r in rows:
            key = (r["exchange"], r["symbol"])
            age = r["last_trade_age_s"]
            out.append(
                FeedHealthOut(
                    exchange=r["exchange"],
                    symbol=r["symbol"],
                    status=_status(age, reported[r["exchange"]].get("status")),
                    last_trade_age_s=None if age is None else round(float(age), 3),
                    trades_per_s_1m=round(int(r["trades_1m"] or 0) / 60, 3),
                    latency_p50_ms_1m=_round(r["p50_ms"]),
                    latency_p99_ms_1m=_round(r["p99_ms"]),
                    gaps_1h=None if gaps is None else gaps.get(key, 0),
                    reported=reported[r["exchange"]],
                )
            )
        return out


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


def _status(age_s: float | None, reported: str | None) -> Any:
    """``down`` if the collector says so; otherwise from how old the last trade is."""
    if reported in {"down", "disconnected"}:
        return "down"
    if age_s is None:
        return "unknown"
    if age_s < 60:
        return "live"
    return "stale" if age_s < 900 else "down"
