"""Each venue's recorded session replayed through the simulator, byte for byte, and what follows it."""

import asyncio
import itertools
import json
import urllib.request
from decimal import Decimal

import pytest
from sim_testkit import FIXTURES, KrakenBook, binance_sync, recv_all, recv_until
from websockets.asyncio.client import connect

from alphapulse.sim import ReplaySource, simulator

VENUES = ("kraken", "coinbase", "binance")


def _recorded_subscribes(venue: str) -> list[str]:
    """The recorded client's subscribe requests (their acks are in the session)."""
    out = []
    for line in (FIXTURES / venue / "subscribe.jsonl").read_text().splitlines():
        entry = json.loads(line)
        msg = entry["msg"]
        if entry["dir"] == "send" and "subscribe" in (msg.get("method"), msg.get("type")):
            out.append(json.dumps(msg))
    return out[:4]


FIRST_REQUESTS = {
    "kraken": _recorded_subscribes("kraken"),
    "coinbase": _recorded_subscribes("coinbase"),
    "binance": [],  # streams in the URL
}
BINANCE_STREAMS = "?streams=btcusdt@trade/ethusdt@trade/solusdt@trade/btcusdt@depth@100ms"


def _file_lines(venue: str, name: str) -> list[str]:
    return (FIXTURES / venue / name).read_text(encoding="utf-8").splitlines()


async def _get(url: str) -> tuple[int, bytes]:
    def fetch() -> tuple[int, bytes]:
        with urllib.request.urlopen(url, timeout=5) as r:
            return int(r.status), bytes(r.read())

    return await asyncio.to_thread(fetch)


@pytest.mark.parametrize("gap", [False, True], ids=["session", "gap_session"])
@pytest.mark.parametrize("venue", VENUES)
async def test_replay_is_byte_for_byte(venue: str, gap: bool) -> None:
    name = "gap_session.jsonl" if gap else "session.jsonl"
    want = _file_lines(venue, name)
    source = ReplaySource.load(FIXTURES / venue / name)
    assert source.wire_lines == want
    if gap:  # the venue still knows the lost message: the full recording is kept, one line held back
        assert len(source.lines) == len(want) + 1
        assert len(source.skip) == 1
    async with simulator(venue, replay=source, heartbeat_interval_s=0.2) as sim:
        url = sim.ws_url + (BINANCE_STREAMS if venue == "binance" else "")
        async with connect(url, max_size=None) as ws:
            for request in FIRST_REQUESTS[venue]:
                await ws.send(request)
            got = await recv_all(ws, idle_s=2.0, limit=len(want))
            assert got == want
            if venue == "kraken":  # the venue keeps a quiet subscribed connection alive
                assert await ws.recv() == '{"channel":"heartbeat"}'
            elif venue == "coinbase":
                last_seq = json.loads(want[-1])["sequence_num"]
                hb = json.loads(await ws.recv())
                assert hb["channel"] == "heartbeats"
                assert hb["sequence_num"] == last_seq + 1
            else:
                assert await recv_all(ws, idle_s=0.3) == []


async def test_replay_starts_after_the_wait_without_a_request() -> None:
    source = ReplaySource.fixture(FIXTURES, "kraken")
    async with simulator("kraken", replay=source, replay_wait_s=0.1) as sim, connect(sim.ws_url) as ws:
        got = await recv_all(ws, idle_s=1.0, limit=len(source.lines))
        assert got == list(source.lines)


async def test_replay_can_be_held_paused_and_resumed() -> None:
    source = ReplaySource.fixture(FIXTURES, "binance")
    async with simulator("binance", replay=source, replay_paused=True, replay_delay_ms=2) as sim:
        async with connect(sim.ws_url + BINANCE_STREAMS) as ws:
            assert await recv_all(ws, idle_s=0.3) == []  # paused before the first line
            sim.resume_replay()
            first = await recv_all(ws, idle_s=2.0, limit=20)
            sim.pause_replay()
            held = await recv_all(ws, idle_s=0.3)  # at most what was already on its way
            assert len(first) + len(held) == sim.replay_position < len(source.lines)
            sim.resume_replay()
            rest = await recv_all(ws, idle_s=2.0, limit=len(source.lines) - len(first) - len(held))
        assert first + held + rest == list(source.lines)


