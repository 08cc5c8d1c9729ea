"""Binance spot market streams: ``/stream`` (combined) and ``/ws`` (raw), plus the REST it pairs with.

Protocol (see the fixtures' README §3): streams named ``<symbol>@trade``, ``@aggTrade``,
``@bookTicker``, ``@depth`` (1000 ms) and ``@depth@100ms`` are chosen in the URL
(``/stream?streams=a/b``, ``/ws/a/b``) or live with ``SUBSCRIBE``/``UNSUBSCRIBE``/
``LIST_SUBSCRIPTIONS``/``SET_PROPERTY``/``GET_PROPERTY``; combined connections wrap each event as
``{"stream":..,"data":..}``. Liveness is WebSocket protocol pings (every 20 s by default). Values
are 8-decimal strings. The diff-depth stream carries ``U``/``u`` update ids; ``GET /api/v3/depth``
answers a snapshot whose ``lastUpdateId`` lies on that same id sequence, so the documented local
book procedure works against the simulator at any moment, in replay too.
"""

import re
import time
from decimal import Decimal
from typing import Any, ClassVar

import orjson
from websockets.asyncio.server import ServerConnection

from alphapulse.sim.faults import Fault
from alphapulse.sim.framing import text_frame
from alphapulse.sim.http import RestResponse
from alphapulse.sim.market import ASK, BID, SELL, TRADE, MarketEvent
from alphapulse.sim.render import Memo, fixed
from alphapulse.sim.server import Conn, VenueSimulator

__all__ = ("BinanceConn", "BinanceSim", "native_symbol")

_WIRE_DECIMALS = 8
_MAX_DEPTH_LIMIT = 5000
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
_METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
_DEPTH_INTERVAL_S = {"depth": 1.0, "depth@100ms": 0.1}


def native_symbol(symbol: str) -> str:
    """``BTC-USDT`` -> ``BTCUSDT``."""
    return symbol.replace("-", "")


def _stream_name(name: str) -> str:
    """Symbols are lower case in stream names; the suffix keeps its case (``@aggTrade``)."""
    symbol, at, kind = name.partition("@")
    return symbol.lower() + at + kind


def _err(code: int, msg: str, req_id: Any = None, with_id: bool = False) -> str:
    body: dict[str, Any] = {"code": code, "msg": msg}
    if with_id:
        body["id"] = req_id
    return orjson.dumps(body).decode()


class BinanceConn(Conn):
    def __init__(self, sim: "BinanceSim", ws: ServerConnection) -> None:
        super().__init__(sim, ws)
        self.streams: list[str] = []
        self.combined = True
        self.url_streams = False


class _DepthBuffer:
    """Level changes waiting for the next diff-depth event of one stream cadence."""

    __slots__ = ("asks", "bids", "first_id", "last_flush_s")

    def __init__(self) -> None:
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.first_id = 0
        self.last_flush_s = 0.0


class _SymbolWire:
    """Per-symbol wire state: names, update/aggregate ids, pending depth, last BBO."""

    def __init__(self, index: int, symbol: str, price_decimals: int, qty_decimals: int) -> None:
        self.index = index
        self.native = native_symbol(symbol)
        low = self.native.lower()
        self.trade = f"{low}@trade"
        self.agg = f"{low}@aggTrade"
        self.bbo = f"{low}@bookTicker"
        self.depth = {"depth": f"{low}@depth", "depth@100ms": f"{low}@depth@100ms"}
        self.price_mult = 10 ** (_WIRE_DECIMALS - price_decimals)
        self.qty_mult = 10 ** (_WIRE_DECIMALS - qty_decimals)
        self.update_id = 81_234_567_890 + index * 1_000_000_000
        self.agg_id = 3_912_004_400 + index * 100_000_000
        self.pending = {k: _DepthBuffer() for k in _DEPTH_INTERVAL_S}
        self.last_bbo: tuple[int, int, int, int] | None = None

        self.px = Memo(self._render_price)

    def _render_price(self, units: int) -> str:
        return fixed(units * self.price_mult, _WIRE_DECIMALS)

    def qty(self, units: int) -> str:
        return fixed(units * self.qty_mult, _WIRE_DECIMALS)


