"""Protocol conformance of the synthetic venues, checked with a real ``websockets`` client."""

import asyncio
import itertools
import json
import urllib.error
import urllib.request
from decimal import Decimal
from typing import Any

import pytest
from sim_testkit import KrakenBook, binance_sync, recv_all, recv_until
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from alphapulse.sim import simulator


async def _get_json(url: str) -> Any:
    def fetch() -> Any:
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read(), parse_float=Decimal)

    return await asyncio.to_thread(fetch)


def _on_step(value: str, step: Decimal) -> bool:
    return Decimal(value) % step == 0


# ---- Kraken ---------------------------------------------------------------------------------


async def test_kraken_status_acks_errors_and_pong() -> None:
    async with simulator("kraken", rate=0) as sim, connect(sim.ws_url) as ws:
        status = json.loads(await ws.recv())
        assert status["channel"] == "status"
        assert status["type"] == "update"
        assert status["data"][0]["api_version"] == "v2"
        assert status["data"][0]["system"] == "online"
        assert isinstance(status["data"][0]["connection_id"], int)

        await ws.send('{"method":"subscribe","params":{"channel":"instrument"},"req_id":7}')
        ack = json.loads(await ws.recv())
        assert ack["method"] == "subscribe"
        assert ack["req_id"] == 7
        assert ack["success"] is True
        assert ack["result"]["channel"] == "instrument"
        inst = json.loads(await ws.recv(), parse_float=Decimal)
        assert (inst["channel"], inst["type"]) == ("instrument", "snapshot")
        pairs = {p["symbol"]: p for p in inst["data"]["pairs"]}
        assert set(pairs) == {"BTC/USD", "ETH/USD", "SOL/USD"}
        assert (pairs["BTC/USD"]["price_precision"], pairs["BTC/USD"]["qty_precision"]) == (1, 8)
        assert pairs["ETH/USD"]["price_increment"] == Decimal("0.01")

        await ws.send(
            '{"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USD","XBT/USD","ETH/USD"],'
            '"snapshot":false},"req_id":1}'
        )
        replies = [json.loads(m) for m in await recv_all(ws, idle_s=0.3)]
        ok = [r for r in replies if r.get("success")]
        bad = [r for r in replies if r.get("success") is False]
        assert [r["result"]["symbol"] for r in ok] == ["BTC/USD", "ETH/USD"]  # one ack per symbol
        assert all(r["req_id"] == 1 and r["result"]["channel"] == "trade" for r in ok)
        assert bad[0]["error"] == "Currency pair not supported XBT/USD"
        assert bad[0]["symbol"] == "XBT/USD"
        assert all("time_in" in r and "time_out" in r for r in replies)

        await ws.send('{"method":"ping","req_id":4}')
        pong = json.loads(await ws.recv())
        assert pong["method"] == "pong"
        assert pong["req_id"] == 4

        for request, error in [
            ("{not json", "Malformed request"),
            ('{"method":"explode","req_id":5}', "Method not found"),
            (
                '{"method":"subscribe","params":{"channel":"book","symbol":["BTC/USD"],"depth":7}}',
                "Invalid depth 7",
            ),
            ('{"method":"subscribe","params":{"channel":"trade"}}', "Missing field: symbol"),
            (
                '{"method":"unsubscribe","params":{"channel":"ticker","symbol":["BTC/USD"]}}',
                "Subscription Not Found",
            ),
        ]:
            await ws.send(request)
            reply = json.loads(await ws.recv())
            assert reply["success"] is False
            assert reply["error"] == error


async def test_kraken_heartbeat_only_when_subscribed_and_idle() -> None:
    async with simulator("kraken", rate=0, heartbeat_interval_s=0.1) as sim, connect(sim.ws_url) as ws:
        await ws.recv()  # status
        assert await recv_all(ws, idle_s=0.35) == []  # nothing subscribed: no heartbeat
        await ws.send('{"method":"subscribe","params":{"channel":"trade","symbol":["SOL/USD"]}}')
        await ws.recv()  # ack
        beats = await recv_all(ws, idle_s=0.5, limit=3)
        assert beats == ['{"channel":"heartbeat"}'] * 3


