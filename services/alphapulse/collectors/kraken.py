"""Kraken spot WebSocket v2: ``instrument``, ``trade``, ``ticker`` (as quotes) and ``book`` into frames.

Kraken sends prices and quantities as JSON *numbers*; decoding them as floats has already rounded
them, so the hot messages keep each number's token as raw bytes (``msgspec.Raw``) and convert that
text exactly (an exponent token, never seen on the data channels, goes through ``Decimal``). Scales
come from the ``instrument`` channel (``price_precision`` / ``qty_precision``), which is also the
precision the book checksum renders at: a level's checksum text is the decimal digits of its scaled
integer, so the CRC32 is computed straight from the book's integers. Loss detection: the book's CRC32
on every message (mismatch: Gap(CHECKSUM), Status(RESYNCING), resubscribe the book) and ``trade_id``
continuity per pair (a jump: Gap(EXCHANGE) with the missing range).
"""

import zlib
from decimal import Decimal
from typing import Annotated, Any, ClassVar

import msgspec
import orjson

from alphapulse.collectors.books import Book
from alphapulse.collectors.parsing import InstrumentSpec, Reject, VenueParser, fixed_str
from alphapulse.collectors.speedups import fixed_raw_or_neg, kraken_crc_or_neg, rfc3339_or_neg
from alphapulse.collectors.timestamps import parse_rfc3339_ns
from alphapulse.protocol import Exchange, FeedState, FixedPointError, GapReason, Side, to_fixed

__all__ = ("DEFAULT_URL", "KrakenParser", "kraken_checksum")

DEFAULT_URL = "wss://ws.kraken.com/v2"
BOOK_DEPTHS = (10, 25, 100, 500, 1000)
CHECKSUM_LEVELS = 10
TRADE_ID_MAX = (1 << 40) - 1
MAX_SYMBOLS_PER_REQUEST = 50  # no documented limit; keep each request (and its acks) modest

U32 = Annotated[int, msgspec.Meta(ge=0, le=0xFFFFFFFF)]
U64 = Annotated[int, msgspec.Meta(ge=0, le=(1 << 63) - 1)]  # ids and sequences: int64 at most


class _TradeItem(msgspec.Struct):
    symbol: str
    side: str
    price: msgspec.Raw
    qty: msgspec.Raw
    trade_id: U64
    timestamp: str


class _Trade(msgspec.Struct, tag_field="channel", tag="trade"):
    data: list[_TradeItem]
    type: str = "update"


class _TickerItem(msgspec.Struct):
    symbol: str
    bid: msgspec.Raw
    bid_qty: msgspec.Raw
    ask: msgspec.Raw
    ask_qty: msgspec.Raw
    timestamp: str | None = None


class _Ticker(msgspec.Struct, tag_field="channel", tag="ticker"):
    data: list[_TickerItem]
    type: str = "update"


class _Level(msgspec.Struct):
    price: msgspec.Raw
    qty: msgspec.Raw


class _BookItem(msgspec.Struct):
    symbol: str
    checksum: U32
    bids: list[_Level] = []
    asks: list[_Level] = []
    timestamp: str | None = None


class _Book(msgspec.Struct, tag_field="channel", tag="book"):
    type: str
    data: list[_BookItem]


class _Heartbeat(msgspec.Struct, tag_field="channel", tag="heartbeat"):
    pass


class _Status(msgspec.Struct, tag_field="channel", tag="status"):
    data: list[dict[str, object]] = []


class _Pair(msgspec.Struct):
    symbol: str
    price_precision: Annotated[int, msgspec.Meta(ge=0, le=18)]
    qty_precision: Annotated[int, msgspec.Meta(ge=0, le=18)]
    price_increment: Decimal | None = None
    qty_increment: Decimal | None = None


class _InstrumentData(msgspec.Struct):
    pairs: list[_Pair] = []


class _Instrument(msgspec.Struct, tag_field="channel", tag="instrument"):
    data: _InstrumentData
    type: str = "snapshot"


