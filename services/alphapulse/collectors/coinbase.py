"""Coinbase Advanced Trade market data: ``market_trades``, ``ticker``, ``level2`` (on ``l2_data``), ``heartbeats``.

Loss detection: ``sequence_num`` is one counter per connection shared by every channel (heartbeats
and subscription acks included); a jump forward is a lost message: Gap(EXCHANGE) for the whole feed
and the level2 books are rebuilt (resubscribe; the new snapshot replaces them). A message whose number
is not above the last one is out of order and ignored, as the docs say. Messages are validated
completely before their number is accepted, so a rejected message shows as the gap it is.

Trade side: Coinbase does not document which party ``side`` names on ``market_trades``; cryptofeed
and bbgo treat it as the maker's side, and so do we: the frame carries the taker side, flipped
(docs/collectors.md). Timestamps carry up to nine fraction digits and are parsed exactly.
"""

from typing import Annotated, ClassVar

import msgspec
import orjson

from alphapulse.collectors.books import Book
from alphapulse.collectors.parsing import InstrumentSpec, Reject, VenueParser, fixed_str
from alphapulse.collectors.speedups import digits_or_neg, fixed_or_neg, rfc3339_or_neg
from alphapulse.collectors.timestamps import parse_rfc3339_ns
from alphapulse.protocol import Exchange, FeedState, GapReason, Side

__all__ = ("DEFAULT_REST_URL", "DEFAULT_URL", "CoinbaseParser")

DEFAULT_URL = "wss://advanced-trade-ws.coinbase.com"
DEFAULT_REST_URL = "https://api.coinbase.com"
TRADE_ID_MAX = (1 << 40) - 1
U64 = Annotated[int, msgspec.Meta(ge=0, le=(1 << 63) - 1)]  # ids and sequences: int64 at most


class _TradeItem(msgspec.Struct):
    trade_id: str
    product_id: str
    price: str
    size: str
    side: str
    time: str


class _TradesEvent(msgspec.Struct):
    trades: list[_TradeItem]
    type: str = "update"


class _Trades(msgspec.Struct, tag_field="channel", tag="market_trades"):
    sequence_num: U64
    events: list[_TradesEvent]
    timestamp: str = ""


class _TickerItem(msgspec.Struct):
    product_id: str
    best_bid: str | None = None
    best_bid_quantity: str | None = None
    best_ask: str | None = None
    best_ask_quantity: str | None = None


class _TickerEvent(msgspec.Struct):
    tickers: list[_TickerItem]
    type: str = "update"


class _Ticker(msgspec.Struct, tag_field="channel", tag="ticker"):
    sequence_num: U64
    events: list[_TickerEvent]
    timestamp: str = ""


class _Update(msgspec.Struct):
    side: str
    price_level: str
    new_quantity: str
    event_time: str = ""


class _L2Event(msgspec.Struct):
    type: str
    product_id: str
    updates: list[_Update]


class _L2(msgspec.Struct, tag_field="channel", tag="l2_data"):
    sequence_num: U64
    events: list[_L2Event]
    timestamp: str = ""


class _Heartbeats(msgspec.Struct, tag_field="channel", tag="heartbeats"):
    sequence_num: U64
    timestamp: str = ""


class _Subscriptions(msgspec.Struct, tag_field="channel", tag="subscriptions"):
    sequence_num: U64
    timestamp: str = ""


_Message = _Trades | _Ticker | _L2 | _Heartbeats | _Subscriptions
_decoder = msgspec.json.Decoder(_Message)
_KNOWN_CHANNELS = frozenset({"market_trades", "ticker", "l2_data", "heartbeats", "subscriptions"})
_TAKER_SIDE = {"BUY": int(Side.SELL), "SELL": int(Side.BUY)}  # `side` is the maker's: flip it
_BOOK_SIDE = {"bid": Side.BUY, "offer": Side.SELL}


def _trade_id(text: str) -> int:
    value = digits_or_neg(text)
    if 0 <= value <= TRADE_ID_MAX and len(text) <= 13:
        return value
    if not (text.isdigit() and text.isascii()) or len(text) > 13 or int(text) > TRADE_ID_MAX:
        raise Reject("bad_trade_id", f"trade id {text[:40]!r} is not a number that fits the frame's 40 bits")
    return int(text)