@pytest.mark.parametrize("depth", [10, 25])
async def test_kraken_book_checksums_verify_independently(depth: int) -> None:
    async with simulator("kraken", rate=3000, seed=5) as sim, connect(sim.ws_url) as ws:
        await ws.send(
            json.dumps(
                {
                    "method": "subscribe",
                    "params": {"channel": "book", "symbol": ["BTC/USD", "ETH/USD"], "depth": depth},
                }
            )
        )
        await ws.send('{"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USD"]}}')
        books = {"BTC/USD": KrakenBook(depth, 1, 8), "ETH/USD": KrakenBook(depth, 2, 8)}
        checked = trades = 0
        async with asyncio.timeout(20):
            while checked < 400 or trades < 20:
                msg = json.loads(await ws.recv(), parse_float=Decimal)
                if msg.get("channel") == "book":
                    item = msg["data"][0]
                    book = books[item["symbol"]]
                    book.apply(item, snapshot=msg["type"] == "snapshot")
                    assert book.checksum() == item["checksum"]
                    if msg["type"] == "snapshot":
                        assert len(item["bids"]) == len(item["asks"]) == depth
                    assert len(book.bids) <= depth
                    checked += 1
                elif msg.get("channel") == "trade":
                    t = msg["data"][0]
                    assert t["side"] in ("buy", "sell")
                    assert isinstance(t["trade_id"], int)
                    assert _on_step(str(t["price"]), Decimal("0.1"))
                    trades += 1


async def test_kraken_ticker_snapshot_then_updates() -> None:
    async with simulator("kraken", rate=2000) as sim, connect(sim.ws_url) as ws:
        await ws.send('{"method":"subscribe","params":{"channel":"ticker","symbol":["ETH/USD"]},"req_id":2}')
        ack = await recv_until(ws, lambda m: m.get("method") == "subscribe")
        assert ack["result"] == {"channel": "ticker", "snapshot": True, "symbol": "ETH/USD"}
        snap = await recv_until(ws, lambda m: m.get("channel") == "ticker")
        assert snap["type"] == "snapshot"
        upd = await recv_until(ws, lambda m: m.get("channel") == "ticker")
        assert upd["type"] == "update"
        t = upd["data"][0]
        assert t["bid"] < t["ask"]
        assert {"bid_qty", "ask_qty", "last", "volume", "vwap", "low", "high", "change", "change_pct"} <= set(t)


# ---- Coinbase -------------------------------------------------------------------------------


async def test_coinbase_sequence_is_one_counter_across_channels() -> None:
    async with simulator("coinbase", rate=2000, heartbeat_interval_s=0.05) as sim, connect(sim.ws_url) as ws:
        subs = []
        for channel, products in [
            ("heartbeats", ["BTC-USD"]),
            ("market_trades", ["BTC-USD", "ETH-USD"]),
            ("ticker", ["BTC-USD"]),
            ("level2", ["BTC-USD"]),
        ]:
            await ws.send(json.dumps({"type": "subscribe", "product_ids": products, "channel": channel}))
            subs.append((channel, products))
        msgs = [json.loads(await ws.recv()) for _ in range(1500)]
        assert [m["sequence_num"] for m in msgs] == list(range(1500))
        acks = [m for m in msgs if m["channel"] == "subscriptions"]
        assert len(acks) == 4
        assert acks[-1]["events"][0]["subscriptions"] == dict(subs)  # every ack lists all subscriptions
        channels = {m["channel"] for m in msgs}
        assert {"heartbeats", "market_trades", "ticker", "l2_data"} <= channels
        counters = [m["events"][0]["heartbeat_counter"] for m in msgs if m["channel"] == "heartbeats"]
        assert counters == list(range(1, len(counters) + 1))
        trades = [t for m in msgs if m["channel"] == "market_trades" for t in m["events"][0]["trades"]]
        assert all(t["side"] in ("BUY", "SELL") and "." not in t["trade_id"] for t in trades)
        assert all(not t["price"].endswith("0") or "." not in t["price"] for t in trades)  # minimal strings


async def test_coinbase_level2_rebuilds_the_venue_book() -> None:
    async with simulator("coinbase", rate=3000) as sim, connect(sim.ws_url, max_size=None) as ws:
        await ws.send('{"type":"subscribe","product_ids":["ETH-USD"],"channel":"level2"}')
        bids: dict[Decimal, str] = {}
        offers: dict[Decimal, str] = {}
        async with asyncio.timeout(10):
            n = 0
            while n < 300:
                m = json.loads(await ws.recv())
                if m["channel"] != "l2_data":
                    continue
                n += 1
                for up in m["events"][0]["updates"]:
                    side = bids if up["side"] == "bid" else offers
                    if Decimal(up["new_quantity"]) == 0:
                        side.pop(Decimal(up["price_level"]), None)
                    else:
                        side[Decimal(up["price_level"])] = up["new_quantity"]
        sim.rate = 0  # quiesce, then drain what was already sent
        for m in map(json.loads, await recv_all(ws, idle_s=0.8)):
            for up in m["events"][0]["updates"]:
                side = bids if up["side"] == "bid" else offers
                if Decimal(up["new_quantity"]) == 0:
                    side.pop(Decimal(up["price_level"]), None)
                else:
                    side[Decimal(up["price_level"])] = up["new_quantity"]
        assert sim.model is not None
        book = sim.model.book(1)
        assert {Decimal(p).scaleb(-2): Decimal(q).scaleb(-8) for p, q in book.bids.items()} == {
            p: Decimal(q) for p, q in bids.items()
        }
        assert {Decimal(p).scaleb(-2): Decimal(q).scaleb(-8) for p, q in book.asks.items()} == {
            p: Decimal(q) for p, q in offers.items()
        }


