"""Every injectable fault, observed from the client side of a real WebSocket."""

import asyncio
import itertools
import json
import time
from decimal import Decimal

import pytest
from sim_testkit import FIXTURES, KrakenBook, recv_all, recv_until
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError

from alphapulse.sim import Fault, ReplaySource, UnsupportedFaultError, simulator


async def _read_forever(ws: ClientConnection) -> None:
    async with asyncio.timeout(3):
        while True:
            await ws.recv()


async def test_drop_connection_is_an_abort_without_close_frame() -> None:
    async with simulator("binance", rate=500) as sim:
        async with connect(sim.ws_url + "?streams=btcusdt@trade") as ws:
            await ws.recv()
            assert sim.inject(Fault.DROP_CONNECTION) == 1
            with pytest.raises(ConnectionClosedError) as closed:
                await _read_forever(ws)
            assert closed.value.rcvd is None  # no close frame: the TCP connection just died
        await sim.wait_for_disconnect()
        async with connect(sim.ws_url + "?streams=btcusdt@trade") as ws:  # and it reconnects fine
            assert json.loads(await ws.recv())["stream"] == "btcusdt@trade"


async def test_close_sends_going_away() -> None:
    async with simulator("kraken", rate=0) as sim, connect(sim.ws_url) as ws:
        await ws.recv()
        sim.inject("close")
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(3):
                await ws.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1001


async def test_stall_holds_everything_then_releases_it() -> None:
    # max_queue=None: this client stops reading mid-stream, and a paused reader cannot see
    # the closing handshake (it would wait out the close timeout)
    async with (
        simulator("binance", rate=2000) as sim,
        connect(sim.ws_url + "?streams=btcusdt@trade/ethusdt@trade", max_queue=None) as ws,
    ):
        for _ in range(20):
            await ws.recv()
        sim.inject(Fault.STALL, seconds=1.0)
        await recv_all(ws, idle_s=0.2)  # what was already on its way
        t0 = time.monotonic()
        await ws.recv()
        waited = time.monotonic() - t0
        assert waited >= 0.3  # nothing arrived during the stall ...
        burst = await recv_all(ws, idle_s=0.05, limit=50)
        assert len(burst) == 50  # ... then the backlog arrives at once


async def test_coinbase_skip_makes_sequence_num_jump() -> None:
    async with simulator("coinbase", rate=2000) as sim, connect(sim.ws_url) as ws:
        await ws.send('{"type":"subscribe","product_ids":["BTC-USD"],"channel":"level2"}')
        await ws.send('{"type":"subscribe","product_ids":["BTC-USD"],"channel":"market_trades"}')
        seqs = [json.loads(await ws.recv())["sequence_num"] for _ in range(50)]
        sim.inject(Fault.SKIP_SEQUENCE)
        msgs = [json.loads(await ws.recv()) for _ in range(200)]
        seqs += [m["sequence_num"] for m in msgs]
        jumps = [(a, b) for a, b in itertools.pairwise(seqs) if b != a + 1]
        assert len(jumps) == 1
        assert jumps[0][1] == jumps[0][0] + 2


async def test_binance_skip_breaks_the_update_id_chain() -> None:
    async with simulator("binance", rate=3000) as sim:
        async with connect(sim.ws_url + "?streams=btcusdt@depth@100ms") as ws:
            events = [json.loads(await ws.recv())["data"] for _ in range(3)]
            sim.inject(Fault.SKIP_SEQUENCE)
            events += [json.loads(await ws.recv())["data"] for _ in range(4)]
        breaks = [(a["u"], b["U"]) for a, b in itertools.pairwise(events) if b["U"] != a["u"] + 1]
        assert len(breaks) == 1
        assert breaks[0][1] > breaks[0][0] + 1


@pytest.mark.parametrize("fault", [Fault.SKIP_SEQUENCE, Fault.CORRUPT_CHECKSUM])
async def test_kraken_book_faults_show_as_checksum_mismatch(fault: Fault) -> None:
    async with simulator("kraken", rate=3000) as sim, connect(sim.ws_url) as ws:
        await ws.send('{"method":"subscribe","params":{"channel":"book","symbol":["BTC/USD"]}}')
        book = KrakenBook(10, 1, 8)
        results = []
        async with asyncio.timeout(10):
            while len(results) < 120:
                msg = json.loads(await ws.recv(), parse_float=Decimal)
                if msg.get("channel") != "book":
                    continue
                item = msg["data"][0]
                book.apply(item, snapshot=msg["type"] == "snapshot")
                results.append(book.checksum() == item["checksum"])
                # a dropped update can be invisible to the top-10 checksum (overwritten later, or below
                # the top 10), so the sequence fault is injected four times; one checksum fault is enough
                if len(results) == 40 or (fault is Fault.SKIP_SEQUENCE and len(results) in (55, 70, 85)):
                    sim.inject(fault)
        assert all(results[:40])
        bad = results.count(False)
        if fault is Fault.CORRUPT_CHECKSUM:
            assert bad == 1  # one wrong checksum; the book itself stays right
        else:
            assert bad >= 1  # the lost update leaves the client's book wrong from then on