class CoinbaseParser(VenueParser):
    exchange: ClassVar[Exchange] = Exchange.COINBASE

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.last_seq: int | None = None  # sequence_num of the last message on this connection

    def url(self) -> str:
        return DEFAULT_URL

    def on_connect(self) -> None:
        super().on_connect()
        self.last_seq = None

    def subscribe_messages(self) -> list[str]:
        products = self.symbols.natives()
        channels = ["heartbeats"]  # keeps quiet connections open; most channels close after 60-90 s idle
        if "trades" in self.channels:
            channels.append("market_trades")
        if "quotes" in self.channels:
            channels.append("ticker")
        if "book" in self.channels:
            channels.append("level2")
        return [orjson.dumps({"type": "subscribe", "product_ids": products, "channel": c}).decode() for c in channels]

    def resubscribe_book_messages(self, natives: tuple[str, ...]) -> list[str]:
        return [
            orjson.dumps({"type": t, "product_ids": list(natives), "channel": "level2"}).decode()
            for t in ("unsubscribe", "subscribe")
        ]

    # -- messages ---------------------------------------------------------------------------------
    def _handle(self, data: bytes | str, recv_ns: int) -> None:
        try:
            msg = _decoder.decode(data)
        except msgspec.ValidationError:
            self._other(data)
            return
        kind = type(msg)
        if kind is _Trades:
            assert type(msg) is _Trades  # narrows for mypy; no call
            trades = self._parse_trades(msg)
            seq, last = msg.sequence_num, self.last_seq
            if last is not None and seq == last + 1:
                self.last_seq = seq  # the common case of _sequence, inline
            elif not self._sequence(seq, recv_ns):
                return
            counts = self.stats.messages
            counts["trade"] = counts.get("trade", 0) + 1
            self._emit_trades(trades, recv_ns)
        elif kind is _Ticker:
            assert isinstance(msg, _Ticker)
            quotes = self._parse_tickers(msg)
            if self._sequence(msg.sequence_num, recv_ns):
                self.count("quote")
                for q in quotes:
                    self.out.quote(*q[:2], recv_ns, *q[2:])
        elif kind is _L2:
            assert isinstance(msg, _L2)
            events = self._parse_l2(msg)
            if self._sequence(msg.sequence_num, recv_ns):
                self.count("book")
                self._apply_l2(events, recv_ns)
        elif kind is _Heartbeats:
            assert isinstance(msg, _Heartbeats)
            if self._sequence(msg.sequence_num, recv_ns):
                self.count("heartbeat")
        else:
            assert isinstance(msg, _Subscriptions)
            if self._sequence(msg.sequence_num, recv_ns):
                self.count("control")
                self.subscribed = True

    def _other(self, data: bytes | str) -> None:
        msg = msgspec.json.decode(data)
        if not isinstance(msg, dict):
            raise Reject("not_object", f"top-level {type(msg).__name__}")
        channel = msg.get("channel")
        if channel is None and msg.get("type") == "error":
            self.count("control")
            raise Reject("venue_error", str(msg.get("message"))[:200])
        if isinstance(channel, str) and channel not in _KNOWN_CHANNELS:
            self.count("other")  # not a channel we subscribe to: ignored, sequence untouched
            return
        _decoder.decode(data)  # re-raise with msgspec's description
        raise Reject("schema", "unrecognised message")  # pragma: no cover

    def _sequence(self, seq: int, recv_ns: int) -> bool:
        """Check the connection-wide counter; False if the message is out of order (ignore it)."""
        last = self.last_seq
        if last is not None:
            if seq <= last:
                self.count("out_of_order")
                return False
            if seq > last + 1:
                self.out.gap(GapReason.EXCHANGE, recv_ns, 0, last + 1, seq - last - 1)
                synced = tuple(
                    spec.info.native
                    for spec in self.instruments.values()
                    if (b := self.books.find(spec.info.symbol_id)) is not None and b.synced
                )
                if "book" in self.channels and synced:
                    self.resync(synced, recv_ns)
        self.last_seq = seq
        return True

    def _parse_trades(self, msg: _Trades) -> list[tuple[int, int, int, int, int, int, bool]]:
        parsed: list[tuple[int, int, int, int, int, int, bool]] = []
        instruments = self.instruments
        for event in msg.events:
            snapshot = event.type == "snapshot"
            for t in event.trades:
                spec = instruments.get(t.product_id) or self.instrument(t.product_id)
                side = _TAKER_SIDE.get(t.side)
                if side is None:
                    raise Reject("bad_side", f"side {t.side[:20]!r}")
                # the hot path: the C parses inline, the Python ones only to name what is wrong (speedups.py)
                ts = rfc3339_or_neg(t.time)
                if ts < 0:
                    ts = parse_rfc3339_ns(t.time)
                px = fixed_or_neg(t.price, spec.price_scale)
                if px <= 0:
                    px = fixed_str(t.price, spec.price_scale, "price")
                qty = fixed_or_neg(t.size, spec.qty_scale)
                if qty <= 0:
                    qty = fixed_str(t.size, spec.qty_scale, "size")
                parsed.append((spec.info.symbol_id, side, _trade_id(t.trade_id), ts, px, qty, snapshot))
        return parsed

    def _emit_trades(self, trades: list[tuple[int, int, int, int, int, int, bool]], recv_ns: int) -> None:
        # trades come newest first: decide what is new in ascending id order, emit in wire order
        dedup, out = self.dedup, self.out
        if len(trades) == 1:
            sid, side, tid, ts, px, qty, snap = trades[0]
            if dedup.admit(sid, tid) >= 0:
                out.trade(sid, side, tid, ts, recv_ns, px, qty, snap)
            return
        by_symbol: dict[int, list[int]] = {}
        for t in trades:
            by_symbol.setdefault(t[0], []).append(t[2])
        accepted = {sid: dedup.accept_batch(sid, ids) for sid, ids in by_symbol.items()}
        for sid, side, tid, ts, px, qty, snap in trades:
            if tid in accepted[sid]:
                out.trade(sid, side, tid, ts, recv_ns, px, qty, snap)

    def _parse_tickers(self, msg: _Ticker) -> list[tuple[int, int, int, int, int, int]]:
        ts = parse_rfc3339_ns(msg.timestamp) if msg.timestamp else 0
        quotes = []
        for event in msg.events:
            for t in event.tickers:
                spec = self.instrument(t.product_id)
                if (
                    t.best_bid is None
                    or t.best_ask is None
                    or t.best_bid_quantity is None
                    or t.best_ask_quantity is None
                ):
                    continue  # ticker_batch and older tickers carry no top of book
                ps, qs = spec.price_scale, spec.qty_scale
                quotes.append(
                    (
                        spec.info.symbol_id,
                        ts,
                        fixed_str(t.best_bid, ps, "best_bid"),
                        fixed_str(t.best_bid_quantity, qs, "best_bid_quantity", positive=False),
                        fixed_str(t.best_ask, ps, "best_ask"),
                        fixed_str(t.best_ask_quantity, qs, "best_ask_quantity", positive=False),
                    )
                )
        return quotes

    def _parse_l2(self, msg: _L2) -> list[tuple[InstrumentSpec, bool, int, list[tuple[Side, int, int]]]]:
        envelope_ts = parse_rfc3339_ns(msg.timestamp) if msg.timestamp else 0
        events = []
        for event in msg.events:
            spec = self.instrument(event.product_id)
            ps, qs = spec.price_scale, spec.qty_scale
            levels: list[tuple[Side, int, int]] = []
            ts = 0
            for u in event.updates:
                side = _BOOK_SIDE.get(u.side)
                if side is None:
                    raise Reject("bad_side", f"book side {u.side[:20]!r}")
                if u.event_time:
                    ts = max(ts, parse_rfc3339_ns(u.event_time))
                levels.append(
                    (
                        side,
                        fixed_str(u.price_level, ps, "price_level"),
                        fixed_str(u.new_quantity, qs, "new_quantity", positive=False),
                    )
                )
            if event.type not in ("snapshot", "update"):
                raise Reject("bad_event_type", f"l2 event type {event.type[:20]!r}")
            events.append((spec, event.type == "snapshot", ts or envelope_ts, levels))
        return events

    def _apply_l2(
        self, events: list[tuple[InstrumentSpec, bool, int, list[tuple[Side, int, int]]]], recv_ns: int
    ) -> None:
        for spec, snapshot, ts, levels in events:
            sid = spec.info.symbol_id
            book = self.books.get(sid)
            if snapshot:
                fresh = Book(sid, book.max_levels)
                for side, price, qty in levels:
                    fresh.side(side).set(price, qty)
                if fresh.crossed():
                    raise Reject("crossed_book", f"{spec.info.native} snapshot has best bid >= best ask")
                book.clear()
                for side, price, qty in fresh.levels():
                    book.side(side).set(price, qty)
                book.enforce_cap()
                book.synced = True
                book.ts_exchange_ns = ts
                was_resyncing = self.out.state is FeedState.RESYNCING
                self.out.book_snapshot(book, ts, recv_ns)
                if was_resyncing:
                    self.out.status(FeedState.SUBSCRIBED, recv_ns, sid)
                continue
            if not book.synced:
                self.count("book_unsynced")
                continue
            changes: list[tuple[int, int, int]] = []
            for side, price, qty in levels:
                if book.side(side).set(price, qty):
                    changes.append((side, price, qty))
            changes += [(s, p, 0) for s, p in book.enforce_cap()]
            book.ts_exchange_ns = ts
            self.out.book_changes(sid, changes, ts, recv_ns)
