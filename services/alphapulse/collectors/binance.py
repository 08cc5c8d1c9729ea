"""Binance spot combined streams: ``<s>@trade`` (or ``@aggTrade``), ``<s>@bookTicker``, ``<s>@depth@100ms``.

Everything arrives wrapped as ``{"stream": name, "data": event}``; the stream name must agree with
the event's symbol. Loss detection: trade ids ``t`` are consecutive per symbol (a jump: Gap(EXCHANGE)
with the missing range); diff-depth events chain by update id (``U`` = previous ``u`` + 1). The book
follows Binance's documented procedure: buffer events, fetch the REST snapshot (an Action for the
connection), drop events it already contains, then apply the rest; a break in the chain discards the
book and starts over. Every stream carries an id (``t``, ``a``, ``u``), so messages seen twice, as
during a connection rotation's overlap, are dropped by id, never emitted twice.
"""

from collections import deque
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar

import msgspec
import orjson

from alphapulse.collectors.books import Book
from alphapulse.collectors.parsing import Action, InstrumentSpec, Reject, VenueParser, fixed_str
from alphapulse.collectors.speedups import fixed_or_neg
from alphapulse.protocol import Exchange, FeedState, GapReason, Side

__all__ = ("DEFAULT_REST_URL", "DEFAULT_URL", "MAX_STREAMS_PER_CONNECTION", "BinanceParser", "DepthSnapshot")

DEFAULT_URL = "wss://stream.binance.com:9443/stream"
DEFAULT_REST_URL = "https://api.binance.com"
MAX_STREAMS_PER_CONNECTION = 1024
STREAMS_PER_REQUEST = 200  # keep SUBSCRIBE messages small; they count against 5 messages/s
TRADE_ID_MAX = (1 << 40) - 1
MAX_BUFFERED_EVENTS = 2000  # depth events held while the REST snapshot is on its way

_BUY, _SELL = int(Side.BUY), int(Side.SELL)  # plain ints: the frame packer ORs flags into them

U64 = Annotated[int, msgspec.Meta(ge=0, le=(1 << 63) - 1)]  # ids and sequences: int64 at most


class _Envelope(msgspec.Struct):
    stream: str
    data: msgspec.Raw


class _Trade(msgspec.Struct):
    s: str
    t: U64
    p: str
    q: str
    T: U64
    m: bool


class _AggTrade(msgspec.Struct):
    s: str
    a: U64
    p: str
    q: str
    f: U64
    l: U64  # noqa: E741 - Binance's field name
    T: U64
    m: bool


class _BookTicker(msgspec.Struct):
    u: U64
    s: str
    b: str
    B: str
    a: str
    A: str


class _Depth(msgspec.Struct):
    s: str
    U: U64
    u: U64
    b: list[tuple[str, str]]
    a: list[tuple[str, str]]
    E: U64 = 0


class _Event(msgspec.Struct):
    e: str = ""


class DepthSnapshot(msgspec.Struct):
    """``GET /api/v3/depth`` response."""

    lastUpdateId: U64  # noqa: N815 - Binance's field name
    bids: list[tuple[str, str]]
    asks: list[tuple[str, str]]


class _TradeEnv(msgspec.Struct):
    stream: str
    data: _Trade


class _AggEnv(msgspec.Struct):
    stream: str
    data: _AggTrade


class _TickerEnv(msgspec.Struct):
    stream: str
    data: _BookTicker


class _DepthEnv(msgspec.Struct):
    stream: str
    data: _Depth


_envelope = msgspec.json.Decoder(_Envelope)
# fast path: the stream name is peeked from the message's head, then one typed decode does the rest
_FULL: dict[str, "msgspec.json.Decoder[Any]"] = {
    "trade": msgspec.json.Decoder(_TradeEnv),
    "agg": msgspec.json.Decoder(_AggEnv),
    "ticker": msgspec.json.Decoder(_TickerEnv),
    "depth": msgspec.json.Decoder(_DepthEnv),
}
_HEAD = b'{"stream":"'
_trade = msgspec.json.Decoder(_Trade)
_agg = msgspec.json.Decoder(_AggTrade)
_ticker = msgspec.json.Decoder(_BookTicker)
_depth = msgspec.json.Decoder(_Depth)
_event = msgspec.json.Decoder(_Event)
snapshot_decoder = msgspec.json.Decoder(DepthSnapshot)


