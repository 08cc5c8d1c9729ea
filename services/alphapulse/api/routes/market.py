"""``/api/instruments``, ``/api/feeds``, ``/api/quotes/latest``, ``/api/trades``, ``/api/candles``."""

from datetime import UTC, datetime, timedelta
from typing import Literal

import msgspec
from litestar import Controller, MediaType, Response, get
from litestar.exceptions import ValidationException
from litestar.openapi import ResponseSpec
from litestar.params import FromQuery

from alphapulse.api.cursor import encode_cursor
from alphapulse.api.deps import Ctx, CurrentUser, Market
from alphapulse.api.marketdata import CANDLE_INTERVALS_S, MarketData, candle_window
from alphapulse.api.routes.params import (
    Cursor,
    ExchangeFilter,
    ExchangeQ,
    Limit,
    SymbolFilter,
    SymbolQ,
    TimeQ,
    aware,
    parse_cursor,
    time_us,
)
from alphapulse.api.schemas import CandlesPage, FeedHealthOut, FeedOut, InstrumentOut, QuoteOut, TradesPage

__all__ = ("MarketController",)

Interval = Literal["1m", "5m", "15m", "1h", "4h", "1d"]
_NS = 1_000_000_000


def provide_market(ctx: Ctx) -> MarketData:
    return MarketData(
        ctx.pool,
        ctx.redis,
        prefix=ctx.settings.key_prefix,
        quotes_ttl_ms=ctx.settings.quotes_cache_ttl_ms,
        candles_ttl_ms=ctx.settings.candles_cache_ttl_ms,
    )


class _RawCandlesPage(msgspec.Struct):
    """:class:`CandlesPage` with the items already JSON (from the cache): spliced, not re-encoded."""

    exchange: str
    symbol: str
    interval: str
    items: msgspec.Raw
    next_cursor: str | None


class MarketController(Controller):
    path = "/api"
    tags = ["market data"]  # noqa: RUF012

    @get("/instruments", summary="Instruments known to the store")
    async def instruments(
        self, principal: CurrentUser, market: Market, exchange: ExchangeFilter = None
    ) -> list[InstrumentOut]:
        return await market.instruments(exchange)

    @get("/feeds", summary="Exchanges and their symbols")
    async def feeds(self, principal: CurrentUser, market: Market) -> list[FeedOut]:
        by_exchange: dict[str, list[str]] = {}
        for inst in await market.instruments(None):
            by_exchange.setdefault(inst.exchange, []).append(inst.symbol)
        return [FeedOut(exchange=ex, symbols=syms) for ex, syms in sorted(by_exchange.items())]

    @get("/feeds/health", summary="Per-symbol feed status, trade rate, exchange latency and gaps")
    async def feed_health(
        self, principal: CurrentUser, market: Market, ctx: Ctx, exchange: ExchangeFilter = None
    ) -> list[FeedHealthOut]:
        return await market.feed_health(exchange, now_ns=ctx.clock.now_ns())

    @get(
        "/quotes/latest",
        summary="Latest top-of-book per instrument (cached for a second)",
        responses={
            200: ResponseSpec(
                data_container=list[QuoteOut],
                description="latest quote per instrument",
                generate_examples=False,
            )
        },
    )
    async def latest_quotes(
        self,
        *,
        principal: CurrentUser,
        market: Market,
        exchange: ExchangeFilter = None,
        symbol: SymbolFilter = None,
    ) -> Response[bytes]:
        if exchange is None and symbol is None:  # the hot path: the cached document as it is
            return Response(await market.latest_quotes_json(), media_type=MediaType.JSON)
        quotes = [
            q
            for q in await market.latest_quotes()
            if (exchange is None or q.exchange == exchange) and (symbol is None or q.symbol == symbol)
        ]
        return Response(msgspec.json.encode(quotes), media_type=MediaType.JSON)

    @get("/trades", summary="Trade history, oldest first, keyset-paginated")
    async def trades(
        self,
        *,
        principal: CurrentUser,
        market: Market,
        ctx: Ctx,
        exchange: ExchangeQ,
        symbol: SymbolQ,
        start: TimeQ = None,
        end: TimeQ = None,
        limit: Limit = 500,
        cursor: Cursor = None,
    ) -> TradesPage:
        now = datetime.fromtimestamp(ctx.clock.now_ns() / _NS, tz=UTC)
        end_dt = aware(end, "end") or now + timedelta(seconds=1)
        start_dt = aware(start, "start") or end_dt - timedelta(hours=1)
        if start_dt >= end_dt:
            raise ValidationException("start must be before end")
        after_ts, after_id = start_dt - timedelta(microseconds=1), -(2**63)
        if (decoded := parse_cursor("trades", cursor, "ti")) is not None:
            after_ts, after_id = decoded
        keyed = await market.trades(
            exchange=exchange,
            symbol=symbol,
            start=start_dt,
            end=end_dt,
            after=(after_ts, after_id),
            limit=limit,
        )
        next_cursor = None
        if len(keyed) == limit:
            last_time, last = keyed[-1]
            next_cursor = encode_cursor("trades", time_us(last_time), last.trade_id)
        return TradesPage(items=[t for _, t in keyed], next_cursor=next_cursor)

    @get(
        "/candles",
        summary="OHLCV candles aggregated from trades; pages move forward in time",
        responses={
            200: ResponseSpec(data_container=CandlesPage, description="one page of candles", generate_examples=False)
        },
    )
    async def candles(
        self,
        *,
        principal: CurrentUser,
        market: Market,
        ctx: Ctx,
        exchange: ExchangeQ,
        symbol: SymbolQ,
        interval: FromQuery[Interval] = "1m",
        start: TimeQ = None,
        end: TimeQ = None,
        limit: Limit = 500,
        cursor: Cursor = None,
    ) -> Response[bytes]:
        interval_s = CANDLE_INTERVALS_S[interval]
        start_dt, end_dt = aware(start, "start"), aware(end, "end")
        start_s = None if start_dt is None else int(start_dt.timestamp())
        end_s = None if end_dt is None else int(end_dt.timestamp())
        if (decoded := parse_cursor(f"candles-{interval}", cursor, "t")) is not None:
            start_s = int(decoded[0].timestamp())
        if start_s is not None and end_s is not None and start_s >= end_s:
            raise ValidationException("start must be before end")
        now_s = ctx.clock.now_ns() // _NS
        page_start, page_end = candle_window(
            interval_s=interval_s, start_s=start_s, end_s=end_s, now_s=now_s, limit=limit
        )
        items = await market.candles_json(
            exchange=exchange,
            symbol=symbol,
            interval_s=interval_s,
            start_s=page_start,
            end_s=page_end,
            now_s=now_s,
        )
        requested_end = end_s if end_s is not None else (now_s // interval_s + 1) * interval_s
        next_cursor = encode_cursor(f"candles-{interval}", page_end * 1_000_000) if page_end < requested_end else None
        page = _RawCandlesPage(
            exchange=exchange,
            symbol=symbol,
            interval=interval,
            items=msgspec.Raw(items),
            next_cursor=next_cursor,
        )
        return Response(msgspec.json.encode(page), media_type=MediaType.JSON)