async def test_replay_hold_delays_the_first_line() -> None:
    source = ReplaySource.fixture(FIXTURES, "binance")
    async with simulator("binance", replay=source, replay_hold_s=0.5) as sim:
        async with connect(sim.ws_url + BINANCE_STREAMS) as ws:
            assert await recv_all(ws, idle_s=0.3) == []
            got = await recv_all(ws, idle_s=2.0, limit=len(source.lines))
        assert got == list(source.lines)


async def test_every_connection_replays_from_the_start() -> None:
    source = ReplaySource.fixture(FIXTURES, "binance")
    async with simulator("binance", replay=source) as sim:
        for _ in range(2):
            async with connect(sim.ws_url + BINANCE_STREAMS) as ws:
                got = await recv_all(ws, idle_s=2.0, limit=len(source.lines))
                assert got == list(source.lines)


async def test_binance_rest_snapshot_follows_the_replay() -> None:
    source = ReplaySource.fixture(FIXTURES, "binance")
    recorded = (FIXTURES / "binance" / "rest_depth_snapshot.json").read_bytes()
    meta = json.loads((FIXTURES / "binance" / "session_meta.json").read_text())
    async with simulator("binance", replay=source) as sim:
        rest = sim.rest_url
        assert rest is not None
        # before any client has seen the recording pass the snapshot: the recorded answer, verbatim
        assert await _get(rest + "/api/v3/depth?symbol=BTCUSDT&limit=100") == (200, recorded)
        status, info = await _get(rest + "/api/v3/exchangeInfo")
        assert (status, info) == (200, (FIXTURES / "binance" / "rest_exchange_info.json").read_bytes())
        async with connect(sim.ws_url + BINANCE_STREAMS) as ws:
            lines = await recv_all(ws, idle_s=2.0, limit=len(source.wire_lines))
        events = [json.loads(ln)["data"] for ln in lines if '"depthUpdate"' in ln]
        status, body = await _get(rest + "/api/v3/depth?symbol=BTCUSDT&limit=1000")
        snap = json.loads(body)
        assert snap["lastUpdateId"] == events[-1]["u"]
        final = meta["final_book_BTCUSDT"]
        assert snap["bids"][: len(final["bids"])] == final["bids"]
        assert snap["asks"][: len(final["asks"])] == final["asks"]
        # the documented procedure on the recorded snapshot lands on the same book
        bids, asks, last, used = binance_sync(json.loads(recorded), events)
        assert last == snap["lastUpdateId"]
        assert len(events) - len(used) == 3  # the README: three buffered events are discarded
        assert bids == {Decimal(p): Decimal(q) for p, q in snap["bids"]}
        assert asks == {Decimal(p): Decimal(q) for p, q in snap["asks"]}
        # a symbol the recording has no book for is not invented
        status_bad, _ = await asyncio.to_thread(_status_of, rest + "/api/v3/depth?symbol=DOGEUSDT")
        assert status_bad == 400