@dataclass(slots=True)
class _DepthSync:
    """Per-symbol state of the documented local-book procedure."""

    local: int = 0  # last applied update id; 0 = not synced
    buffer: deque[tuple[_Depth, int]] = field(default_factory=deque)
    snapshot_requested: bool = False


class BinanceParser(VenueParser):
    exchange: ClassVar[Exchange] = Exchange.BINANCE

    def __init__(self, *args: object, agg_trades: bool = False, snapshot_limit: int = 1000, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.agg_trades = agg_trades
        self.snapshot_limit = snapshot_limit
        self._by_stream: dict[str, tuple[str, str]] = {}  # stream name -> (kind, native)
        for info in self.symbols:
            low = info.native.lower()
            self._by_stream[f"{low}@trade"] = ("trade", info.native)
            self._by_stream[f"{low}@aggTrade"] = ("agg", info.native)
            self._by_stream[f"{low}@bookTicker"] = ("ticker", info.native)
            self._by_stream[f"{low}@depth@100ms"] = ("depth", info.native)
            self._by_stream[f"{low}@depth"] = ("depth", info.native)
        self._fast: dict[bytes, tuple[str, str, msgspec.json.Decoder[Any]]] = {
            name.encode(): (name, native, _FULL[kind]) for name, (kind, native) in self._by_stream.items()
        }
        self._sync: dict[int, _DepthSync] = {}
        self._last_quote_u: dict[int, int] = {}
        streams = self.streams()
        if len(streams) > MAX_STREAMS_PER_CONNECTION:
            raise ValueError(f"{len(streams)} streams exceed Binance's {MAX_STREAMS_PER_CONNECTION} per connection")

    def url(self) -> str:
        return DEFAULT_URL

    def streams(self) -> list[str]:
        out = []
        for info in self.symbols:
            low = info.native.lower()
            if "trades" in self.channels:
                out.append(f"{low}@aggTrade" if self.agg_trades else f"{low}@trade")
            if "quotes" in self.channels:
                out.append(f"{low}@bookTicker")
            if "book" in self.channels:
                out.append(f"{low}@depth@100ms")
        return out

    def subscribe_messages(self) -> list[str]:
        streams = self.streams()
        return [
            orjson.dumps({"method": "SUBSCRIBE", "params": streams[i : i + STREAMS_PER_REQUEST], "id": n + 1}).decode()
            for n, i in enumerate(range(0, len(streams), STREAMS_PER_REQUEST))
        ]

    def is_control(self, data: bytes | str) -> bool:
        head = data[:12]
        return not (head.startswith(b'{"stream"') if isinstance(head, bytes) else head.startswith('{"stream"'))

    def on_disconnect(self) -> None:
        super().on_disconnect()
        self._sync.clear()  # the chain restarts with the new connection's events and a new snapshot

    # -- messages ---------------------------------------------------------------------------------
    def _handle(self, data: bytes | str, recv_ns: int) -> None:
        if type(data) is bytes and data.startswith(_HEAD):
            fast = self._fast.get(data[11 : data.find(b'"', 11)])
            if fast is not None:
                name, native, decoder = fast
                try:
                    msg = decoder.decode(data)
                except msgspec.ValidationError:
                    msg = None  # e.g. a wrapper without data: the slow path names the problem
                if msg is not None and msg.stream == name:
                    ev = msg.data
                    if type(ev) is _Trade:
                        self._trade(ev, native, recv_ns)
                    elif type(ev) is _AggTrade:
                        self._agg_trade(ev, native, recv_ns)
                    elif type(ev) is _BookTicker:
                        self._book_ticker(ev, native, recv_ns)
                    else:
                        self._depth_event(ev, native, recv_ns)
                    return
        try:
            env = _envelope.decode(data)
        except msgspec.ValidationError:
            self._other(data)
            return
        route = self._by_stream.get(env.stream)
        if route is None:
            if env.stream == "!serverShutdown" or env.stream.endswith("serverShutdown"):
                self.count("control")
                self.actions.append(Action("rotate"))
                return
            ev = _event.decode(env.data)
            if ev.e == "serverShutdown":
                self.count("control")
                self.actions.append(Action("rotate"))
                return
            self.count("other")  # a stream we did not subscribe to
            return
        kind, native = route
        if kind == "trade":
            self._trade(_trade.decode(env.data), native, recv_ns)
        elif kind == "ticker":
            self._book_ticker(_ticker.decode(env.data), native, recv_ns)
        elif kind == "depth":
            self._depth_event(_depth.decode(env.data), native, recv_ns)
        else:
            self._agg_trade(_agg.decode(env.data), native, recv_ns)

    def _other(self, data: bytes | str) -> None:
        msg = msgspec.json.decode(data)
        if not isinstance(msg, dict):
            raise Reject("not_object", f"top-level {type(msg).__name__}")
        if "id" in msg and "result" in msg:
            self.count("control")
            self.subscribed = True
            return
        if "code" in msg and "msg" in msg:
            self.count("control")
            raise Reject("venue_error", f"{msg.get('code')}: {str(msg.get('msg'))[:200]}")
        if msg.get("e") == "serverShutdown":
            self.count("control")
            self.actions.append(Action("rotate"))
            return
        _envelope.decode(data)  # re-raise with msgspec's description
        raise Reject("schema", "unrecognised message")  # pragma: no cover

    def _spec(self, native: str, s: str) -> InstrumentSpec:
        if s != native:
            raise Reject("symbol_mismatch", f"stream of {native} carries symbol {s[:40]!r}")
        spec = self.instruments.get(native)
        return spec if spec is not None else self.instrument(native)

    def _trade(self, t: _Trade, native: str, recv_ns: int) -> None:
        spec = self._spec(native, t.s)
        if t.t > TRADE_ID_MAX:
            raise Reject("out_of_range", f"trade id {t.t} does not fit the frame's 40 bits")
        if t.T == 0:
            raise Reject("bad_timestamp", "trade time 0")
        self._emit_trade(spec, t.t, t.m, t.T, t.p, t.q, recv_ns)

    def _agg_trade(self, t: _AggTrade, native: str, recv_ns: int) -> None:
        spec = self._spec(native, t.s)
        if t.a > TRADE_ID_MAX:
            raise Reject("out_of_range", f"aggregate trade id {t.a} does not fit the frame's 40 bits")
        if t.f > t.l:
            raise Reject("bad_range", f"aggTrade first {t.f} > last {t.l}")
        self._emit_trade(spec, t.a, t.m, t.T, t.p, t.q, recv_ns)

    def _emit_trade(
        self, spec: InstrumentSpec, tid: int, buyer_is_maker: bool, t_ms: int, p: str, q: str, recv_ns: int
    ) -> None:
        # the hot path: the C parse inline, the Python one only to name what is wrong (speedups.py)
        price = fixed_or_neg(p, spec.price_scale)
        if price <= 0:
            price = fixed_str(p, spec.price_scale, "price")
        qty = fixed_or_neg(q, spec.qty_scale)
        if qty <= 0:
            qty = fixed_str(q, spec.qty_scale, "qty")
        counts = self.stats.messages
        counts["trade"] = counts.get("trade", 0) + 1
        sid = spec.info.symbol_id
        skipped = self.dedup.admit(sid, tid)
        if skipped < 0:
            return
        if skipped:
            self.out.gap(GapReason.EXCHANGE, recv_ns, sid, tid - skipped, skipped)
        self.out.trade(sid, _SELL if buyer_is_maker else _BUY, tid, t_ms * 1_000_000, recv_ns, price, qty)

    def _book_ticker(self, q: _BookTicker, native: str, recv_ns: int) -> None:
        spec = self._spec(native, q.s)
        ps, qs = spec.price_scale, spec.qty_scale
        bp, bq = fixed_str(q.b, ps, "bid"), fixed_str(q.B, qs, "bid qty", positive=False)
        ap, aq = fixed_str(q.a, ps, "ask"), fixed_str(q.A, qs, "ask qty", positive=False)
        self.count("quote")
        sid = spec.info.symbol_id
        if q.u <= self._last_quote_u.get(sid, -1):
            return  # seen already (a rotation's overlap) or out of order: the newer quote stands
        self._last_quote_u[sid] = q.u
        self.out.quote(sid, 0, recv_ns, bp, bq, ap, aq)

    # -- the local order book ---------------------------------------------------------------------
    def _depth_event(self, d: _Depth, native: str, recv_ns: int) -> None:
        spec = self._spec(native, d.s)
        if d.u < d.U:
            raise Reject("bad_range", f"depth event U {d.U} > u {d.u}")
        ps, qs = spec.price_scale, spec.qty_scale
        for p, q in d.b:
            fixed_str(p, ps, "bid price")
            fixed_str(q, qs, "bid qty", positive=False)
        for p, q in d.a:
            fixed_str(p, ps, "ask price")
            fixed_str(q, qs, "ask qty", positive=False)
        self.count("book")
        sid = spec.info.symbol_id
        sync = self._sync.get(sid)
        if sync is None:
            sync = self._sync[sid] = _DepthSync()
        if not sync.local:
            self._buffer(sync, d, native, recv_ns)
            return
        self._apply(spec, sync, d, recv_ns)

    def _buffer(self, sync: _DepthSync, d: _Depth, native: str, recv_ns: int) -> None:
        sync.buffer.append((d, recv_ns))
        if len(sync.buffer) > MAX_BUFFERED_EVENTS:
            sync.buffer.popleft()  # the snapshot is late; the oldest events would be dropped by it anyway
        if not sync.snapshot_requested:
            sync.snapshot_requested = True
            self.actions.append(Action("fetch_snapshot", (native,)))

    def _apply(self, spec: InstrumentSpec, sync: _DepthSync, d: _Depth, recv_ns: int) -> None:
        if d.u <= sync.local:
            return  # already in the book (snapshot or an earlier copy of this event)
        sid = spec.info.symbol_id
        if sync.local + 1 < d.U:
            # missed events: the book is wrong; start the documented procedure over
            self.out.gap(GapReason.EXCHANGE, recv_ns, sid, sync.local + 1, d.U - sync.local - 1)
            self.books.get(sid).clear()
            sync.local = 0
            sync.snapshot_requested = False
            sync.buffer.clear()
            self.out.status(FeedState.RESYNCING, recv_ns, sid)
            self._buffer(sync, d, spec.info.native, recv_ns)
            return
        book = self.books.get(sid)
        ps, qs = spec.price_scale, spec.qty_scale
        changes: list[tuple[int, int, int]] = []
        bids, asks = book.bids, book.asks
        for p, q in d.b:
            price, qty = fixed_str(p, ps, "bid price"), fixed_str(q, qs, "bid qty", positive=False)
            if bids.set(price, qty):
                changes.append((Side.BUY, price, qty))
        for p, q in d.a:
            price, qty = fixed_str(p, ps, "ask price"), fixed_str(q, qs, "ask qty", positive=False)
            if asks.set(price, qty):
                changes.append((Side.SELL, price, qty))
        changes += [(s, p, 0) for s, p in book.enforce_cap()]
        sync.local = d.u
        ts = d.E * 1_000_000
        book.ts_exchange_ns = ts
        self.out.book_changes(sid, changes, ts, recv_ns)

    def apply_snapshot(self, native: str, snap: DepthSnapshot, recv_ns: int) -> None:
        """The REST snapshot for ``native`` arrived (the connection fetched it for a fetch_snapshot Action)."""
        spec = self.instruments.get(native)
        if spec is None:
            return
        sid = spec.info.symbol_id
        sync = self._sync.get(sid)
        if sync is None or sync.local:
            return  # nothing waiting for it (disconnected meanwhile, or already synced)
        ps, qs = spec.price_scale, spec.qty_scale
        fresh = Book(sid, self.books.get(sid).max_levels)
        try:
            for p, q in snap.bids:
                fresh.bids.set(fixed_str(p, ps, "bid price"), fixed_str(q, qs, "bid qty", positive=False))
            for p, q in snap.asks:
                fresh.asks.set(fixed_str(p, ps, "ask price"), fixed_str(q, qs, "ask qty", positive=False))
        except Reject as e:
            self.stats.errors[e.reason] = self.stats.errors.get(e.reason, 0) + 1
            sync.snapshot_requested = False
            self.actions.append(Action("fetch_snapshot", (native,)))
            sync.snapshot_requested = True
            return
        last = snap.lastUpdateId
        if sync.buffer and last < sync.buffer[0][0].U:
            # older than what we buffered: fetch again (step 3 of the procedure)
            self.actions.append(Action("fetch_snapshot", (native,)))
            return
        buffered = [(d, r) for d, r in sync.buffer if d.u > last]
        sync.buffer.clear()
        sync.snapshot_requested = False
        book = self.books.get(sid)
        book.clear()
        for side, price, qty in fresh.levels():
            book.side(side).set(price, qty)
        book.enforce_cap()
        book.synced = True
        sync.local = last
        was_resyncing = self.out.state is FeedState.RESYNCING
        self.out.book_snapshot(book, 0, recv_ns)
        if was_resyncing:
            self.out.status(FeedState.SUBSCRIBED, recv_ns, sid)
        for d, r in buffered:
            if sync.local:
                self._apply(spec, sync, d, r)
            else:
                self._buffer(sync, d, native, r)