_Message = _Trade | _Ticker | _Book | _Heartbeat | _Status | _Instrument
_decoder = msgspec.json.Decoder(_Message)
_KNOWN_CHANNELS = frozenset({"trade", "ticker", "book", "heartbeat", "status", "instrument"})
_SIDES = {"buy": int(Side.BUY), "sell": int(Side.SELL)}  # plain ints: the frame packer ORs flags in


def _num(raw: msgspec.Raw, scale: int, what: str, *, positive: bool = True) -> int:
    """A JSON number token, exactly, at ``scale``."""
    value = fixed_raw_or_neg(raw, scale)  # the plain case, in C (speedups.py)
    if value > 0 or (value == 0 and not positive):
        return value
    text = bytes(raw).decode()
    if "e" not in text and "E" not in text:
        return fixed_str(text, scale, what, positive=positive)  # plain digits: the common case
    if not text or text[0] not in "-0123456789":
        raise Reject("bad_number", f"{what} is not a JSON number: {text[:40]!r}")
    try:
        value = to_fixed(Decimal(text), scale)
    except FixedPointError as e:
        raise Reject("bad_number", f"{what}: {e}") from e
    if value < 0 or (positive and value == 0):
        raise Reject("non_positive", f"{what} {text}")
    return value


def kraken_checksum(book: Book) -> int:
    """CRC32 of the top 10 asks (low to high) then top 10 bids (high to low), as Kraken v2 documents.

    Each level contributes ``price`` then ``qty`` rendered at the pair precision without the dot and
    without leading zeros, which is exactly the decimal text of the scaled integers.
    """
    asks, bids = book.asks, book.bids
    crc = kraken_crc_or_neg(asks.keys, asks.levels, bids.keys, bids.levels, CHECKSUM_LEVELS)  # in C (speedups.py)
    if crc >= 0:
        return crc
    text = "".join(f"{p}{q}" for p, q in asks.top(CHECKSUM_LEVELS))
    text += "".join(f"{p}{q}" for p, q in bids.top(CHECKSUM_LEVELS))
    return zlib.crc32(text.encode())