async def test_coinbase_disconnects_without_subscribe() -> None:
    async with simulator("coinbase", rate=0, subscribe_timeout_s=0.2) as sim:
        async with connect(sim.ws_url) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                async with asyncio.timeout(3):
                    await ws.recv()
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1008
        async with connect(sim.ws_url) as ws:
            await ws.send('{"type":"subscribe","product_ids":[],"channel":"heartbeats"}')
            await ws.recv()
            await asyncio.sleep(0.4)
            await ws.send('{"type":"subscribe","product_ids":["BTC-USD"],"channel":"ticker"}')
            ack = await recv_until(ws, lambda m: m["channel"] == "subscriptions")
            assert ack["events"][0]["subscriptions"]["ticker"] == ["BTC-USD"]


async def test_coinbase_errors_and_unsubscribe() -> None:
    async with simulator("coinbase", rate=0) as sim, connect(sim.ws_url) as ws:
        for bad in [
            "nope",
            '{"type":"subscribe","channel":"level9","product_ids":["BTC-USD"]}',
            '{"type":"subscribe","channel":"level2","product_ids":["DOGE-EUR"]}',
        ]:
            await ws.send(bad)
            err = json.loads(await ws.recv())
            assert err["type"] == "error"
            assert err["message"]
        await ws.send('{"type":"subscribe","channel":"ticker","product_ids":["BTC-USD","ETH-USD"]}')
        await recv_until(ws, lambda m: m.get("channel") == "subscriptions")
        await recv_all(ws, idle_s=0.2)  # snapshots
        await ws.send('{"type":"unsubscribe","channel":"ticker","product_ids":["ETH-USD"]}')
        ack = await recv_until(ws, lambda m: m.get("channel") == "subscriptions")
        assert ack["events"][0]["subscriptions"] == {"ticker": ["BTC-USD"]}


async def test_coinbase_products_match_rendered_precision() -> None:
    async with simulator("coinbase", rate=2000) as sim, connect(sim.ws_url) as ws:
        assert sim.rest_url is not None
        products = await _get_json(sim.rest_url + "/api/v3/brokerage/market/products")
        assert products["num_products"] == 3
        by_id = {p["product_id"]: p for p in products["products"]}
        one = await _get_json(sim.rest_url + "/api/v3/brokerage/market/products/BTC-USD")
        assert one["quote_increment"] == by_id["BTC-USD"]["quote_increment"] == "0.01"
        await ws.send('{"type":"subscribe","product_ids":["BTC-USD","SOL-USD"],"channel":"market_trades"}')
        trades = []
        async with asyncio.timeout(10):
            while len(trades) < 30:
                m = json.loads(await ws.recv())
                if m["channel"] == "market_trades" and m["events"][0]["type"] == "update":
                    trades += m["events"][0]["trades"]
        for t in trades:
            p = by_id[t["product_id"]]
            assert _on_step(t["price"], Decimal(p["quote_increment"]))
            assert _on_step(t["size"], Decimal(p["base_increment"]))


# ---- Binance --------------------------------------------------------------------------------


