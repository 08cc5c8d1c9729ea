"""Reads of the storage issue's market-data tables (instruments, trades, quotes, gaps, feed_events).

The SQL matching the storage schema lives here and nowhere else, so a renamed column is a
one-file change. Hot reads (latest quotes, candles) go through a short Redis cache: many
dashboards asking the same question in the same second cost the database one query.
"""

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import msgspec
import redis.asyncio as aioredis

from alphapulse.api.schemas import CandleOut, FeedHealthOut, InstrumentOut, QuoteOut, TradeOut

__all__ = (
    "CANDLE_CHUNK_BUCKETS",
    "CANDLE_INTERVALS_S",
    "CANDLE_SETTLE_S",
    "CLOSED_CANDLES_TTL_MS",
    "MarketData",
    "Marks",
    "candle_pieces",
    "candle_window",
)

log = logging.getLogger(__name__)
_NS = 1_000_000_000
CLOSED_CANDLES_TTL_MS = 3_600_000
# How long past its freshness a cached entry may still be served while it is being reloaded.
STALE_GRACE_MS = 30_000
CANDLE_CHUNK_BUCKETS = 60
# A bucket is treated as closed this long after its end: late trades (a reconnect's backfill) land first.
CANDLE_SETTLE_S = 60
CANDLE_INTERVALS_S = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14_400, "1d": 86_400}

_INSTRUMENTS_SQL = """
SELECT exchange, symbol, price_scale, qty_scale
FROM instruments
WHERE ($1::text IS NULL OR exchange = $1)
ORDER BY exchange, symbol
"""

# One index probe per instrument on (instrument_id, time DESC): DISTINCT ON would scan the table.
_LATEST_QUOTES_SQL = """
SELECT i.exchange, i.symbol, q.bid_price, q.bid_qty, q.ask_price, q.ask_qty, q.ts_exchange_ns, q.ts_recv_ns
FROM instruments i
CROSS JOIN LATERAL (
    SELECT bid_price, bid_qty, ask_price, ask_qty, ts_exchange_ns, ts_recv_ns FROM quotes
    WHERE quotes.instrument_id = i.instrument_id
    ORDER BY time DESC LIMIT 1
) q
ORDER BY i.exchange, i.symbol
"""

_LAST_TRADES_SQL = """
SELECT i.exchange, i.symbol, t.price
FROM instruments i
CROSS JOIN LATERAL (
    SELECT price FROM trades WHERE trades.instrument_id = i.instrument_id ORDER BY time DESC LIMIT 1
) t
"""

_INSTRUMENT_ID_SQL = "SELECT instrument_id FROM instruments WHERE exchange = $1 AND symbol = $2"

_TRADES_SQL = """
SELECT time, trade_id, side, price, qty, ts_exchange_ns, ts_recv_ns
FROM trades
WHERE instrument_id = $1 AND time >= $2 AND time < $3 AND (time, trade_id) > ($4, $5)
ORDER BY time, trade_id
LIMIT $6
"""

# ap_candles (storage migration 0007): date_bin buckets anchored at the epoch, open/close by
# (exchange ns, trade id) -- the same definition the DuckDB analytics use.
_CANDLES_SQL = """
SELECT bucket AS ts, open, high, low, close, volume, notional, trades
FROM ap_candles($1::interval, $2, $3, ARRAY[$4::bigint])
ORDER BY bucket
"""

_HEALTH_SQL = """
SELECT i.exchange, i.symbol, last.ts_recv_ns AS last_recv_ns, recent.n AS trades_1m, recent.p50_ms, recent.p99_ms
FROM instruments i
LEFT JOIN LATERAL (
    SELECT ts_recv_ns FROM trades WHERE trades.instrument_id = i.instrument_id ORDER BY time DESC LIMIT 1
) last ON true
LEFT JOIN LATERAL (
    SELECT count(*) AS n,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY (ts_recv_ns - ts_exchange_ns) / 1e6) AS p50_ms,
           percentile_cont(0.99) WITHIN GROUP (ORDER BY (ts_recv_ns - ts_exchange_ns) / 1e6) AS p99_ms
    FROM trades
    WHERE trades.instrument_id = i.instrument_id AND time >= $2
) recent ON true
WHERE ($1::text IS NULL OR i.exchange = $1)
ORDER BY i.exchange, i.symbol
"""

