"""Kraken spot WebSocket v2 at ``/v2``: ``status``, ``instrument``, ``trade``, ``ticker``, ``book``, ping.

Protocol (fixtures' README §1): ``{"method":"subscribe","params":{...},"req_id":N}`` is answered
with one ack per symbol (errors as ``success:false`` acks), then a snapshot where the channel
has one. Values are JSON numbers printed at the pair's precision (from the ``instrument``
channel). Book messages carry a CRC32 ``checksum`` of the top 10 levels after the update (see
:func:`book_checksum`); each subscription depth (10, 25, 100, 500, 1000) gets the updates that
keep a client's book, truncated to that depth, equal to ours. ``{"channel":"heartbeat"}`` goes
out once a second on a subscribed connection that is otherwise quiet.
"""

import functools
import json
import random
import re
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

import orjson
from websockets.asyncio.server import ServerConnection

from alphapulse.sim.faults import Fault, FaultRequest
from alphapulse.sim.framing import text_frame
from alphapulse.sim.market import ASK, BID, BUY, TRADE, MarketEvent
from alphapulse.sim.render import Memo, RfcClock, fixed, rfc3339_us
from alphapulse.sim.server import Conn, VenueSimulator

__all__ = ("DEPTHS", "KrakenConn", "KrakenSim", "book_checksum", "native_symbol")

DEPTHS = (10, 25, 100, 500, 1000)
CHECKSUM_LEVELS = 10
_SYMBOL_RE = re.compile(r'"symbol":"([A-Z0-9]+/[A-Z0-9]+)"')
_CHECKSUM_RE = re.compile(r'"checksum":(\d+)')


def native_symbol(symbol: str) -> str:
    """``BTC-USD`` -> ``BTC/USD``."""
    return symbol.replace("-", "/")


def book_checksum(asks: Iterable[tuple[int, int]], bids: Iterable[tuple[int, int]]) -> int:
    """CRC32 over the top 10 asks (low→high) then bids (high→low), as integer units.

    Kraken's rule (render at pair precision, drop the point, strip leading zeros) is exactly the
    decimal form of the integer number of units, so ``str(units)`` is the token.
    """
    parts: list[str] = []
    for levels in (asks, bids):
        for n, (p, q) in enumerate(levels):
            if n == CHECKSUM_LEVELS:
                break
            parts.append(f"{p}{q}")
    return zlib.crc32("".join(parts).encode())


def _fixed_at(decimals: int, units: int) -> str:
    return fixed(units, decimals)


def _units(d: Decimal, decimals: int) -> int:
    return int(d.scaleb(decimals))


class KrakenConn(Conn):
    def __init__(self, sim: "KrakenSim", ws: ServerConnection) -> None:
        super().__init__(sim, ws)
        self.subs: dict[tuple[str, str], dict[str, Any]] = {}  # (channel, symbol) -> ack result
        self.instrument = False
        self.truth: _ReplayTruth | None = None


@dataclass(slots=True)
class _View:
    """What subscribers of one (symbol, depth) hold: the top ``depth`` levels, best first."""

    depth: int
    bids: list[tuple[int, int]]
    asks: list[tuple[int, int]]