def _status_of(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return int(r.status), bytes(r.read())
    except urllib.error.HTTPError as e:
        return int(e.code), bytes(e.read())


async def test_binance_gap_session_resync_gets_the_true_book() -> None:
    source = ReplaySource.fixture(FIXTURES, "binance", gap=True)
    meta = json.loads((FIXTURES / "binance" / "session_meta.json").read_text())
    async with simulator("binance", replay=source) as sim:
        async with connect(sim.ws_url + BINANCE_STREAMS) as ws:
            lines = await recv_all(ws, idle_s=2.0, limit=len(source.wire_lines))
        events = [json.loads(ln)["data"] for ln in lines if '"depthUpdate"' in ln]
        gaps = [b for a, b in itertools.pairwise(events) if b["U"] > a["u"] + 1]
        assert len(gaps) == 1  # the client sees the break in the U/u chain ...
        assert sim.rest_url is not None
        _, body = await _get(sim.rest_url + "/api/v3/depth?symbol=BTCUSDT&limit=1000")
        snap = json.loads(body)
        final = meta["final_book_BTCUSDT"]  # ... and a fresh snapshot includes the lost event
        assert snap["bids"][: len(final["bids"])] == final["bids"]
        assert snap["asks"][: len(final["asks"])] == final["asks"]


async def test_coinbase_products_rest_is_the_recording() -> None:
    source = ReplaySource.fixture(FIXTURES, "coinbase")
    recorded = (FIXTURES / "coinbase" / "rest_products.json").read_bytes()
    async with simulator("coinbase", replay=source) as sim:
        assert sim.rest_url is not None
        assert await _get(sim.rest_url + "/api/v3/brokerage/market/products") == (200, recorded)
        _, one = await _get(sim.rest_url + "/api/v3/brokerage/market/products/ETH-USD")
        assert json.loads(one) == json.loads(recorded)["products"][1]


async def test_coinbase_live_resubscribe_continues_the_sequence() -> None:
    source = ReplaySource.fixture(FIXTURES, "coinbase")
    meta = json.loads((FIXTURES / "coinbase" / "session_meta.json").read_text())
    async with simulator("coinbase", replay=source, heartbeat_interval_s=60) as sim:
        async with connect(sim.ws_url, max_size=None) as ws:
            for request in FIRST_REQUESTS["coinbase"]:
                await ws.send(request)
            got = await recv_all(ws, idle_s=1.0, limit=len(source.lines))
            last = json.loads(got[-1])["sequence_num"]
            await ws.send('{"type":"unsubscribe","product_ids":["BTC-USD"],"channel":"level2"}')
            await ws.send('{"type":"subscribe","product_ids":["BTC-USD"],"channel":"level2"}')
            msgs = [json.loads(m) for m in await recv_all(ws, idle_s=0.5)]
        assert [m["sequence_num"] for m in msgs] == [last + 1, last + 2, last + 3]
        assert [m["channel"] for m in msgs] == ["subscriptions", "subscriptions", "l2_data"]
        assert "level2" not in msgs[0]["events"][0]["subscriptions"]
        assert msgs[1]["events"][0]["subscriptions"]["level2"] == ["BTC-USD"]
        # the fresh snapshot is the venue's book at this point of the recording
        event = msgs[2]["events"][0]
        assert (event["type"], event["product_id"]) == ("snapshot", "BTC-USD")
        bids = [[u["price_level"], u["new_quantity"]] for u in event["updates"] if u["side"] == "bid"]
        offers = [[u["price_level"], u["new_quantity"]] for u in event["updates"] if u["side"] == "offer"]
        assert bids == meta["final_book_BTC-USD"]["bids"]
        assert offers == meta["final_book_BTC-USD"]["asks"]


async def test_kraken_book_resubscribe_after_replay_matches_the_recorded_book() -> None:
    source = ReplaySource.fixture(FIXTURES, "kraken")
    async with simulator("kraken", replay=source, heartbeat_interval_s=60) as sim:
        async with connect(sim.ws_url) as ws:
            for request in FIRST_REQUESTS["kraken"]:
                await ws.send(request)
            got = await recv_all(ws, idle_s=1.0, limit=len(source.lines))
            book = KrakenBook(10, 1, 8)
            for line in got:
                msg = json.loads(line, parse_float=Decimal)
                if msg.get("channel") == "book":
                    book.apply(msg["data"][0], snapshot=msg["type"] == "snapshot")
                    assert book.checksum() == msg["data"][0]["checksum"]
            await ws.send('{"method":"unsubscribe","params":{"channel":"book","symbol":["BTC/USD"]},"req_id":8}')
            await ws.send(
                '{"method":"subscribe","params":{"channel":"book","symbol":["BTC/USD"],"depth":10},"req_id":9}'
            )
            unsub = await recv_until(ws, lambda m: m.get("method") == "unsubscribe")
            assert unsub["success"] is True
            assert unsub["req_id"] == 8
            sub = await recv_until(ws, lambda m: m.get("method") == "subscribe")
            assert sub["result"] == {"channel": "book", "depth": 10, "snapshot": True, "symbol": "BTC/USD"}
            snap = await recv_until(ws, lambda m: m.get("channel") == "book")
        fresh = KrakenBook(10, 1, 8)
        fresh.apply(snap["data"][0], snapshot=True)
        assert (fresh.bids, fresh.asks) == (book.bids, book.asks)
        assert fresh.checksum() == snap["data"][0]["checksum"]