class _ReplayDepth:
    """The venue's book during a replay: the recorded REST snapshot plus every depth event since."""

    def __init__(self, last_id: int, bids: list[list[str]], asks: list[list[str]]) -> None:
        self.last_id = last_id
        self.bids = dict(bids)
        self.asks = dict(asks)
        self.moved = False  # any event applied past the recorded snapshot

    def apply(self, data: dict[str, Any]) -> None:
        if int(data["u"]) <= self.last_id:
            return
        for side, levels in ((self.bids, data["b"]), (self.asks, data["a"])):
            for p, q in levels:
                if Decimal(q) == 0:
                    side.pop(p, None)
                else:
                    side[p] = q
        self.last_id = int(data["u"])
        self.moved = True

    def render(self, limit: int) -> bytes:
        bids = sorted(self.bids.items(), key=lambda kv: Decimal(kv[0]), reverse=True)[:limit]
        asks = sorted(self.asks.items(), key=lambda kv: Decimal(kv[0]))[:limit]
        return orjson.dumps(
            {"lastUpdateId": self.last_id, "bids": [list(x) for x in bids], "asks": [list(x) for x in asks]}
        )


class BinanceSim(VenueSimulator[BinanceConn]):
    venue: ClassVar[str] = "binance"
    ws_path: ClassVar[str] = "/stream"
    has_rest: ClassVar[bool] = True
    default_symbols: ClassVar[tuple[str, ...]] = ("BTC-USDT", "ETH-USDT", "SOL-USDT")
    default_ping_interval_s: ClassVar[float | None] = 20.0

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._wire = [
            _SymbolWire(i, inst.symbol, inst.price_decimals, inst.qty_decimals)
            for i, inst in enumerate(self.instruments)
        ]
        self._by_native = {w.native: w for w in self._wire}
        self._subs: dict[str, set[BinanceConn]] = {}
        self._replay_books: dict[str, _ReplayDepth] = {}
        self._replay_scan = 0
        self._recorded_snapshot_symbol: str | None = None
        if self.replay is not None:
            self._init_replay_depth()

    def make_conn(self, ws: ServerConnection) -> BinanceConn:
        return BinanceConn(self, ws)

    def accepts_path(self, path: str) -> bool:
        return path in ("/stream", "/ws") or path.startswith("/ws/")

    # ---- subscriptions -------------------------------------------------------------------

    def on_open(self, conn: BinanceConn) -> None:
        path, _, query = conn.path.partition("?")
        names: list[str] = []
        if path.startswith("/ws"):
            conn.combined = False
            names = [n for n in path[len("/ws/") :].split("/") if n] if path.startswith("/ws/") else []
        else:
            for part in query.split("&"):
                key, _, value = part.partition("=")
                if key == "streams":
                    names = [n for n in value.split("/") if n]
        conn.url_streams = bool(names)
        self._subscribe(conn, names)

    def _subscribe(self, conn: BinanceConn, names: list[str]) -> None:
        for raw in names:
            name = _stream_name(raw)
            if name not in conn.streams:
                conn.streams.append(name)
                self._subs.setdefault(name, set()).add(conn)

    def _unsubscribe(self, conn: BinanceConn, names: list[str]) -> None:
        for raw in names:
            name = _stream_name(raw)
            if name in conn.streams:
                conn.streams.remove(name)
                subs = self._subs.get(name)
                if subs is not None:
                    subs.discard(conn)

    def on_close(self, conn: BinanceConn) -> None:
        self._unsubscribe(conn, list(conn.streams))

    def on_text(self, conn: BinanceConn, text: str) -> None:
        try:
            req = orjson.loads(text)
        except orjson.JSONDecodeError:
            conn.send_text(_err(3, "Invalid JSON: expected value at line 1 column 1"))
            return
        if not isinstance(req, dict):
            conn.send_text(_err(2, "Invalid request: expected an object"))
            return
        req_id = req.get("id")
        if not (
            req_id is None
            or (isinstance(req_id, int) and not isinstance(req_id, bool) and 0 <= req_id < 1 << 63)
            or (isinstance(req_id, str) and _ID_RE.match(req_id))
        ):
            conn.send_text(_err(2, "Invalid request: request ID must be an unsigned integer"))
            return
        method = req.get("method")
        if method not in _METHODS:
            if not isinstance(method, str):
                conn.send_text(_err(2, "Invalid request: missing field `method` at line 1 column 1"))
            else:
                conn.send_text(
                    _err(
                        2,
                        f"Invalid request: unknown variant `{method}`, expected one of "
                        + ", ".join(f"`{m}`" for m in _METHODS),
                    )
                )
            return
        params: Any = req.get("params", [])
        if not isinstance(params, list) or (method != "SET_PROPERTY" and not all(isinstance(p, str) for p in params)):
            conn.send_text(_err(2, "Invalid request: property name must be a string"))
            return
        result: Any = None
        if method == "SUBSCRIBE":
            self._subscribe(conn, params)
        elif method == "UNSUBSCRIBE":
            self._unsubscribe(conn, params)
        elif method == "LIST_SUBSCRIPTIONS":
            result = list(conn.streams)
        elif method == "SET_PROPERTY":
            if len(params) != 2 or params[0] != "combined":
                conn.send_text(_err(0, "Unknown property", req_id, with_id=True))
                return
            value = params[1]
            if not isinstance(value, bool):
                conn.send_text(_err(1, "Invalid value type: expected Boolean"))
                return
            conn.combined = value
        elif method == "GET_PROPERTY":
            if params != ["combined"]:
                conn.send_text(_err(0, "Unknown property", req_id, with_id=True))
                return
            result = conn.combined
        if self.answers_live(conn):
            conn.send_text(orjson.dumps({"result": result, "id": req_id}).decode())

    def check_fault(self, fault: Fault) -> None:
        if fault is Fault.CORRUPT_CHECKSUM:
            super().check_fault(fault)

    def shutdown_notice(self, conn: BinanceConn) -> None:
        event = f'{{"e":"serverShutdown","E":{time.time_ns() // 1_000_000}}}'
        conn.queue_text(f'{{"stream":"!serverShutdown","data":{event}}}' if conn.combined else event)

    # ---- synthetic market ----------------------------------------------------------------

    def _fanout(self, stream: str, payload: str, *, depth: bool = False) -> None:
        subs = self._subs.get(stream)
        if not subs:
            return
        combined: bytes | None = None
        raw: bytes | None = None
        for conn in subs:
            if depth and conn.pending and conn.take_fault(Fault.SKIP_SEQUENCE):
                continue  # the U/u chain breaks for this client
            if conn.combined:
                if combined is None:
                    combined = text_frame(f'{{"stream":"{stream}","data":{payload}}}'.encode())
                conn.queue(combined)
            else:
                if raw is None:
                    raw = text_frame(payload.encode())
                conn.queue(raw)

    def stamp_pairs(self, tick_ns: int, now_ns: int) -> tuple[tuple[bytes, bytes], ...]:
        old, new = tick_ns // 1_000_000, now_ns // 1_000_000
        if old == new:
            return ()
        return tuple((f'"{k}":{old},'.encode(), f'"{k}":{new},'.encode()) for k in ("E", "T"))

    def publish(self, events: list[MarketEvent]) -> None:
        model = self.model
        assert model is not None
        subs = self._subs
        wires = self._wire
        for kind, i, side, price, qty, trade_id, ts_ns in events:
            w = wires[i]
            ms = ts_ns // 1_000_000
            if kind == TRADE:
                m = "true" if side == SELL else "false"  # buyer is maker <=> the taker sold
                p, q = w.px[price], w.qty(qty)
                if subs.get(w.trade):
                    self._fanout(
                        w.trade,
                        f'{{"e":"trade","E":{ms},"s":"{w.native}","t":{trade_id},"p":"{p}","q":"{q}",'
                        f'"T":{ms},"m":{m},"M":true}}',
                    )
                w.agg_id += 1
                if subs.get(w.agg):
                    self._fanout(
                        w.agg,
                        f'{{"e":"aggTrade","E":{ms},"s":"{w.native}","a":{w.agg_id},"p":"{p}","q":"{q}",'
                        f'"f":{trade_id},"l":{trade_id},"T":{ms},"m":{m},"M":true}}',
                    )
                continue
            w.update_id += 1
            for buf in w.pending.values():
                if not buf.first_id:
                    buf.first_id = w.update_id
                (buf.bids if side == BID else buf.asks)[price] = qty
            book = model.book(i)
            bb, ba = book.bid_px[-1], book.ask_px[0]
            bbo = (bb, book.bids[bb], ba, book.asks[ba])
            if bbo != w.last_bbo:
                w.last_bbo = bbo
                if subs.get(w.bbo):
                    self._fanout(
                        w.bbo,
                        f'{{"u":{w.update_id},"s":"{w.native}","b":"{w.px[bb]}","B":"{w.qty(bbo[1])}",'
                        f'"a":"{w.px[ba]}","A":"{w.qty(bbo[3])}"}}',
                    )

    def on_tick(self, now_s: float) -> None:
        ms = time.time_ns() // 1_000_000
        for w in self._wire:
            for kind, interval in _DEPTH_INTERVAL_S.items():
                buf = w.pending[kind]
                if not buf.first_id or now_s - buf.last_flush_s < interval:
                    continue
                buf.last_flush_s = now_s
                stream = w.depth[kind]
                if self._subs.get(stream):
                    b = ",".join(f'["{w.px[p]}","{w.qty(q)}"]' for p, q in buf.bids.items())
                    a = ",".join(f'["{w.px[p]}","{w.qty(q)}"]' for p, q in buf.asks.items())
                    self._fanout(
                        stream,
                        f'{{"e":"depthUpdate","E":{ms},"s":"{w.native}","U":{buf.first_id},'
                        f'"u":{w.update_id},"b":[{b}],"a":[{a}]}}',
                        depth=True,
                    )
                buf.bids.clear()
                buf.asks.clear()
                buf.first_id = 0

    # ---- replay --------------------------------------------------------------------------

    def is_recorded_ack(self, line: str) -> bool:
        return line.startswith('{"result"')

    def replay_starts_at_once(self, conn: BinanceConn) -> bool:
        return conn.url_streams

    def replay_line(self, conn: BinanceConn, index: int, line: str) -> str | None:
        if '"depthUpdate"' in line and conn.take_fault(Fault.SKIP_SEQUENCE):
            return None
        return line

    def _init_replay_depth(self) -> None:
        assert self.replay is not None
        body = self.replay.rest.get("/api/v3/depth")
        if body is None:
            return
        for line in self.replay.lines:
            if '"depthUpdate"' in line:
                msg = orjson.loads(line)
                data = msg.get("data", msg)
                self._recorded_snapshot_symbol = str(data["s"])
                snap = orjson.loads(body)
                self._replay_books[str(data["s"])] = _ReplayDepth(int(snap["lastUpdateId"]), snap["bids"], snap["asks"])
                return

    def _catch_up_replay(self) -> None:
        assert self.replay is not None
        lines = self.replay.lines
        while self._replay_scan < self._replay_pos:
            line = lines[self._replay_scan]
            self._replay_scan += 1
            if '"depthUpdate"' not in line:
                continue
            msg = orjson.loads(line)
            data = msg.get("data", msg)
            book = self._replay_books.get(str(data["s"]))
            if book is None:
                book = self._replay_books[str(data["s"])] = _ReplayDepth(int(data["U"]) - 1, [], [])
            book.apply(data)

    # ---- REST ----------------------------------------------------------------------------

    def rest(self, path: str, query: dict[str, list[str]]) -> RestResponse:
        if path == "/api/v3/ping":
            return 200, b"{}"
        if path == "/api/v3/time":
            return 200, orjson.dumps({"serverTime": time.time_ns() // 1_000_000})
        if path == "/api/v3/depth":
            return self._rest_depth(query)
        if path == "/api/v3/exchangeInfo":
            if self.replay is not None:
                body = self.replay.rest.get(path)
                return (200, body) if body is not None else (404, b'{"code":-1,"msg":"not recorded"}')
            return self._exchange_info(query)
        return 404, b'{"code":-1,"msg":"not found"}'

    def _rest_depth(self, query: dict[str, list[str]]) -> RestResponse:
        symbol = (query.get("symbol") or [""])[0].upper()
        if not symbol:
            return 400, orjson.dumps(
                {
                    "code": -1102,
                    "msg": "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
                }
            )
        try:
            limit = min(int((query.get("limit") or ["100"])[0]), _MAX_DEPTH_LIMIT)
        except ValueError:
            return 400, orjson.dumps({"code": -1100, "msg": "Illegal characters found in parameter 'limit'."})
        if limit < 1:
            return 400, orjson.dumps({"code": -1100, "msg": "Illegal value for parameter 'limit'."})
        if self.replay is not None:
            self._catch_up_replay()
            book = self._replay_books.get(symbol)
            if book is None:
                return 400, b'{"code":-1121,"msg":"Invalid symbol."}'
            recorded = self.replay.rest.get("/api/v3/depth")
            if not book.moved and recorded is not None and symbol == self._recorded_snapshot_symbol:
                return 200, recorded  # the replay has not passed the recorded snapshot yet
            return 200, book.render(limit)
        w = self._by_native.get(symbol)
        if w is None:
            return 400, b'{"code":-1121,"msg":"Invalid symbol."}'
        assert self.model is not None
        book_ = self.model.book(w.index)
        bids = ",".join(f'["{w.px[p]}","{w.qty(q)}"]' for p, q in book_.top(BID, limit))
        asks = ",".join(f'["{w.px[p]}","{w.qty(q)}"]' for p, q in book_.top(ASK, limit))
        return 200, f'{{"lastUpdateId":{w.update_id},"bids":[{bids}],"asks":[{asks}]}}'.encode()

    def _exchange_info(self, query: dict[str, list[str]]) -> RestResponse:
        wanted: set[str] | None = None
        if "symbol" in query:
            wanted = {query["symbol"][0].upper()}
        elif "symbols" in query:
            try:
                wanted = {str(s).upper() for s in orjson.loads(query["symbols"][0])}
            except orjson.JSONDecodeError:
                return 400, b'{"code":-1100,"msg":"Illegal characters found in parameter \'symbols\'."}'
        symbols = []
        for inst, w in zip(self.instruments, self._wire, strict=True):
            if wanted is not None and w.native not in wanted:
                continue
            tick = fixed(w.price_mult, _WIRE_DECIMALS)
            step = fixed(w.qty_mult, _WIRE_DECIMALS)
            symbols.append(
                {
                    "symbol": w.native,
                    "status": "TRADING",
                    "baseAsset": inst.base,
                    "baseAssetPrecision": 8,
                    "quoteAsset": inst.quote,
                    "quotePrecision": 8,
                    "quoteAssetPrecision": 8,
                    "baseCommissionPrecision": 8,
                    "quoteCommissionPrecision": 8,
                    "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
                    "icebergAllowed": True,
                    "ocoAllowed": True,
                    "quoteOrderQtyMarketAllowed": True,
                    "allowTrailingStop": True,
                    "cancelReplaceAllowed": True,
                    "isSpotTradingAllowed": True,
                    "isMarginTradingAllowed": False,
                    "filters": [
                        {
                            "filterType": "PRICE_FILTER",
                            "minPrice": tick,
                            "maxPrice": "1000000.00000000",
                            "tickSize": tick,
                        },
                        {
                            "filterType": "LOT_SIZE",
                            "minQty": step,
                            "maxQty": "9000.00000000",
                            "stepSize": step,
                        },
                        {
                            "filterType": "NOTIONAL",
                            "minNotional": "5.00000000",
                            "applyMinToMarket": True,
                            "maxNotional": "9000000.00000000",
                            "applyMaxToMarket": False,
                            "avgPriceMins": 5,
                        },
                    ],
                    "permissions": [],
                    "permissionSets": [["SPOT"]],
                    "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
                    "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
                }
            )
        if wanted is not None and not symbols:
            return 400, b'{"code":-1121,"msg":"Invalid symbol."}'
        return 200, orjson.dumps(
            {
                "timezone": "UTC",
                "serverTime": time.time_ns() // 1_000_000,
                "rateLimits": [
                    {
                        "rateLimitType": "REQUEST_WEIGHT",
                        "interval": "MINUTE",
                        "intervalNum": 1,
                        "limit": 6000,
                    },
                    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
                ],
                "exchangeFilters": [],
                "symbols": symbols,
            }
        )