@dataclass(slots=True)
class _ReplayTruth:
    """The venue's books as of some recorded line, rebuilt from the recording."""

    pos: int = 0
    precision: dict[str, tuple[int, int]] = field(default_factory=dict)
    books: dict[str, tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]] = field(default_factory=dict)
    depth: dict[str, int] = field(default_factory=dict)
    instrument_line: str | None = None

    def feed(self, line: str) -> None:
        if '"channel":"instrument"' in line and '"data"' in line:
            self.instrument_line = line
            for pair in orjson.loads(line)["data"].get("pairs", []):
                self.precision[pair["symbol"]] = (int(pair["price_precision"]), int(pair["qty_precision"]))
            return
        if not line.startswith('{"channel":"book"'):
            return
        msg = json.loads(line, parse_float=Decimal)
        for item in msg["data"]:
            sym = item["symbol"]
            if msg["type"] == "snapshot":
                self.books[sym] = ({}, {})
                self.depth[sym] = max(len(item["bids"]), len(item["asks"]), 10)
            bids, asks = self.books.setdefault(sym, ({}, {}))
            for side, levels in ((bids, item["bids"]), (asks, item["asks"])):
                for lv in levels:
                    if lv["qty"] == 0:
                        side.pop(lv["price"], None)
                    else:
                        side[lv["price"]] = lv["qty"]
            depth = self.depth.get(sym, 10)
            for side, rev in ((bids, True), (asks, False)):
                for p in sorted(side, reverse=rev)[depth:]:
                    del side[p]

    def top(self, sym: str, depth: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]], int, int]:
        pd, qd = self.precision.get(sym, (2, 8))
        bids, asks = self.books.get(sym, ({}, {}))
        b = [(_units(p, pd), _units(bids[p], qd)) for p in sorted(bids, reverse=True)[:depth]]
        a = [(_units(p, pd), _units(asks[p], qd)) for p in sorted(asks)[:depth]]
        return b, a, pd, qd