async def test_binance_live_subscriptions_and_errors() -> None:
    async with simulator("binance", rate=500) as sim:
        async with connect(sim.ws_url + "?streams=btcusdt@trade") as ws:
            await ws.send('{"method":"SUBSCRIBE","params":["ethusdt@bookTicker","solusdt@aggTrade"],"id":1}')
            assert await recv_until(ws, lambda m: "id" in m) == {"result": None, "id": 1}
            await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":"list-2"}')
            listed = await recv_until(ws, lambda m: "id" in m)
            assert listed == {
                "result": ["btcusdt@trade", "ethusdt@bookTicker", "solusdt@aggTrade"],
                "id": "list-2",
            }
            await ws.send('{"method":"UNSUBSCRIBE","params":["btcusdt@trade"],"id":3}')
            assert await recv_until(ws, lambda m: "id" in m) == {"result": None, "id": 3}
            await ws.send('{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":"not valid id!"}')
            err = await recv_until(ws, lambda m: "code" in m)
            assert err == {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"}
            await ws.send("{oops")
            assert (await recv_until(ws, lambda m: "code" in m))["code"] == 3
            await ws.send('{"method":"SUBSCRIBEX","params":[],"id":4}')
            assert (await recv_until(ws, lambda m: "code" in m))["code"] == 2
            await ws.send('{"method":"SET_PROPERTY","params":["combined",false],"id":6}')
            assert await recv_until(ws, lambda m: m.get("id") == 6) == {"result": None, "id": 6}
            await ws.send('{"method":"SET_PROPERTY","params":["combined",true],"id":7}')
            assert await recv_until(ws, lambda m: m.get("id") == 7) == {"result": None, "id": 7}
            await ws.send('{"method":"GET_PROPERTY","params":["combined"],"id":5}')
            assert await recv_until(ws, lambda m: m.get("id") == 5) == {"result": True, "id": 5}
            streams = set()
            async with asyncio.timeout(10):
                while streams != {"ethusdt@bookTicker", "solusdt@aggTrade"}:
                    m = json.loads(await ws.recv())
                    if "stream" in m:
                        streams.add(m["stream"])
                        assert m["data"]["s"] in ("ETHUSDT", "SOLUSDT")
        async with connect(sim.ws_url.replace("/stream", "/ws/btcusdt@trade")) as ws:
            raw = await recv_until(ws, lambda m: m.get("e") == "trade")  # raw stream: no wrapper
            assert raw["s"] == "BTCUSDT"
            assert len(raw["p"].split(".")[1]) == 8
        with pytest.raises(InvalidStatus):
            async with connect(sim.ws_url.replace("/stream", "/nope")):
                pass


async def test_binance_rest_snapshot_syncs_with_the_diff_stream() -> None:
    async with simulator("binance", rate=3000, seed=11) as sim:
        assert sim.rest_url is not None
        async with connect(sim.ws_url + "?streams=btcusdt@depth@100ms", max_size=None) as ws:
            events = [json.loads(await ws.recv())["data"] for _ in range(2)]  # buffer first
            snap = await _get_json(sim.rest_url + "/api/v3/depth?symbol=BTCUSDT&limit=5000")
            events += [json.loads(await ws.recv())["data"] for _ in range(5)]
            for a, b in itertools.pairwise(events):
                assert b["U"] == a["u"] + 1  # the id chain is contiguous
            bids, asks, last, used = binance_sync(snap, events)
            assert used
            sim.rate = 0  # quiesce: the last pending changes go out within 100 ms
            tail = [json.loads(m)["data"] for m in await recv_all(ws, idle_s=0.8)]
            bids, asks, last, _ = binance_sync(snap, events + tail)
        fresh = await _get_json(sim.rest_url + "/api/v3/depth?symbol=BTCUSDT&limit=5000")
        assert fresh["lastUpdateId"] == last
        assert {Decimal(p): Decimal(q) for p, q in fresh["bids"]} == bids
        assert {Decimal(p): Decimal(q) for p, q in fresh["asks"]} == asks
        five = await _get_json(sim.rest_url + "/api/v3/depth?symbol=BTCUSDT&limit=5")
        assert len(five["bids"]) == 5
        assert five["bids"][0][0] > five["bids"][1][0]


async def test_binance_exchange_info_matches_rendered_values() -> None:
    async with simulator("binance", rate=2000) as sim:
        assert sim.rest_url is not None
        info = await _get_json(sim.rest_url + '/api/v3/exchangeInfo?symbols=["BTCUSDT","SOLUSDT"]')
        filters = {s["symbol"]: {f["filterType"]: f for f in s["filters"]} for s in info["symbols"]}
        assert set(filters) == {"BTCUSDT", "SOLUSDT"}
        assert filters["BTCUSDT"]["LOT_SIZE"]["stepSize"] == "0.00001000"
        async with connect(sim.ws_url + "?streams=btcusdt@trade/solusdt@trade") as ws:
            for _ in range(40):
                t = json.loads(await ws.recv())["data"]
                f = filters[t["s"]]
                assert _on_step(t["p"], Decimal(f["PRICE_FILTER"]["tickSize"]))
                assert _on_step(t["q"], Decimal(f["LOT_SIZE"]["stepSize"]))
        with pytest.raises(urllib.error.HTTPError) as e:
            await _get_json(sim.rest_url + "/api/v3/depth?symbol=NOPE")
        e.value.close()
        assert e.value.code == 400


async def test_binance_sends_protocol_pings() -> None:
    async with simulator("binance", rate=0, ping_interval_s=0.1) as sim:
        host, port = sim.host, sim.bound_port
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(
            b"GET /stream?streams=btcusdt@trade HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        async with asyncio.timeout(3):
            frame = await reader.readexactly(2)
        assert frame[0] == 0x89  # FIN + ping
        writer.close()
        await writer.wait_closed()
