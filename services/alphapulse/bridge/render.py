"""Bridge → client events as compact JSON bytes: exact decimal strings, integer ns timestamps.

Pure functions; each event is serialized once and the same bytes go to every subscriber.
Field names match ``alphapulse tap --json`` so one vocabulary serves tools, APIs and the browser.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import orjson

from alphapulse.protocol import Exchange, FeedState, GapReason, from_fixed

__all__ = (
    "InstrumentInfo",
    "render_book",
    "render_client_gap",
    "render_error",
    "render_feed_gap",
    "render_quote",
    "render_reply",
    "render_status",
    "render_trade",
)

SIDES: Final = ("unknown", "buy", "sell")
GAP_REASONS: Final = {r.value: r.name.lower() for r in GapReason}
FEED_STATES: Final = {s.value: s.name.lower() for s in FeedState}
EXCHANGE_NAMES: Final = {e.value: e.name.lower() for e in Exchange}


@dataclass(frozen=True, slots=True)
class InstrumentInfo:
    symbol_id: int
    exchange: str
    symbol: str
    price_scale: int
    qty_scale: int


def render_trade(
    info: InstrumentInfo,
    seq: int,
    side: int,
    trade_id: int,
    ts_exchange_ns: int,
    ts_recv_ns: int,
    price: int,
    qty: int,
    snapshot: bool,
) -> bytes:
    event: dict[str, object] = {
        "type": "trade",
        "exchange": info.exchange,
        "symbol": info.symbol,
        "seq": seq,
        "ts_exchange_ns": ts_exchange_ns,
        "ts_recv_ns": ts_recv_ns,
        "side": SIDES[side] if side < 3 else "unknown",
        "price": from_fixed(price, info.price_scale),
        "qty": from_fixed(qty, info.qty_scale),
        "trade_id": trade_id,
    }
    if snapshot:
        event["snapshot"] = True  # a historical trade from the venue's snapshot, not a live print
    return orjson.dumps(event)


def render_quote(
    info: InstrumentInfo,
    seq: int,
    ts_exchange_ns: int,
    ts_recv_ns: int,
    bid_price: int,
    bid_qty: int,
    ask_price: int,
    ask_qty: int,
) -> bytes:
    ps, qs = info.price_scale, info.qty_scale
    return orjson.dumps(
        {
            "type": "quote",
            "exchange": info.exchange,
            "symbol": info.symbol,
            "seq": seq,
            "ts_exchange_ns": ts_exchange_ns,
            "ts_recv_ns": ts_recv_ns,
            "bid_price": from_fixed(bid_price, ps),
            "bid_qty": from_fixed(bid_qty, qs),
            "ask_price": from_fixed(ask_price, ps),
            "ask_qty": from_fixed(ask_qty, qs),
        }
    )


def render_book(
    info: InstrumentInfo,
    seq: int,
    ts_exchange_ns: int,
    ts_recv_ns: int,
    bids: Iterable[tuple[int, int]],
    asks: Iterable[tuple[int, int]],
) -> bytes:
    """The top of one book: ``bids`` best (highest) first, ``asks`` best (lowest) first."""
    ps, qs = info.price_scale, info.qty_scale
    return orjson.dumps(
        {
            "type": "book",
            "exchange": info.exchange,
            "symbol": info.symbol,
            "seq": seq,
            "ts_exchange_ns": ts_exchange_ns,
            "ts_recv_ns": ts_recv_ns,
            "bids": [[from_fixed(p, ps), from_fixed(q, qs)] for p, q in bids],
            "asks": [[from_fixed(p, ps), from_fixed(q, qs)] for p, q in asks],
        }
    )


def render_feed_gap(
    *,
    exchange: str | None,
    feed: str | None,
    symbol: str | None,
    reason: int,
    seq: int,
    first: int,
    count: int | None,
    ts_ns: int,
) -> bytes:
    """Data was lost upstream (venue, collector, relay or the bridge's own relay connection)."""
    return orjson.dumps(
        {
            "type": "gap",
            "exchange": exchange,
            "feed": feed,
            "symbol": symbol,
            "reason": GAP_REASONS.get(reason, "unknown"),
            "seq": seq,
            "first": first,
            "count": count,
            "ts_ns": ts_ns,
        }
    )


def render_client_gap(info: InstrumentInfo, channel: str, count: int, first_seq: int, ts_ns: int) -> bytes:
    """The bridge skipped ``count`` events of one channel for this client only (it was not reading)."""
    return orjson.dumps(
        {
            "type": "gap",
            "exchange": info.exchange,
            "feed": None,
            "symbol": info.symbol,
            "channel": channel,
            "reason": "slow_client",
            "seq": first_seq,
            "first": first_seq,
            "count": count,
            "ts_ns": ts_ns,
        }
    )


def render_status(exchange: str | None, feed: str | None, state: int, reconnects: int, ts_ns: int) -> bytes:
    return orjson.dumps(
        {
            "type": "status",
            "exchange": exchange,
            "feed": feed,
            "state": FEED_STATES.get(state, "unknown"),
            "reconnects": reconnects,
            "ts_ns": ts_ns,
        }
    )


def render_reply(kind: str, request_id: int | str | None, **fields: object) -> bytes:
    """A reply to a client request (``welcome``, ``subscribed``, ``unsubscribed``, ``pong``)."""
    return orjson.dumps({"type": kind, "id": request_id, **fields})


def render_error(code: str, message: str, request_id: int | str | None) -> bytes:
    """A refused request that does not end the connection (e.g. the subscription limit)."""
    return orjson.dumps({"type": "error", "code": code, "message": message, "id": request_id})