class KrakenSim(VenueSimulator[KrakenConn]):
    venue: ClassVar[str] = "kraken"
    ws_path: ClassVar[str] = "/v2"
    default_symbols: ClassVar[tuple[str, ...]] = ("BTC-USD", "ETH-USD", "SOL-USD")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._native = [native_symbol(inst.symbol) for inst in self.instruments]
        self._px = [Memo(functools.partial(_fixed_at, inst.price_decimals)) for inst in self.instruments]
        self._index = {n: i for i, n in enumerate(self._native)}
        self._subs: dict[tuple[str, int], set[KrakenConn]] = {}
        self._views: dict[tuple[int, int], _View] = {}
        self._views_of: list[list[_View]] = [[] for _ in self.instruments]  # per symbol, for publish
        self._keys = [(("trade", i), ("ticker", i), ("ticker:bbo", i)) for i in range(len(self.instruments))]
        self._clock = RfcClock()
        self._recent: list[list[str]] = [[] for _ in self.instruments]
        self._connection_ids = random.Random(7)
        self._replay_symbols: set[str] = set()
        if self.replay is not None:
            self._replay_symbols = set(_SYMBOL_RE.findall("\n".join(self.replay.lines)))

    def make_conn(self, ws: ServerConnection) -> KrakenConn:
        return KrakenConn(self, ws)

    # ---- requests ------------------------------------------------------------------------

    def on_open(self, conn: KrakenConn) -> None:
        if self.replay is not None:
            return  # the recording starts with its own status message
        status = {
            "channel": "status",
            "data": [
                {
                    "api_version": "v2",
                    "connection_id": self._connection_ids.getrandbits(64),
                    "system": "online",
                    "version": "2.0.0",
                }
            ],
            "type": "update",
        }
        conn.queue_text(orjson.dumps(status).decode())

    def on_close(self, conn: KrakenConn) -> None:
        for channel, sym in list(conn.subs):
            self._remove_sub(conn, channel, sym, conn.subs[(channel, sym)])

    def _reply(self, conn: KrakenConn, body: dict[str, Any], time_in: str) -> None:
        body["time_in"] = time_in
        body["time_out"] = rfc3339_us(time.time_ns())
        conn.send_text(orjson.dumps(body).decode())

    def _error(self, conn: KrakenConn, time_in: str, error: str, method: Any, req_id: Any, **extra: Any) -> None:
        body: dict[str, Any] = {"error": error}
        if isinstance(method, str):
            body["method"] = method
        if req_id is not None:
            body["req_id"] = req_id
        body["success"] = False
        body.update(extra)
        self._reply(conn, body, time_in)

    def on_text(self, conn: KrakenConn, text: str) -> None:
        time_in = rfc3339_us(time.time_ns())
        try:
            req = orjson.loads(text)
        except orjson.JSONDecodeError:
            self._error(conn, time_in, "Malformed request", None, None)
            return
        if not isinstance(req, dict):
            self._error(conn, time_in, "Malformed request", None, None)
            return
        method = req.get("method")
        req_id = req.get("req_id")
        if req_id is not None and (not isinstance(req_id, int) or isinstance(req_id, bool)):
            self._error(conn, time_in, "Invalid req_id", method, None)
            return
        if method == "ping":
            body: dict[str, Any] = {"method": "pong"}
            if req_id is not None:
                body["req_id"] = req_id
            self._reply(conn, body, time_in)
            return
        if method not in ("subscribe", "unsubscribe"):
            self._error(conn, time_in, "Method not found", method, req_id)
            return
        params = req.get("params")
        if not isinstance(params, dict) or not isinstance(params.get("channel"), str):
            self._error(conn, time_in, "Missing field: channel", method, req_id)
            return
        channel = params["channel"]
        live = self.answers_live(conn)
        if channel in ("instrument", "heartbeat", "status"):
            self._simple_channel(conn, method, req_id, params, time_in=time_in, live=live)
            return
        if channel not in ("trade", "ticker", "book"):
            self._error(conn, time_in, f"Channel {channel} not supported", method, req_id)
            return
        symbols = params.get("symbol")
        if not isinstance(symbols, list) or not symbols or not all(isinstance(s, str) for s in symbols):
            self._error(conn, time_in, "Missing field: symbol", method, req_id)
            return
        depth = params.get("depth", 10)
        if channel == "book" and depth not in DEPTHS:
            self._error(conn, time_in, f"Invalid depth {depth}", method, req_id)
            return
        trigger = params.get("event_trigger", "trades")
        if channel == "ticker" and trigger not in ("trades", "bbo"):
            self._error(conn, time_in, f"Invalid event_trigger {trigger}", method, req_id)
            return
        default_snapshot = channel != "trade"
        snapshot = bool(params.get("snapshot", default_snapshot))
        known = self._replay_symbols if self.replay is not None else set(self._index)
        for sym in symbols:
            if sym not in known:
                if live:
                    self._error(conn, time_in, f"Currency pair not supported {sym}", method, req_id, symbol=sym)
                continue
            result: dict[str, Any] = {"channel": channel}
            if channel == "book":
                result["depth"] = depth
            result["snapshot"] = snapshot
            result["symbol"] = sym
            if method == "subscribe":
                if (channel, sym) in conn.subs:
                    if live:
                        self._error(conn, time_in, "Already subscribed", method, req_id, symbol=sym)
                    continue
                conn.subs[(channel, sym)] = {"depth": depth, "trigger": trigger}
                self._add_sub(conn, channel, sym, conn.subs[(channel, sym)])
            else:
                old = conn.subs.pop((channel, sym), None)
                if old is None:
                    if live:
                        self._error(conn, time_in, "Subscription Not Found", method, req_id, symbol=sym)
                    continue
                self._remove_sub(conn, channel, sym, old)
                if channel == "book":
                    result["depth"] = old["depth"]
            if not live:
                continue
            ack: dict[str, Any] = {"method": method}
            if req_id is not None:
                ack["req_id"] = req_id
            ack["result"] = result
            ack["success"] = True
            self._reply(conn, ack, time_in)
            if method == "subscribe" and snapshot:
                self._snapshot(conn, channel, sym, depth)

    def _simple_channel(
        self, conn: KrakenConn, method: str, req_id: Any, params: dict[str, Any], *, time_in: str, live: bool
    ) -> None:
        channel = params["channel"]
        snapshot = bool(params.get("snapshot", True))
        if channel == "instrument":
            conn.instrument = method == "subscribe"
        if not live:
            return
        result: dict[str, Any] = {"channel": channel}
        if channel == "instrument":
            result["snapshot"] = snapshot
            result["warnings"] = ["tick_size is deprecated, use price_increment"]
        ack: dict[str, Any] = {"method": method}
        if req_id is not None:
            ack["req_id"] = req_id
        ack["result"] = result
        ack["success"] = True
        self._reply(conn, ack, time_in)
        if channel == "instrument" and method == "subscribe" and snapshot:
            conn.send_text(self._instrument_snapshot(conn))

    def _key(self, channel: str, params: dict[str, Any]) -> str:
        if channel == "book":
            return f"book:{params['depth']}"
        if channel == "ticker" and params["trigger"] == "bbo":
            return "ticker:bbo"
        return channel

    def _add_sub(self, conn: KrakenConn, channel: str, sym: str, params: dict[str, Any]) -> None:
        i = self._index_of(sym)
        if i is None:
            return
        key = self._key(channel, params)
        self._subs.setdefault((key, i), set()).add(conn)
        if channel == "book" and self.model is not None and (i, params["depth"]) not in self._views:
            book = self.model.book(i)
            d = params["depth"]
            self._views[(i, d)] = view = _View(d, book.top(BID, d), book.top(ASK, d))
            self._views_of[i].append(view)

    def _remove_sub(self, conn: KrakenConn, channel: str, sym: str, params: dict[str, Any]) -> None:
        i = self._index_of(sym)
        if i is None:
            return
        key = self._key(channel, params)
        subs = self._subs.get((key, i))
        if subs is not None:
            subs.discard(conn)
            if not subs and channel == "book":
                view = self._views.pop((i, params["depth"]), None)
                if view is not None:
                    self._views_of[i].remove(view)

    def _index_of(self, sym: str) -> int | None:
        return self._index.get(sym) if self.model is not None else None

    # ---- snapshots -----------------------------------------------------------------------

    def _snapshot(self, conn: KrakenConn, channel: str, sym: str, depth: int) -> None:
        now = self._clock.us(time.time_ns())
        if self.model is None:
            if channel == "book":
                truth = self._truth(conn)
                b, a, pd, qd = truth.top(sym, depth)
                conn.send_text(
                    self._book_msg(
                        "snapshot",
                        sym=sym,
                        bids=b,
                        asks=a,
                        checksum=book_checksum(a, b),
                        ts=now,
                        pd=pd,
                        qd=qd,
                    )
                )
            return
        i = self._index[sym]
        inst = self.instruments[i]
        if channel == "book":
            v = self._views[(i, depth)]
            cks = book_checksum(v.asks, v.bids)
            conn.send_text(
                self._book_msg(
                    "snapshot",
                    sym=sym,
                    bids=v.bids,
                    asks=v.asks,
                    checksum=cks,
                    ts=now,
                    pd=inst.price_decimals,
                    qd=inst.qty_decimals,
                )
            )
        elif channel == "ticker":
            conn.send_text(f'{{"channel":"ticker","type":"snapshot","data":[{self._ticker(i, now)}]}}')
        elif channel == "trade":
            trades = ",".join(self._recent[i][-50:])
            conn.send_text(f'{{"channel":"trade","type":"snapshot","data":[{trades}]}}')

    @staticmethod
    def _book_msg(
        kind: str,
        *,
        sym: str,
        bids: list[tuple[int, int]],
        asks: list[tuple[int, int]],
        checksum: int,
        ts: str,
        pd: int,
        qd: int,
    ) -> str:
        b = ",".join(f'{{"price":{fixed(p, pd)},"qty":{fixed(q, qd)}}}' for p, q in bids)
        a = ",".join(f'{{"price":{fixed(p, pd)},"qty":{fixed(q, qd)}}}' for p, q in asks)
        return (
            f'{{"channel":"book","type":"{kind}","data":[{{"symbol":"{sym}","bids":[{b}],"asks":[{a}],'
            f'"checksum":{checksum},"timestamp":"{ts}"}}]}}'
        )

    def _instrument_snapshot(self, conn: KrakenConn) -> str:
        if self.model is None:
            truth = self._truth(conn)
            if truth.instrument_line is not None:
                return truth.instrument_line
        assets = sorted({a for inst in self.instruments for a in (inst.base, inst.quote)})
        pairs = []
        for inst, sym in zip(self.instruments, self._native, strict=True):
            inc_p = float(Decimal(1).scaleb(-inst.price_decimals))
            inc_q = float(Decimal(1).scaleb(-inst.qty_decimals))
            pairs.append(
                {
                    "symbol": sym,
                    "base": inst.base,
                    "quote": inst.quote,
                    "status": "online",
                    "qty_precision": inst.qty_decimals,
                    "qty_increment": inc_q,
                    "price_precision": inst.price_decimals,
                    "cost_precision": 5,
                    "marginable": False,
                    "has_index": True,
                    "cost_min": 0.5,
                    "tick_size": inc_p,
                    "price_increment": inc_p,
                    "qty_min": inc_q,
                }
            )
        data = {
            "assets": [
                {
                    "id": a,
                    "status": "enabled",
                    "precision": 10,
                    "precision_display": 5,
                    "borrowable": False,
                    "collateral_value": 1.0,
                    "margin_rate": 0.02,
                }
                for a in assets
            ],
            "pairs": pairs,
        }
        return orjson.dumps({"channel": "instrument", "type": "snapshot", "data": data}).decode()

    def _ticker(self, i: int, ts: str) -> str:
        assert self.model is not None
        s = self.model.stats(i)
        book = self.model.book(i)
        inst = self.instruments[i]
        pd, qd = inst.price_decimals, inst.qty_decimals
        px = self._px[i]
        bb, ba = book.bid_px[-1], book.ask_px[0]
        vwap = s.notional // s.volume if s.volume else s.last
        pct = (s.last - s.open) * 100 / s.open
        return (
            f'{{"symbol":"{self._native[i]}","bid":{px[bb]},"bid_qty":{fixed(book.bids[bb], qd)},'
            f'"ask":{px[ba]},"ask_qty":{fixed(book.asks[ba], qd)},"last":{px[s.last]},'
            f'"volume":{fixed(s.volume, qd)},"vwap":{px[vwap]},"low":{px[s.low]},'
            f'"high":{px[s.high]},"change":{fixed(s.last - s.open, pd)},"change_pct":{pct:.2f},'
            f'"timestamp":"{ts}"}}'
        )

    # ---- synthetic market ----------------------------------------------------------------

    def stamp_pairs(self, tick_ns: int, now_ns: int) -> tuple[tuple[bytes, bytes], ...]:
        old, new = self._clock.us(tick_ns), self._clock.us(now_ns)
        return ((old.encode(), new.encode()),) if old != new else ()

    def publish(self, events: list[MarketEvent]) -> None:
        model = self.model
        assert model is not None
        subs = self._subs
        clock = self._clock
        keys = self._keys
        views_of = self._views_of
        for kind, i, side, price, qty, trade_id, ts_ns in events:
            k_trade, k_ticker, k_bbo = keys[i]
            if kind == TRADE:
                ts = clock.us(ts_ns)
                taker = "buy" if side == BUY else "sell"
                trade = (
                    f'{{"symbol":"{self._native[i]}","side":"{taker}","price":{self._px[i][price]},'
                    f'"qty":{fixed(qty, self.instruments[i].qty_decimals)},"ord_type":"limit",'
                    f'"trade_id":{trade_id},"timestamp":"{ts}"}}'
                )
                recent = self._recent[i]
                recent.append(trade)
                if len(recent) > 100:
                    del recent[:50]
                if subs.get(k_trade):
                    self._fanout(k_trade, f'{{"channel":"trade","type":"update","data":[{trade}]}}')
                if subs.get(k_ticker):
                    self._fanout(k_ticker, f'{{"channel":"ticker","type":"update","data":[{self._ticker(i, ts)}]}}')
                continue
            if subs.get(k_bbo):
                book = model.book(i)
                if price in (book.bid_px[-1], book.ask_px[0]) or qty == 0:
                    self._fanout(
                        k_bbo,
                        f'{{"channel":"ticker","type":"update","data":[{self._ticker(i, clock.us(ts_ns))}]}}',
                    )
            for view in views_of[i]:
                # a change strictly behind a full view's worst level cannot alter the view
                shown = view.bids if side == BID else view.asks
                if len(shown) == view.depth and (price < shown[-1][0] if side == BID else price > shown[-1][0]):
                    continue
                self._book_update(i, view, side, clock.us(ts_ns))

    def _book_update(self, i: int, view: _View, side: int, ts: str) -> None:
        assert self.model is not None
        book = self.model.book(i)
        new = book.top(side, view.depth)
        old = view.bids if side == BID else view.asks
        if new == old:
            return
        levels = book.bids if side == BID else book.asks
        old_d = dict(old)
        changed = [(p, q) for p, q in new if old_d.get(p) != q]
        new_d = dict(new)
        changed += [(p, 0) for p, _ in old if p not in new_d and p not in levels]
        if side == BID:
            view.bids = new
        else:
            view.asks = new
        qd = self.instruments[i].qty_decimals
        pxm = self._px[i]
        rendered = ",".join(f'{{"price":{pxm[p]},"qty":{fixed(q, qd)}}}' for p, q in changed)
        bids, asks = (rendered, "") if side == BID else ("", rendered)
        cks = book_checksum(view.asks, view.bids)
        head = f'{{"channel":"book","type":"update","data":[{{"symbol":"{self._native[i]}","bids":[{bids}],'
        head += f'"asks":[{asks}],"checksum":'
        tail = f',"timestamp":"{ts}"}}]}}'
        frame: bytes | None = None
        for conn in self._subs.get((f"book:{view.depth}", i), ()):
            if conn.pending:
                fault = self._book_fault(conn)
                if fault is not None:
                    if fault.fault is Fault.CORRUPT_CHECKSUM:
                        conn.queue_text(f"{head}{cks ^ 0x5A5A5A5A}{tail}")
                    continue  # SKIP_SEQUENCE: this update never reaches the client
            if frame is None:
                frame = text_frame(f"{head}{cks}{tail}".encode())
            conn.queue(frame)

    @staticmethod
    def _book_fault(conn: KrakenConn) -> FaultRequest | None:
        return conn.take_fault(Fault.CORRUPT_CHECKSUM) or conn.take_fault(Fault.SKIP_SEQUENCE)

    def _fanout(self, key: tuple[str, int], text: str) -> None:
        frame = text_frame(text.encode())
        for conn in self._subs.get(key, ()):
            conn.queue(frame)

    def on_heartbeat(self, conn: KrakenConn, now_s: float) -> None:
        if (conn.subs or conn.instrument) and now_s - conn.last_send_s >= self.heartbeat_interval_s:
            conn.queue_text('{"channel":"heartbeat"}')

    # ---- replay --------------------------------------------------------------------------

    def check_fault(self, fault: Fault) -> None:
        """Kraken has checksums to corrupt, but no shutdown notice."""
        if fault is Fault.SERVER_SHUTDOWN:
            super().check_fault(fault)

    def is_recorded_ack(self, line: str) -> bool:
        return line.startswith(('{"method":"subscribe"', '{"method":"unsubscribe"'))

    def replay_line(self, conn: KrakenConn, index: int, line: str) -> str | None:
        if not line.startswith('{"channel":"book"'):
            return line
        if conn.take_fault(Fault.CORRUPT_CHECKSUM):
            m = _CHECKSUM_RE.search(line)
            if m is not None:
                bad = int(m.group(1)) ^ 0x5A5A5A5A
                return line[: m.start(1)] + str(bad) + line[m.end(1) :]
        if '"type":"update"' in line and conn.take_fault(Fault.SKIP_SEQUENCE):
            return None
        return line

    def _truth(self, conn: KrakenConn) -> _ReplayTruth:
        """The recording's state as of this connection's position (dropped lines included)."""
        assert self.replay is not None
        if conn.truth is None:
            conn.truth = _ReplayTruth()
        truth = conn.truth
        lines = self.replay.lines
        while truth.pos < conn.replay_index:
            truth.feed(lines[truth.pos])
            truth.pos += 1
        return truth
