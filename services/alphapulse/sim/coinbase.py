"""Coinbase Advanced Trade market data: ``heartbeats``, ``market_trades``, ``ticker``, ``level2``.

Protocol (fixtures' README §2): one channel per ``subscribe``/``unsubscribe`` message, each answered
by a ``subscriptions`` message listing everything the connection is subscribed to; a client that
has not subscribed within ``subscribe_timeout_s`` (5 s, as documented) is disconnected. Every
message carries ``sequence_num``: one counter per connection across all channels, from 0.
``level2`` data arrives on channel ``l2_data``. Values are minimal decimal strings. Trade ``side``
is the maker's side (the fixtures' convention; the collector flips it). Products (REST
``/api/v3/brokerage/market/products``) are served on the REST port.
"""

import asyncio
import functools
import re
import time
from collections import deque
from decimal import Decimal
from typing import Any, ClassVar

import orjson
from websockets.asyncio.server import ServerConnection

from alphapulse.sim.faults import Fault
from alphapulse.sim.framing import text_frame
from alphapulse.sim.http import RestResponse
from alphapulse.sim.market import BID, BUY, TRADE, MarketEvent
from alphapulse.sim.render import Memo, RfcClock, go_time, minimal, rfc3339_ns
from alphapulse.sim.server import Conn, VenueSimulator

__all__ = ("CoinbaseConn", "CoinbaseSim")

CHANNELS = ("heartbeats", "market_trades", "ticker", "level2")
_SEQ_RE = re.compile(r'"sequence_num":(\d+)')
_SNAPSHOT_TRADES = 3
_PRODUCTS_PATH = "/api/v3/brokerage/market/products"


class CoinbaseConn(Conn):
    def __init__(self, sim: "CoinbaseSim", ws: ServerConnection) -> None:
        super().__init__(sim, ws)
        self.seq = 0  # the next sequence_num this connection sends
        self.seq_offset = 0  # live messages inserted into a replay so far (renumbers what follows)
        self.subs: dict[str, list[str]] = {}  # channel -> products, in subscription order
        self.hb_counter = 0
        self.subscribed_once = False
        self.timeout_handle: asyncio.TimerHandle | None = None
        self.truth: dict[str, tuple[dict[str, str], dict[str, str]]] = {}  # replay: product -> books
        self.truth_pos = 0

    def next_seq(self) -> int:
        """The number for a live message; inside a replay it shifts every later recorded line by one."""
        if self.replaying:
            recorded: list[int] = self.sim.recorded_seq  # type: ignore[attr-defined]
            self.seq = recorded[self.replay_index - 1] + self.seq_offset + 1
            self.seq_offset += 1
        seq = self.seq
        self.seq = seq + 1
        return seq


def _minimal_at(decimals: int, units: int) -> str:
    return minimal(units, decimals)


def _envelope(channel: str, ts: str, seq: int, events: str) -> str:
    return f'{{"channel":"{channel}","timestamp":"{ts}","sequence_num":{seq},"events":{events}}}'


