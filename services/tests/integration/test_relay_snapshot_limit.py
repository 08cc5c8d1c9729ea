"""A consumer flooding the relay with snapshot requests: the collector sees at most the allowed number.

Real relay, real Unix sockets, a fake collector speaking the real protocol (it records the
controls it receives). The flooder writes raw control frames as fast as the socket takes them.
"""

import asyncio
import time
from pathlib import Path

from prometheus_client import REGISTRY
from relay_harness import Producer, eventually, running_relay

from alphapulse.protocol import Control, ControlOp, Exchange, FrameType, encode, type_mask
from alphapulse.relay.limits import SnapshotLimit

BURST, RATE_PER_S = 5, 2.0
FLOODER, POLITE = 1, 2  # request ids: the relay passes them on to the feed


def dropped_total() -> float:
    return sum(
        s.value
        for m in REGISTRY.collect()
        if m.name == "alphapulse_relay_snapshot_requests_dropped"
        for s in m.samples
        if s.name.endswith("_total")
    )


async def test_a_flood_of_snapshot_requests_reaches_the_collector_at_the_limited_rate(sock_dir: Path) -> None:
    producer = Producer(sock_dir, "binance-limit", Exchange.BINANCE, ["BTC-USDT"])
    await producer.start()
    before = dropped_total()
    async with running_relay(sock_dir, snapshot_limit=SnapshotLimit(BURST, RATE_PER_S)) as relay:
        await eventually(lambda: len(relay.inputs) == 1, what="the feed connected")
        _, flood = await asyncio.open_unix_connection(str(sock_dir / "relay.sock"))
        _, polite = await asyncio.open_unix_connection(str(sock_dir / "relay.sock"))
        await eventually(lambda: len(relay.consumers) == 2, what="both consumers connected")
        t0 = time.monotonic()
        snapshot = encode(Control(ControlOp.SNAPSHOT, 0, request_id=FLOODER))
        book = encode(Control(ControlOp.SUBSCRIBE, 0, type_mask(FrameType.BOOK), request_id=FLOODER))
        sent = 0
        for _ in range(5):  # 2,000 requests over ~0.5 s: snapshots and book subscriptions alike
            flood.write((snapshot + book) * 200)
            await flood.drain()
            sent += 400
            await asyncio.sleep(0.1)
        polite.write(encode(Control(ControlOp.SNAPSHOT, 0, request_id=POLITE)))
        await polite.drain()

        # another consumer's request still goes through: the limit is per consumer
        await eventually(lambda: any(c.request_id == POLITE for c in producer.controls), what="the polite request")
        await asyncio.sleep(0.2)  # anything still in flight from the flooder lands
        elapsed_s = time.monotonic() - t0
        forwarded = sum(1 for c in producer.controls if c.op == ControlOp.SNAPSHOT and c.request_id == FLOODER)
        assert BURST <= forwarded <= BURST + RATE_PER_S * elapsed_s + 1, (forwarded, elapsed_s)
        await eventually(lambda: dropped_total() - before == sent - forwarded, what="every drop counted")
        flood.close()
        polite.close()
    await producer.server.close()


async def test_the_default_limit_passes_a_trading_nodes_subscriptions(sock_dir: Path) -> None:
    """Three book subscriptions and a resync each (what a node trading three markets sends) all pass."""
    producer = Producer(sock_dir, "binance-default", Exchange.BINANCE, ["BTC-USDT"])
    await producer.start()
    async with running_relay(sock_dir) as relay:
        await eventually(lambda: len(relay.inputs) == 1, what="the feed connected")
        _, consumer = await asyncio.open_unix_connection(str(sock_dir / "relay.sock"))
        requests = [Control(ControlOp.SUBSCRIBE, 0, type_mask(FrameType.BOOK), request_id=i) for i in range(3)]
        requests += [Control(ControlOp.SNAPSHOT, 0, request_id=10 + i) for i in range(3)]
        consumer.write(b"".join(encode(c) for c in requests))
        await consumer.drain()
        want = {0, 1, 2, 10, 11, 12}
        await eventually(lambda: {c.request_id for c in producer.controls} >= want, what="every request")
        consumer.close()
    await producer.server.close()