class KrakenParser(VenueParser):
    exchange: ClassVar[Exchange] = Exchange.KRAKEN

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # the book depth Kraken serves for ours: read on every book message, so worked out once
        self.book_depth = next((d for d in BOOK_DEPTHS if d >= self.depth), BOOK_DEPTHS[-1])

    def url(self) -> str:
        return DEFAULT_URL

    # -- subscriptions ----------------------------------------------------------------------------
    def subscribe_messages(self) -> list[str]:
        natives = self.symbols.natives()
        chunks = [natives[i : i + MAX_SYMBOLS_PER_REQUEST] for i in range(0, len(natives), MAX_SYMBOLS_PER_REQUEST)]
        msgs: list[dict[str, object]] = [{"method": "subscribe", "params": {"channel": "instrument"}, "req_id": 1}]
        for chunk in chunks:
            if "trades" in self.channels:
                # the trade snapshot default changed between doc versions: always say it
                msgs.append({"method": "subscribe", "params": {"channel": "trade", "symbol": chunk, "snapshot": False}})
            if "quotes" in self.channels:
                msgs.append(
                    {
                        "method": "subscribe",
                        "params": {"channel": "ticker", "symbol": chunk, "event_trigger": "bbo", "snapshot": True},
                    }
                )
            if "book" in self.channels:
                msgs.append(self._book_request("subscribe", chunk))
        for i, m in enumerate(msgs[1:], start=2):
            m["req_id"] = i
        return [orjson.dumps(m).decode() for m in msgs]

    def _book_request(self, method: str, natives: list[str]) -> dict[str, object]:
        params: dict[str, object] = {"channel": "book", "symbol": natives, "depth": self.book_depth}
        if method == "subscribe":
            params["snapshot"] = True
        return {"method": method, "params": params}

    def resubscribe_book_messages(self, natives: tuple[str, ...]) -> list[str]:
        return [
            orjson.dumps(self._book_request("unsubscribe", list(natives))).decode(),
            orjson.dumps(self._book_request("subscribe", list(natives))).decode(),
        ]

    # -- messages ---------------------------------------------------------------------------------
    def _handle(self, data: bytes | str, recv_ns: int) -> None:
        try:
            msg = _decoder.decode(data)
        except msgspec.ValidationError:
            self._other(data)
            return
        if type(msg) is _Trade:
            self._trades(msg, recv_ns)
        elif type(msg) is _Ticker:
            self._ticker(msg, recv_ns)
        elif type(msg) is _Book:
            self._book(msg, recv_ns)
        elif type(msg) is _Heartbeat:
            self.count("heartbeat")
        elif type(msg) is _Instrument:
            self._instrument(msg)
        else:
            self.count("control")

    def _other(self, data: bytes | str) -> None:
        """Acks, pongs, errors, unknown channels; or a known channel that failed validation."""
        msg = msgspec.json.decode(data)
        if not isinstance(msg, dict):
            raise Reject("not_object", f"top-level {type(msg).__name__}")
        channel = msg.get("channel")
        if isinstance(channel, str) and channel not in _KNOWN_CHANNELS:
            self.count("other")  # a channel we never subscribed to: ignore, as the docs ask
            return
        method = msg.get("method")
        if channel is None and isinstance(method, str):
            self.count("control")
            if msg.get("success") is False:
                raise Reject("venue_error", str(msg.get("error"))[:200])
            if method == "subscribe" and msg.get("success") is True:
                self.subscribed = True
            return
        _decoder.decode(data)  # re-raise the validation error with msgspec's own description
        raise Reject("schema", "unrecognised message")  # pragma: no cover - decode above raised

    def _instrument(self, msg: _Instrument) -> None:
        self.count("control")
        for pair in msg.data.pairs:
            info = self.symbols.by_native.get(pair.symbol)
            if info is None:
                continue
            pinc = to_fixed(pair.price_increment, pair.price_precision) if pair.price_increment else 1
            qinc = to_fixed(pair.qty_increment, pair.qty_precision) if pair.qty_increment else 1
            self.set_instrument(InstrumentSpec(info, pair.price_precision, pair.qty_precision, pinc, qinc))

    def _trades(self, msg: _Trade, recv_ns: int) -> None:
        if not msg.data:
            raise Reject("empty_data", "trade message without trades")
        parsed = []
        instruments = self.instruments
        for t in msg.data:
            spec = instruments.get(t.symbol) or self.instrument(t.symbol)
            side = _SIDES.get(t.side)
            if side is None:
                raise Reject("bad_side", f"side {t.side[:20]!r}")
            if t.trade_id > TRADE_ID_MAX:
                raise Reject("out_of_range", f"trade id {t.trade_id} does not fit the frame's 40 bits")
            # the hot path: the C parses inline, the Python ones only to name what is wrong (speedups.py)
            ts = rfc3339_or_neg(t.timestamp)
            if ts < 0:
                ts = parse_rfc3339_ns(t.timestamp)
            px = fixed_raw_or_neg(t.price, spec.price_scale)
            if px <= 0:
                px = _num(t.price, spec.price_scale, "price")
            qty = fixed_raw_or_neg(t.qty, spec.qty_scale)
            if qty <= 0:
                qty = _num(t.qty, spec.qty_scale, "qty")
            parsed.append((spec.info.symbol_id, side, t.trade_id, ts, px, qty))
        counts = self.stats.messages
        counts["trade"] = counts.get("trade", 0) + 1
        out, admit, snapshot = self.out, self.dedup.admit, msg.type == "snapshot"
        for sid, side, tid, ts, px, qty in parsed:
            skipped = admit(sid, tid)
            if skipped < 0:
                continue
            if skipped and not snapshot:
                out.gap(GapReason.EXCHANGE, recv_ns, sid, tid - skipped, skipped)
            out.trade(sid, side, tid, ts, recv_ns, px, qty, snapshot)

    def _ticker(self, msg: _Ticker, recv_ns: int) -> None:
        if not msg.data:
            raise Reject("empty_data", "ticker message without data")
        parsed = []
        for q in msg.data:
            spec = self.instrument(q.symbol)
            ps, qs = spec.price_scale, spec.qty_scale
            parsed.append(
                (
                    spec.info.symbol_id,
                    parse_rfc3339_ns(q.timestamp) if q.timestamp else 0,
                    _num(q.bid, ps, "bid"),
                    _num(q.bid_qty, qs, "bid_qty", positive=False),
                    _num(q.ask, ps, "ask"),
                    _num(q.ask_qty, qs, "ask_qty", positive=False),
                )
            )
        self.count("quote")
        for sid, ts, bp, bq, ap, aq in parsed:
            self.out.quote(sid, ts, recv_ns, bp, bq, ap, aq)

    def _book(self, msg: _Book, recv_ns: int) -> None:
        if not msg.data:
            raise Reject("empty_data", "book message without data")
        snapshot = msg.type == "snapshot"
        items = []
        for b in msg.data:
            spec = self.instrument(b.symbol)
            ps, qs = spec.price_scale, spec.qty_scale
            levels = [(Side.BUY, _num(lv.price, ps, "price"), _num(lv.qty, qs, "qty", positive=False)) for lv in b.bids]
            levels += [
                (Side.SELL, _num(lv.price, ps, "price"), _num(lv.qty, qs, "qty", positive=False)) for lv in b.asks
            ]
            ts = parse_rfc3339_ns(b.timestamp) if b.timestamp else 0
            items.append((spec, levels, b.checksum, ts))
        self.count("book")
        for spec, levels, checksum, ts in items:
            if snapshot:
                self._book_snapshot(spec, levels, checksum, ts, recv_ns)
            else:
                self._book_update(spec, levels, checksum, ts, recv_ns)

    def _book_snapshot(
        self, spec: InstrumentSpec, levels: list[tuple[Side, int, int]], checksum: int, ts: int, recv_ns: int
    ) -> None:
        fresh = Book(spec.info.symbol_id, self.books.get(spec.info.symbol_id).max_levels)
        for side, price, qty in levels:
            fresh.side(side).set(price, qty)
        fresh.bids.truncate(self.book_depth)
        fresh.asks.truncate(self.book_depth)
        if fresh.crossed():
            raise Reject("crossed_book", f"{spec.info.native} snapshot has best bid >= best ask")
        if kraken_checksum(fresh) != checksum:
            self._checksum_failed(spec, recv_ns)
            return
        book = self.books.get(spec.info.symbol_id)
        book.clear()
        for side, price, qty in fresh.levels():
            book.side(side).set(price, qty)
        book.synced = True
        book.ts_exchange_ns = ts
        was_resyncing = self.out.state is FeedState.RESYNCING
        self.out.book_snapshot(book, ts, recv_ns)
        if was_resyncing:
            self.out.status(FeedState.SUBSCRIBED, recv_ns, spec.info.symbol_id)

    def _book_update(
        self, spec: InstrumentSpec, levels: list[tuple[Side, int, int]], checksum: int, ts: int, recv_ns: int
    ) -> None:
        book = self.books.get(spec.info.symbol_id)
        if not book.synced:
            self.count("book_unsynced")  # an update before its snapshot (during a resync): useless
            return
        changes: list[tuple[int, int, int]] = []
        for side, price, qty in levels:
            if book.side(side).set(price, qty):
                changes.append((side, price, qty))
        depth = self.book_depth
        changes += [(Side.BUY, p, 0) for p in book.bids.truncate(depth)]
        changes += [(Side.SELL, p, 0) for p in book.asks.truncate(depth)]
        if kraken_checksum(book) != checksum:
            self._checksum_failed(spec, recv_ns)
            return
        book.ts_exchange_ns = ts
        self.out.book_changes(spec.info.symbol_id, changes, ts, recv_ns)

    def _checksum_failed(self, spec: InstrumentSpec, recv_ns: int) -> None:
        self.stats.checksum_failures += 1
        self.out.gap(GapReason.CHECKSUM, recv_ns, spec.info.symbol_id)
        self.resync((spec.info.native,), recv_ns)
