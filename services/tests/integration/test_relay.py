"""The relay over real Unix sockets: ordering, discovery, restarts, slow consumers, bad input, filters."""

import asyncio
import contextlib
import socket
from pathlib import Path

import pytest
from relay_harness import Producer, Recorder, eventually, running_relay

from alphapulse.protocol import (
    Control,
    ControlOp,
    Exchange,
    FrameType,
    Gap,
    GapReason,
    Instrument,
    Trade,
    type_mask,
)


def relay_endpoint(sock_dir: Path) -> str:
    return f"unix:{sock_dir / 'relay.sock'}"


async def test_a_million_frames_arrive_in_order_and_complete(sock_dir: Path) -> None:
    producer = Producer(sock_dir, "binance-a", Exchange.BINANCE, ["BTC-USDT"])
    await producer.start()
    async with running_relay(sock_dir) as relay:
        counts = [0, 0]
        seqs_ok = [True, True]
        last = [-1, -1]

        def counter(i: int):  # type: ignore[no-untyped-def]
            from alphapulse.protocol.bulk import cells

            def on_cells(data: bytes) -> None:
                arr = cells(data)
                live = arr[(arr["type"] == FrameType.TRADE)]
                if live.size:
                    s = live["seq"].astype("int64")
                    if (last[i] >= 0 and s[0] != last[i] + 1) or (s[1:] - s[:-1] != 1).any():
                        seqs_ok[i] = False
                    last[i] = int(s[-1])
                    counts[i] += live.size

            return on_cells

        from alphapulse.transport import RelayClient

        clients = [RelayClient([relay_endpoint(sock_dir)], counter(i), name=f"c{i}") for i in range(2)]
        tasks = [asyncio.create_task(c.run(), name=f"test.c{i}") for i, c in enumerate(clients)]
        await eventually(lambda: len(relay.consumers) == 2 and len(relay.inputs) == 1, what="connections")
        total = 1_000_000
        batch = 1000
        for _ in range(total // batch):
            producer.publish_trades(batch)
            await asyncio.sleep(0)
            while any(p.writer and p.writer.transport.get_write_buffer_size() > 1 << 20 for p in producer.server.peers):
                await asyncio.sleep(0.001)  # a collector never outruns its reader in this test: we test loss-free flow
        await eventually(lambda: counts == [total, total], timeout_s=60, what=f"all frames (got {counts})")
        assert seqs_ok == [True, True]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    await producer.server.close()


async def test_feed_that_appears_late_dies_and_returns_is_followed_with_gaps(sock_dir: Path) -> None:
    async with running_relay(sock_dir):
        rec = Recorder(relay_endpoint(sock_dir))
        rec.start()
        producer = Producer(sock_dir, "kraken-a", Exchange.KRAKEN, ["BTC-USD"], epoch_ns=1)
        await producer.start()
        await eventually(lambda: producer.server.readers == 1, what="relay to find the late feed")
        producer.publish_trades(10)
        await eventually(lambda: len(rec.of(Trade)) == 10, what="10 trades")
        await producer.server.close()
        # the collector restarts (new epoch) and has produced 5 cells nobody read before the relay reconnects
        restarted = Producer(sock_dir, "kraken-a", Exchange.KRAKEN, ["BTC-USD"], epoch_ns=2)
        restarted.trades(5)
        await restarted.start()
        await eventually(lambda: restarted.server.readers == 1, what="relay to reconnect")
        restarted.publish_trades(3)
        await eventually(lambda: len(rec.of(Trade)) == 13, what="3 more trades")
        gaps = [g for g in rec.of(Gap) if isinstance(g, Gap)]
        reasons = [g.reason for g in gaps]
        assert GapReason.FEED_LOST in reasons, reasons  # the old session's tail is unknown
        seq_gaps = [g for g in gaps if g.reason == GapReason.SEQUENCE]
        assert seq_gaps and seq_gaps[0].count == 5  # exactly the 5 cells produced while unread
        await rec.stop()
        await restarted.server.close()


async def test_stuck_consumer_gets_gaps_and_does_not_slow_a_fast_one(sock_dir: Path) -> None:
    producer = Producer(sock_dir, "coinbase-a", Exchange.COINBASE, ["BTC-USD"])
    await producer.start()
    async with running_relay(sock_dir, consumer_buffer_bytes=64 << 10) as relay:
        fast = Recorder(relay_endpoint(sock_dir), name="fast")
        fast.start()
        stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect(str(sock_dir / "relay.sock"))  # connects and never reads
        await eventually(lambda: len(relay.consumers) == 2 and relay.inputs, what="both consumers")
        for _ in range(200):
            producer.publish_trades(500)
            await asyncio.sleep(0)
        await eventually(lambda: len(fast.of(Trade)) == 100_000, timeout_s=30, what="fast consumer complete")
        slow = next(c for c in relay.consumers if c.name != fast.client.name and c.dropped)
        assert sum(n for _, n in slow.dropped.values()) > 0
        # now the stuck consumer drains: the first thing after its backlog is a gap frame
        stuck.setblocking(False)
        data = b""
        loop = asyncio.get_running_loop()
        producer.publish_trades(1)
        deadline = loop.time() + 10
        from alphapulse.protocol import FrameDecoder

        decoder = FrameDecoder()
        frames = []
        while loop.time() < deadline and not any(isinstance(f, Gap) for f in frames):
            try:
                data = stuck.recv(1 << 20)
                frames += decoder.feed(data)
            except BlockingIOError:
                producer.publish_trades(1)
                await asyncio.sleep(0.005)
        gaps = [f for f in frames if isinstance(f, Gap)]
        assert gaps and gaps[0].reason == GapReason.SLOW_CONSUMER and gaps[0].count > 0
        stuck.close()
        await fast.stop()
    await producer.server.close()


async def test_malformed_producer_is_closed_and_counted_relay_survives(sock_dir: Path) -> None:
    from alphapulse.relay import metrics

    good = Producer(sock_dir, "good", Exchange.BINANCE, ["ETH-USDT"])
    await good.start()
    bad_path = sock_dir / "feeds" / "bad.sock"
    garbage_sent = asyncio.Event()

    writers: list[asyncio.StreamWriter] = []

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        writer.write(b"\x07" * 480)  # version 7, not ours
        await writer.drain()
        garbage_sent.set()

    bad_server = await asyncio.start_unix_server(garbage, str(bad_path))
    before = metrics.MALFORMED.labels("bad", "frame")._value.get()
    async with running_relay(sock_dir):
        rec = Recorder(relay_endpoint(sock_dir))
        rec.start()
        await garbage_sent.wait()
        await eventually(lambda: good.server.readers == 1, what="good feed")
        good.publish_trades(7)
        await eventually(lambda: len(rec.of(Trade)) == 7, what="good trades")
        await eventually(lambda: metrics.MALFORMED.labels("bad", "frame")._value.get() > before, what="counted")
        await rec.stop()
    bad_server.close()
    for w in writers:
        w.close()
        with contextlib.suppress(ConnectionError):
            await w.wait_closed()
    await bad_server.wait_closed()
    await good.server.close()


async def test_subscription_narrows_to_a_symbol_and_asks_the_feed_for_a_snapshot(sock_dir: Path) -> None:
    producer = Producer(sock_dir, "binance-b", Exchange.BINANCE, ["BTC-USDT", "ETH-USDT"])
    await producer.start()
    async with running_relay(sock_dir) as relay:
        sid = producer.sids[1]
        rec = Recorder(
            relay_endpoint(sock_dir),
            controls=[
                Control(ControlOp.RESET),
                Control(ControlOp.SUBSCRIBE, sid, type_mask(FrameType.TRADE, FrameType.BOOK)),
            ],
        )
        rec.start()
        await eventually(lambda: len(relay.consumers) == 1 and relay.inputs, what="connections")
        await eventually(lambda: any(c.op == ControlOp.SNAPSHOT for c in producer.controls), what="snapshot request")
        producer.publish_trades(5, symbol_index=0)
        producer.publish_trades(4, symbol_index=1)
        await eventually(lambda: len(rec.of(Trade)) == 4, what="ETH trades")
        await asyncio.sleep(0.05)
        trades = rec.of(Trade)
        assert {t.symbol_id for t in trades if isinstance(t, Trade)} == {sid}
        assert len(rec.of(Instrument)) == 2  # state frames always pass the filter
        await rec.stop()
    await producer.server.close()


@pytest.mark.parametrize("listen", [("127.0.0.1", 0)])
async def test_tcp_consumers_get_the_same_stream(sock_dir: Path, listen: tuple[str, int]) -> None:
    producer = Producer(sock_dir, "kraken-t", Exchange.KRAKEN, ["BTC-USD"])
    await producer.start()
    async with running_relay(sock_dir, listen_tcp=listen) as relay:
        rec = Recorder(f"tcp:127.0.0.1:{relay.tcp_port}")
        rec.start()
        await eventually(lambda: len(relay.consumers) == 1 and relay.inputs, what="tcp consumer")
        producer.publish_trades(20)
        await eventually(lambda: len(rec.of(Trade)) == 20, what="20 trades over tcp")
        await rec.stop()
    await producer.server.close()


async def test_a_quote_split_across_writes_reaches_consumers_whole(sock_dir: Path) -> None:
    from alphapulse.protocol import Quote, encode

    producer = Producer(sock_dir, "split", Exchange.BINANCE, ["BTC-USDT"])
    await producer.start()
    async with running_relay(sock_dir) as relay:
        rec = Recorder(relay_endpoint(sock_dir))
        rec.start()
        await eventually(lambda: len(relay.consumers) == 1 and relay.inputs, what="connections")
        wire = encode(Quote(producer.sids[0], producer.seq, 1, 2, 100, 5, 101, 6))
        producer.seq += 2
        peer = next(iter(producer.server.peers))
        assert peer.writer is not None
        peer.writer.transport.write(wire[:48])  # the bid cell alone; the relay must not forward half a quote
        await asyncio.sleep(0.05)
        assert not rec.of(Quote)
        peer.writer.transport.write(wire[48:])
        await eventually(lambda: len(rec.of(Quote)) == 1, what="the whole quote")
        await rec.stop()
    await producer.server.close()


async def test_subscribed_consumers_are_written_to_before_those_taking_everything(sock_dir: Path) -> None:
    from alphapulse.transport import RelayClient

    async with running_relay(sock_dir) as relay:
        bulk = RelayClient([relay_endpoint(sock_dir)], lambda data: None, name="bulk")
        bulk_task = asyncio.create_task(bulk.run(), name="test.bulk")
        await eventually(lambda: len(relay.consumers) == 1, what="the bulk consumer")
        picky = RelayClient(
            [relay_endpoint(sock_dir)],
            lambda data: None,
            controls=[Control(ControlOp.SUBSCRIBE, 0, type_mask(FrameType.TRADE))],
            name="picky",
        )
        picky_task = asyncio.create_task(picky.run(), name="test.picky")
        await eventually(
            lambda: [c.filter.everything for c in relay.delivery_order] == [False, True], what="picky first"
        )
        picky_task.cancel()
        await asyncio.gather(picky_task, return_exceptions=True)
        await eventually(lambda: len(relay.delivery_order) == 1, what="the picky consumer gone from the order")
        bulk_task.cancel()
        await asyncio.gather(bulk_task, return_exceptions=True)