@pytest.mark.parametrize("venue", ["coinbase", "binance"])
def test_checksum_fault_needs_checksums(venue: str) -> None:
    with pytest.raises(UnsupportedFaultError):
        simulator(venue).inject(Fault.CORRUPT_CHECKSUM)


@pytest.mark.parametrize("venue", ["kraken", "coinbase"])
def test_shutdown_notice_is_binance_only(venue: str) -> None:
    with pytest.raises(UnsupportedFaultError):
        simulator(venue).inject(Fault.SERVER_SHUTDOWN)


async def test_binance_server_shutdown_notice_then_close() -> None:
    async with simulator("binance", rate=200) as sim:
        async with connect(sim.ws_url + "?streams=btcusdt@trade") as ws:
            await ws.recv()
            sim.inject(Fault.SERVER_SHUTDOWN, seconds=0.3)
            notice = await recv_until(ws, lambda m: m.get("stream") == "!serverShutdown")
            assert notice["data"]["e"] == "serverShutdown"
            with pytest.raises(ConnectionClosed) as closed:
                await _read_forever(ws)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1001
        async with connect(sim.ws_url.replace("/stream", "/ws/btcusdt@trade")) as ws:
            await ws.recv()
            sim.inject(Fault.SERVER_SHUTDOWN, seconds=5)
            raw = await recv_until(ws, lambda m: m.get("e") == "serverShutdown")
            assert isinstance(raw["E"], int)


async def test_garbage_is_one_non_json_frame() -> None:
    async with simulator("coinbase", rate=0) as sim, connect(sim.ws_url) as ws:
        await ws.send('{"type":"subscribe","product_ids":["BTC-USD"],"channel":"ticker"}')
        await recv_all(ws, idle_s=0.2)
        sim.inject(Fault.GARBAGE)
        junk = await ws.recv()
        with pytest.raises(json.JSONDecodeError):
            json.loads(junk)


@pytest.mark.parametrize("venue", ["kraken", "coinbase", "binance"])
async def test_malformed_lines_arrive_in_order(venue: str) -> None:
    want = (FIXTURES / venue / "malformed.jsonl").read_text(encoding="utf-8").split("\n")[:-1]
    async with simulator(venue, rate=0, fixtures_dir=FIXTURES) as sim:
        url = sim.ws_url + ("?streams=btcusdt@trade" if venue == "binance" else "")
        async with connect(url, max_size=None) as ws:
            if venue == "coinbase":
                await ws.send('{"type":"subscribe","product_ids":["BTC-USD"],"channel":"ticker"}')
            await recv_all(ws, idle_s=0.2)
            sim.inject(Fault.MALFORMED)
            got = await recv_all(ws, idle_s=2.0, limit=len(want))
    assert got == want


async def test_faults_apply_to_replays_too() -> None:
    source = ReplaySource.fixture(FIXTURES, "kraken")
    async with simulator("kraken", replay=source, replay_wait_s=5) as sim, connect(sim.ws_url) as ws:
        await sim.wait_for_connections(1)
        sim.inject(Fault.CORRUPT_CHECKSUM)  # before the replay starts: hits the first book message
        await ws.send('{"method":"subscribe","params":{"channel":"instrument"},"req_id":7}')
        got = await recv_all(ws, idle_s=1.0, limit=len(source.lines))
    diff = [(a, b) for a, b in zip(got, source.lines, strict=True) if a != b]
    assert len(diff) == 1
    sent, recorded = (json.loads(x) for x in diff[0])
    assert sent["type"] == "snapshot"
    assert sent["data"][0]["checksum"] != recorded["data"][0]["checksum"]
    sent["data"][0]["checksum"] = recorded["data"][0]["checksum"]
    assert sent == recorded


async def test_coinbase_skip_in_replay_matches_the_recorded_gap() -> None:
    source = ReplaySource.fixture(FIXTURES, "coinbase")
    gap = (FIXTURES / "coinbase" / "gap_session.jsonl").read_text().splitlines()
    meta = json.loads((FIXTURES / "coinbase" / "gap_session.meta.json").read_text())
    async with simulator("coinbase", replay=source, replay_wait_s=5) as sim, connect(sim.ws_url) as ws:
        await sim.wait_for_connections(1)
        sim.inject(Fault.SKIP_SEQUENCE)  # drops the first l2_data update
        await ws.send('{"type":"subscribe","product_ids":["BTC-USD"],"channel":"heartbeats"}')
        got = await recv_all(ws, idle_s=1.0, limit=len(source.lines) - 1)
    assert len(got) == len(source.lines) - 1
    seqs = [json.loads(g)["sequence_num"] for g in got]
    jumps = [b - a for a, b in itertools.pairwise(seqs) if b != a + 1]
    assert jumps == [2]
    assert meta["dropped_message"]["kind"] == "l2_update"
    assert len(gap) == len(got)


async def test_recv_until_helper_times_out_cleanly() -> None:
    async with simulator("kraken", rate=0) as sim, connect(sim.ws_url) as ws:
        with pytest.raises(TimeoutError):
            await recv_until(ws, lambda m: m.get("channel") == "trade", timeout_s=0.2)