_GAPS_SQL = "SELECT exchange, count(*) AS n FROM gaps WHERE time >= $1 GROUP BY exchange"

# The newest status event per exchange (a venue may have several feeds; the newest wins).
_FEED_EVENTS_SQL = """
SELECT DISTINCT ON (exchange) exchange, feed, kind, ts_ns
FROM feed_events WHERE exchange <> ''
ORDER BY exchange, time DESC
"""
_DOWN_EVENTS = frozenset({"disconnected", "reconnecting", "down", "error", "stopped"})


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


def candle_pieces(*, interval_s: int, start_s: int, end_s: int, now_s: int) -> list[tuple[int, int, bool]]:
    """How a candle page is computed and cached: ``(start, end, closed)`` pieces covering it.

    Pieces are chunks of ``CANDLE_CHUNK_BUCKETS`` buckets aligned to the epoch, so pages that
    overlap share them. A chunk whose buckets have all settled never changes (``closed``). The
    chunk still filling is split at the last settled bucket: its settled head is computed once per
    bucket interval, and only the short open tail is recomputed every few seconds.
    """
    chunk_s = interval_s * CANDLE_CHUNK_BUCKETS
    settled = max((now_s - CANDLE_SETTLE_S) // interval_s * interval_s, 0)
    pieces = []
    for chunk_start in range(start_s // chunk_s * chunk_s, end_s, chunk_s):
        chunk_end = chunk_start + chunk_s
        if chunk_end <= settled:
            pieces.append((chunk_start, chunk_end, True))
        elif chunk_start >= settled:
            pieces.append((chunk_start, chunk_end, False))
        else:
            pieces += [(chunk_start, settled, True), (settled, chunk_end, False)]
    return pieces


def _dt(seconds: int | float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


@dataclass(frozen=True, slots=True)
class Marks:
    """Mark prices: quote mid where both sides exist, otherwise the last trade."""

    by_symbol: dict[tuple[str, str], Decimal]

    def price(self, exchange: str, symbol: str) -> Decimal | None:
        return self.by_symbol.get((exchange, symbol))

    def asset_price(self, asset: str, base_currency: str, prefer_exchange: str | None = None) -> Decimal | None:
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
        self._inflight: dict[str, asyncio.Task[bytes]] = {}
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
        """A Redis read-through cache with single flight and stale-while-revalidate.

        An entry is fresh for ``ttl_ms``; after that it is still served (for up to
        ``STALE_GRACE_MS``) while one task per key and process reloads it in the background, so a
        hot key never makes its readers wait for the database. A miss (or an entry older than the
        grace) is loaded once, however many requests are waiting for it: without that, every
        request arriving during a reload runs the same query, the stampede that overloads the
        database at hundreds of requests/s.
        """
        if ttl_ms <= 0:
            return await load()
        hit = await self._redis.get(key)
        if hit is not None:
            fresh_until_ms, value = _unframe(hit if isinstance(hit, bytes) else hit.encode())
            if fresh_until_ms < time.time() * 1000:
                self._refresh(key, ttl_ms, load)  # served stale this once; the reload runs meanwhile
            return value
        # shield: a caller that goes away (client disconnect) does not cancel the others' load
        return await asyncio.shield(self._refresh(key, ttl_ms, load))

    def _refresh(self, key: str, ttl_ms: int, load: Callable[[], Awaitable[bytes]]) -> "asyncio.Task[bytes]":
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._fill(key, ttl_ms, load), name=f"api.cache-fill:{key}")
            self._inflight[key] = task
            task.add_done_callback(functools.partial(self._fill_done, key))
        return task

    async def _fill(self, key: str, ttl_ms: int, load: Callable[[], Awaitable[bytes]]) -> bytes:
        value = await load()
        fresh_until_ms = int(time.time() * 1000) + ttl_ms
        await self._redis.set(key, _frame(fresh_until_ms, value), px=ttl_ms + STALE_GRACE_MS)
        return value

    def _fill_done(self, key: str, task: "asyncio.Task[bytes]") -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled() and (exc := task.exception()) is not None:
            # a background reload's failure has no awaiting caller to report it: log it here
            log.warning("cache reload failed", extra={"key": key, "error": repr(exc)})

    async def instruments(self, exchange: str | None) -> list[InstrumentOut]:
        if not await self._tables_exist("instruments"):
            return []
        return [
            InstrumentOut(
                exchange=r["exchange"],
                symbol=r["symbol"],
                price_scale=r["price_scale"],
                qty_scale=r["qty_scale"],
                price_increment=Decimal(1).scaleb(-r["price_scale"]),
                qty_increment=Decimal(1).scaleb(-r["qty_scale"]),
            )
            for r in await self._pool.fetch(_INSTRUMENTS_SQL, exchange)
        ]

    async def instrument_id(self, exchange: str, symbol: str) -> int | None:
        if not await self._tables_exist("instruments"):
            return None
        value = await self._pool.fetchval(_INSTRUMENT_ID_SQL, exchange, symbol)
        return None if value is None else int(value)

    async def latest_quotes_json(self) -> bytes:
        """The latest quotes as the JSON array the API serves (cached: served without re-encoding)."""

        async def load() -> bytes:
            if not await self._tables_exist("instruments", "quotes"):
                return b"[]"
            rows = await self._pool.fetch(_LATEST_QUOTES_SQL)
            return msgspec.json.encode([QuoteOut(**dict(r)) for r in rows])

        return await self._cached(f"{self._prefix}cache:quotes:latest", self._quotes_ttl_ms, load)

    async def latest_quotes(self) -> list[QuoteOut]:
        return self._quotes_decoder.decode(await self.latest_quotes_json())

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
    ) -> list[tuple[datetime, TradeOut]]:
        """Trades with the ``time`` key each one sorts by (the next page's cursor)."""
        instrument_id = await self.instrument_id(exchange, symbol)
        if instrument_id is None or not await self._tables_exist("trades"):
            return []
        rows = await self._pool.fetch(_TRADES_SQL, instrument_id, start, end, after[0], after[1], limit)
        return [
            (
                r["time"],
                TradeOut(
                    exchange=exchange,
                    symbol=symbol,
                    trade_id=r["trade_id"],
                    side=r["side"],
                    price=r["price"],
                    qty=r["qty"],
                    ts_exchange_ns=r["ts_exchange_ns"],
                    ts_recv_ns=r["ts_recv_ns"],
                ),
            )
            for r in rows
        ]

    async def candles_json(
        self, *, exchange: str, symbol: str, interval_s: int, start_s: int, end_s: int, now_s: int
    ) -> bytes:
        """Candles in ``[start_s, end_s)`` as a JSON array.

        Two cache levels. The page itself is cached briefly (many dashboards showing the same chart
        cost one assembly per ``candles_ttl_ms``). Underneath, candles are computed in chunks of
        ``CANDLE_CHUNK_BUCKETS`` buckets aligned to the epoch: a chunk whose last bucket closed more
        than ``CANDLE_SETTLE_S`` ago never changes and is cached for ``CLOSED_CANDLES_TTL_MS``; only
        the chunk holding the open bucket is recomputed. A page of 500 one-minute candles thus costs
        the database one hour of trades, not 500 minutes of them, however busy the symbol.
        """

        async def assemble() -> bytes:
            instrument_id = await self.instrument_id(exchange, symbol)
            if instrument_id is None or not await self._tables_exist("trades"):
                return b"[]"
            items: list[CandleOut] = []
            for piece_start, piece_end, closed in candle_pieces(
                interval_s=interval_s, start_s=start_s, end_s=end_s, now_s=now_s
            ):
                raw = await self._cached(
                    f"{self._prefix}cache:candle-piece:{instrument_id}:{interval_s}:{piece_start}:{piece_end}",
                    CLOSED_CANDLES_TTL_MS if closed else self._candles_ttl_ms,
                    functools.partial(self._load_candles, instrument_id, interval_s, piece_start, piece_end),
                )
                items.extend(c for c in self._candles_decoder.decode(raw) if start_s <= c.ts.timestamp() < end_s)
            return msgspec.json.encode(items)

        key = f"{self._prefix}cache:candles:{exchange}:{symbol}:{interval_s}:{start_s}:{end_s}"
        page_closed = end_s + CANDLE_SETTLE_S <= now_s
        return await self._cached(key, CLOSED_CANDLES_TTL_MS if page_closed else self._candles_ttl_ms, assemble)

    async def _load_candles(self, instrument_id: int, interval_s: int, start_s: int, end_s: int) -> bytes:
        rows = await self._pool.fetch(
            _CANDLES_SQL, timedelta(seconds=interval_s), _dt(start_s), _dt(end_s), instrument_id
        )
        return msgspec.json.encode([CandleOut(**dict(r)) for r in rows])

    async def candles(
        self, *, exchange: str, symbol: str, interval_s: int, start_s: int, end_s: int, now_s: int
    ) -> list[CandleOut]:
        return self._candles_decoder.decode(
            await self.candles_json(
                exchange=exchange,
                symbol=symbol,
                interval_s=interval_s,
                start_s=start_s,
                end_s=end_s,
                now_s=now_s,
            )
        )

    async def feed_health(self, exchange: str | None, *, now_ns: int) -> list[FeedHealthOut]:
        if not await self._tables_exist("instruments", "trades"):
            return []
        rows = await self._pool.fetch(_HEALTH_SQL, exchange, _dt((now_ns - 60 * _NS) / _NS))
        gaps: dict[str, int] | None = None
        if await self._tables_exist("gaps"):
            since = _dt((now_ns - 3600 * _NS) / _NS)
            gaps = {r["exchange"]: int(r["n"]) for r in await self._pool.fetch(_GAPS_SQL, since)}
        events: dict[str, Any] = {}
        if await self._tables_exist("feed_events"):
            events = {r["exchange"]: r for r in await self._pool.fetch(_FEED_EVENTS_SQL)}
        out = []
        for r in rows:
            event = events.get(r["exchange"])
            age_s = None if r["last_recv_ns"] is None else max(0.0, (now_ns - r["last_recv_ns"]) / _NS)
            out.append(
                FeedHealthOut(
                    exchange=r["exchange"],
                    symbol=r["symbol"],
                    status=_status(age_s, None if event is None else event["kind"]),
                    last_trade_age_s=None if age_s is None else round(age_s, 3),
                    trades_per_s_1m=round(int(r["trades_1m"] or 0) / 60, 3),
                    latency_p50_ms_1m=_round(r["p50_ms"]),
                    latency_p99_ms_1m=_round(r["p99_ms"]),
                    gaps_1h=None if gaps is None else gaps.get(r["exchange"], 0),
                    last_feed_event=None if event is None else event["kind"],
                    last_feed_event_age_s=None
                    if event is None
                    else round(max(0.0, (now_ns - event["ts_ns"]) / _NS), 3),
                )
            )
        return out


def _frame(fresh_until_ms: int, value: bytes) -> bytes:
    return fresh_until_ms.to_bytes(8, "big") + value


def _unframe(raw: bytes) -> tuple[int, bytes]:
    return int.from_bytes(raw[:8], "big"), raw[8:]


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


def _status(age_s: float | None, last_event: str | None) -> Any:
    """``down`` if the feed's newest status event says so; otherwise from how old the last trade is."""
    if last_event in _DOWN_EVENTS:
        return "down"
    if age_s is None:
        return "unknown"
    if age_s < 60:
        return "live"
    return "stale" if age_s < 900 else "down"