class CoinbaseSim(VenueSimulator[CoinbaseConn]):
    venue: ClassVar[str] = "coinbase"
    ws_path: ClassVar[str] = "/"
    has_rest: ClassVar[bool] = True
    default_symbols: ClassVar[tuple[str, ...]] = ("BTC-USD", "ETH-USD", "SOL-USD")

    def __init__(self, *, subscribe_timeout_s: float = 5.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.subscribe_timeout_s = subscribe_timeout_s
        self._products = {inst.symbol: i for i, inst in enumerate(self.instruments)}
        self._pxm = [Memo(functools.partial(_minimal_at, inst.price_decimals)) for inst in self.instruments]
        self._subs: dict[tuple[str, int], set[CoinbaseConn]] = {}
        self._recent: list[deque[str]] = [deque(maxlen=_SNAPSHOT_TRADES) for _ in self.instruments]
        self._clock = RfcClock()
        self.recorded_seq: list[int] = []
        self._replay_products: set[str] = set()
        self._recorded_l2 = self.replay is not None and any('"channel":"l2_data"' in ln for ln in self.replay.lines)
        if self.replay is not None:
            last = -1
            for line in self.replay.lines:
                m = _SEQ_RE.search(line)
                if m is not None:
                    last = int(m.group(1))
                self.recorded_seq.append(last)

    def make_conn(self, ws: ServerConnection) -> CoinbaseConn:
        return CoinbaseConn(self, ws)

    # ---- connection ----------------------------------------------------------------------

    def on_open(self, conn: CoinbaseConn) -> None:
        loop = asyncio.get_running_loop()
        conn.timeout_handle = loop.call_later(self.subscribe_timeout_s, self._subscribe_timeout, conn)

    def _subscribe_timeout(self, conn: CoinbaseConn) -> None:
        if not conn.subscribed_once and conn.open:
            self._spawn(conn.ws.close(1008, "subscribe timeout"), f"sim.coinbase.timeout.{conn.id}")

    def on_close(self, conn: CoinbaseConn) -> None:
        if conn.timeout_handle is not None:
            conn.timeout_handle.cancel()
        for channel, products in conn.subs.items():
            for p in products:
                subs = self._subs.get((channel, self._products.get(p, -1)))
                if subs is not None:
                    subs.discard(conn)

    def _error(self, conn: CoinbaseConn, message: str) -> None:
        conn.send_text(orjson.dumps({"type": "error", "message": message}).decode())

    def on_text(self, conn: CoinbaseConn, text: str) -> None:
        try:
            req = orjson.loads(text)
        except orjson.JSONDecodeError:
            self._error(conn, "failure to parse message")
            return
        if not isinstance(req, dict) or req.get("type") not in ("subscribe", "unsubscribe"):
            self._error(conn, "unknown message type")
            return
        channel = req.get("channel")
        products = req.get("product_ids", [])
        if channel not in CHANNELS or not isinstance(products, list):
            self._error(conn, "failure to subscribe")
            return
        known = self._known_products()
        if any(not isinstance(p, str) or p not in known for p in products):
            self._error(conn, "failure to subscribe")
            return
        if channel != "heartbeats" and req["type"] == "subscribe" and not products:
            self._error(conn, "failure to subscribe")
            return
        if req["type"] == "subscribe":
            conn.subscribed_once = True
            added = [p for p in products if p not in conn.subs.get(channel, [])]
            conn.subs.setdefault(channel, []).extend(added)
            for p in added:
                if p in self._products:
                    self._subs.setdefault((channel, self._products[p]), set()).add(conn)
        else:
            current = conn.subs.get(channel, [])
            gone = list(current) if not products else [p for p in products if p in current]
            for p in gone:
                current.remove(p)
                subs = self._subs.get((channel, self._products.get(p, -1)))
                if subs is not None:
                    subs.discard(conn)
            if not current:
                conn.subs.pop(channel, None)
            added = []
        if not self.answers_live(conn):
            return
        self._send_live(conn, "subscriptions", f'[{{"subscriptions":{orjson.dumps(conn.subs).decode()}}}]')
        if req["type"] == "subscribe":
            self._snapshots(conn, channel, added)

    def _known_products(self) -> set[str]:
        if self.replay is None:
            return set(self._products)
        if not self._replay_products:
            body = self.replay.rest.get(_PRODUCTS_PATH)
            if body is not None:
                self._replay_products = {p["product_id"] for p in orjson.loads(body)["products"]}
            else:
                self._replay_products = set(re.findall(r'"product_id":"([^"]+)"', "\n".join(self.replay.lines)))
        return self._replay_products

    def _send_live(self, conn: CoinbaseConn, channel: str, events: str) -> None:
        conn.send_text(_envelope(channel, self._clock.ns(self._now_ns()), conn.next_seq(), events))

    @staticmethod
    def _now_ns() -> int:
        return time.time_ns()

    # ---- snapshots -----------------------------------------------------------------------

    def _snapshots(self, conn: CoinbaseConn, channel: str, products: list[str]) -> None:
        if self.model is None:
            # replay: a level2 (re)subscription gets the recorded book as of this connection's
            # position (lost lines included); other channels have no live state to snapshot
            if channel == "level2":
                truth = self._truth(conn)
                for p in products:
                    bids, offers = truth.get(p, ({}, {}))
                    epoch = "1970-01-01T00:00:00Z"
                    ups = [
                        f'{{"side":"bid","event_time":"{epoch}","price_level":"{px}","new_quantity":"{q}"}}'
                        for px, q in sorted(bids.items(), key=lambda kv: Decimal(kv[0]), reverse=True)
                    ]
                    ups += [
                        f'{{"side":"offer","event_time":"{epoch}","price_level":"{px}","new_quantity":"{q}"}}'
                        for px, q in sorted(offers.items(), key=lambda kv: Decimal(kv[0]))
                    ]
                    self._send_live(
                        conn,
                        "l2_data",
                        f'[{{"type":"snapshot","product_id":"{p}","updates":[{",".join(ups)}]}}]',
                    )
            return
        for p in products:
            i = self._products[p]
            if channel == "market_trades":
                trades = ",".join(reversed(self._recent[i]))  # newest first
                self._send_live(conn, "market_trades", f'[{{"type":"snapshot","trades":[{trades}]}}]')
            elif channel == "ticker":
                self._send_live(conn, "ticker", f'[{{"type":"snapshot","tickers":[{self._ticker(i)}]}}]')
            elif channel == "level2":
                book = self.model.book(i)
                epoch = "1970-01-01T00:00:00Z"
                ups = [
                    f'{{"side":"bid","event_time":"{epoch}","price_level":"{self._px(i, px)}",'
                    f'"new_quantity":"{self._qty(i, q)}"}}'
                    for px, q in book.top(BID, len(book.bids))
                ]
                ups += [
                    f'{{"side":"offer","event_time":"{epoch}","price_level":"{self._px(i, px)}",'
                    f'"new_quantity":"{self._qty(i, q)}"}}'
                    for px, q in book.top(1, len(book.asks))
                ]
                self._send_live(
                    conn, "l2_data", f'[{{"type":"snapshot","product_id":"{p}","updates":[{",".join(ups)}]}}]'
                )

    def _px(self, i: int, units: int) -> str:
        return self._pxm[i][units]

    def _qty(self, i: int, units: int) -> str:
        return minimal(units, self.instruments[i].qty_decimals)

    def _ticker(self, i: int) -> str:
        assert self.model is not None
        s = self.model.stats(i)
        book = self.model.book(i)
        bb, ba = book.bid_px[-1], book.ask_px[0]
        inst = self.instruments[i]
        px = self._pxm[i]
        chg = (s.last - s.open) * 100 / s.open
        return (
            f'{{"type":"ticker","product_id":"{inst.symbol}","price":"{px[s.last]}",'
            f'"volume_24_h":"{self._qty(i, s.volume)}","low_24_h":"{px[s.low]}",'
            f'"high_24_h":"{px[s.high]}","low_52_w":"{px[s.low * 2 // 3]}",'
            f'"high_52_w":"{px[s.high * 4 // 3]}","price_percent_chg_24_h":"{chg:.8f}",'
            f'"best_bid":"{px[bb]}","best_bid_quantity":"{self._qty(i, book.bids[bb])}",'
            f'"best_ask":"{px[ba]}","best_ask_quantity":"{self._qty(i, book.asks[ba])}"}}'
        )

    # ---- synthetic market ----------------------------------------------------------------

    def _fanout(self, channel: str, i: int, ts: str, events: str, *, l2: bool = False) -> None:
        subs = self._subs.get((channel, i))
        if not subs:
            return
        wire = "l2_data" if l2 else channel
        head = f'{{"channel":"{wire}","timestamp":"{ts}","sequence_num":'.encode()
        tail = f',"events":{events}}}'.encode()
        for conn in subs:
            seq = conn.seq
            conn.seq = seq + 1
            if conn.pending and self._skips(conn, l2):
                continue  # the number is used up: the client sees sequence_num jump
            conn.queue(text_frame(head + str(seq).encode() + tail))

    @staticmethod
    def _skips(conn: CoinbaseConn, l2: bool) -> bool:
        if l2 or "level2" not in conn.subs:
            return conn.take_fault(Fault.SKIP_SEQUENCE) is not None
        return False

    def stamp_pairs(self, tick_ns: int, now_ns: int) -> tuple[tuple[bytes, bytes], ...]:
        clock = self._clock
        pairs = ((clock.ns(tick_ns), clock.ns(now_ns)), (clock.us(tick_ns), clock.us(now_ns)))
        return tuple((old.encode(), new.encode()) for old, new in pairs if old != new)

    def publish(self, events: list[MarketEvent]) -> None:
        clock = self._clock
        subs = self._subs
        for kind, i, side, price, qty, trade_id, ts_ns in events:
            ts = clock.ns(ts_ns)
            if kind == TRADE:
                inst = self.instruments[i]
                maker = "SELL" if side == BUY else "BUY"
                trade = (
                    f'{{"trade_id":"{trade_id}","product_id":"{inst.symbol}",'
                    f'"price":"{self._pxm[i][price]}",'
                    f'"size":"{minimal(qty, inst.qty_decimals)}","side":"{maker}",'
                    f'"time":"{clock.us(ts_ns)}"}}'
                )
                self._recent[i].append(trade)
                if subs.get(("market_trades", i)):
                    self._fanout("market_trades", i, ts, f'[{{"type":"update","trades":[{trade}]}}]')
                if subs.get(("ticker", i)):
                    self._fanout("ticker", i, ts, f'[{{"type":"update","tickers":[{self._ticker(i)}]}}]')
                continue
            if subs.get(("level2", i)):
                inst = self.instruments[i]
                l2side = "bid" if side == BID else "offer"
                self._fanout(
                    "level2",
                    i,
                    ts,
                    f'[{{"type":"update","product_id":"{inst.symbol}","updates":[{{"side":"{l2side}",'
                    f'"event_time":"{clock.us(ts_ns)}",'
                    f'"price_level":"{self._pxm[i][price]}",'
                    f'"new_quantity":"{minimal(qty, inst.qty_decimals)}"}}]}}]',
                    l2=True,
                )

    def on_heartbeat(self, conn: CoinbaseConn, now_s: float) -> None:
        if "heartbeats" not in conn.subs:
            return
        conn.hb_counter += 1
        ns = self._now_ns()
        self._send_live(
            conn,
            "heartbeats",
            f'[{{"current_time":"{go_time(ns)}","heartbeat_counter":{conn.hb_counter}}}]',
        )

    # ---- replay --------------------------------------------------------------------------

    def is_recorded_ack(self, line: str) -> bool:
        return line.startswith('{"channel":"subscriptions"')

    def rewrites(self, conn: CoinbaseConn) -> bool:
        return conn.seq_offset != 0

    def replay_line(self, conn: CoinbaseConn, index: int, line: str) -> str | None:
        recorded = self.recorded_seq[index]
        if conn.pending and '"sequence_num"' in line:
            # the recording's own channels decide: its next l2_data update if it has level2
            target = not self._recorded_l2 or ('"channel":"l2_data"' in line and '"type":"update"' in line)
            if target and conn.take_fault(Fault.SKIP_SEQUENCE):
                return None
        if conn.seq_offset and '"sequence_num"' in line:
            return _SEQ_RE.sub(f'"sequence_num":{recorded + conn.seq_offset}', line, count=1)
        return line

    def _truth(self, conn: CoinbaseConn) -> dict[str, tuple[dict[str, str], dict[str, str]]]:
        """Books per product as of this connection's replay position, from the recorded l2_data."""
        assert self.replay is not None
        lines = self.replay.lines
        while conn.truth_pos < conn.replay_index:
            line = lines[conn.truth_pos]
            conn.truth_pos += 1
            if '"channel":"l2_data"' not in line:
                continue
            for event in orjson.loads(line)["events"]:
                if event["type"] == "snapshot":
                    conn.truth[event["product_id"]] = ({}, {})
                bids, offers = conn.truth.setdefault(event["product_id"], ({}, {}))
                for up in event["updates"]:
                    side = bids if up["side"] == "bid" else offers
                    if Decimal(up["new_quantity"]) == 0:
                        side.pop(up["price_level"], None)
                    else:
                        side[up["price_level"]] = up["new_quantity"]
        return conn.truth

    def on_replay_done(self, conn: CoinbaseConn) -> None:
        assert self.replay is not None
        if self.recorded_seq:
            conn.seq = self.recorded_seq[-1] + conn.seq_offset + 1
        for line in reversed(self.replay.lines):
            if line.startswith('{"channel":"heartbeats"'):
                m = re.search(r'"heartbeat_counter":"?(\d+)', line)
                if m is not None:
                    conn.hb_counter = int(m.group(1))
                break

    # ---- REST ----------------------------------------------------------------------------

    def rest(self, path: str, query: dict[str, list[str]]) -> RestResponse:
        if self.replay is not None:
            body = self.replay.rest.get(_PRODUCTS_PATH)
            if body is None:
                return 404, b'{"error":"NOT_FOUND","message":"not recorded"}'
            products: list[dict[str, Any]] = orjson.loads(body)["products"]
            if path == _PRODUCTS_PATH and "product_ids" not in query:
                return 200, body
        else:
            products = [self._product(i) for i in range(len(self.instruments))]
        if path == _PRODUCTS_PATH:
            wanted = query.get("product_ids")
            if wanted:
                products = [p for p in products if p["product_id"] in wanted]
            return 200, orjson.dumps({"products": products, "num_products": len(products)})
        if path.startswith(_PRODUCTS_PATH + "/"):
            pid = path[len(_PRODUCTS_PATH) + 1 :]
            for p in products:
                if p["product_id"] == pid:
                    return 200, orjson.dumps(p)
            return (
                404,
                b'{"error":"NOT_FOUND","error_details":"ProductID is invalid","message":"ProductID is invalid"}',
            )
        return 404, b'{"error":"NOT_FOUND","message":"not found"}'

    def _product(self, i: int) -> dict[str, Any]:
        assert self.model is not None
        inst = self.instruments[i]
        s = self.model.stats(i)
        tick = minimal(1, inst.price_decimals)
        step = minimal(1, inst.qty_decimals)
        price = minimal(s.last, inst.price_decimals)
        return {
            "product_id": inst.symbol,
            "price": price,
            "price_percentage_change_24h": f"{(s.last - s.open) * 100 / s.open:.8f}",
            "volume_24h": minimal(s.volume, inst.qty_decimals),
            "volume_percentage_change_24h": "0",
            "base_increment": step,
            "quote_increment": tick,
            "quote_min_size": "1",
            "quote_max_size": "150000000",
            "base_min_size": step,
            "base_max_size": "3400",
            "base_name": inst.base,
            "quote_name": inst.quote,
            "watched": False,
            "is_disabled": False,
            "new": False,
            "status": "online",
            "cancel_only": False,
            "limit_only": False,
            "post_only": False,
            "trading_disabled": False,
            "auction_mode": False,
            "product_type": "SPOT",
            "quote_currency_id": inst.quote,
            "base_currency_id": inst.base,
            "fcm_trading_session_details": None,
            "mid_market_price": "",
            "alias": "",
            "alias_to": [],
            "base_display_symbol": inst.base,
            "quote_display_symbol": inst.quote,
            "view_only": False,
            "price_increment": tick,
            "display_name": inst.symbol,
            "product_venue": "CBE",
            "approximate_quote_24h_volume": "0",
            "new_at": rfc3339_ns(0),
        }
