"""Consumers flooding the relay with snapshot requests: the collector sees at most the allowed number.

Real relay, real Unix and TCP sockets, a fake collector speaking the real protocol (it records the
controls it receives). Flooders write raw control frames as fast as the socket takes them. The
per-consumer bucket and the relay-wide coalescing are tested apart (each with the other off) and
together at their defaults.
"""

import asyncio
import time
from pathlib import Path

from prometheus_client import REGISTRY
from relay_harness import Producer, Recorder, eventually, running_relay

from alphapulse.protocol import Control, ControlOp, Exchange, FrameType, encode, type_mask
from alphapulse.relay.limits import ConsumerLimit, SnapshotLimit

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
    async with running_relay(sock_dir, snapshot_limit=SnapshotLimit(BURST, RATE_PER_S), snapshot_coalesce_s=0) as relay:
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


async def test_the_default_limits_answer_a_trading_nodes_subscriptions(sock_dir: Path) -> None:
    """Three book subscriptions and a resync each (what a node trading three markets sends): the first goes
    at once, the rest are merged into one request that follows within the coalescing window."""
    producer = Producer(sock_dir, "binance-default", Exchange.BINANCE, ["BTC-USDT"])
    await producer.start()
    async with running_relay(sock_dir) as relay:
        await eventually(lambda: len(relay.inputs) == 1, what="the feed connected")
        _, consumer = await asyncio.open_unix_connection(str(sock_dir / "relay.sock"))
        requests = [Control(ControlOp.SUBSCRIBE, 0, type_mask(FrameType.BOOK), request_id=i) for i in range(3)]
        requests += [Control(ControlOp.SNAPSHOT, 0, request_id=10 + i) for i in range(3)]
        consumer.write(b"".join(encode(c) for c in requests))
        await consumer.drain()
        await eventually(lambda: [c.request_id for c in producer.controls] == [0, 12], what="the first and the last")
        await asyncio.sleep(0.3)  # nothing more follows
        assert [c.request_id for c in producer.controls] == [0, 12]
        consumer.close()
    await producer.server.close()


def coalesced_total() -> float:
    return REGISTRY.get_sample_value("alphapulse_relay_snapshot_requests_coalesced_total") or 0.0


async def test_many_connections_asking_at_once_cost_the_collector_one_snapshot_per_window(sock_dir: Path) -> None:
    """Twenty connections, each asking for every book 50 times over ~0.6 s (no per-consumer limit):
    the collector is asked at most once per window, and the last request of all is answered after it."""
    window_s = 0.1
    producer = Producer(sock_dir, "binance-coalesce", Exchange.BINANCE, ["BTC-USDT", "ETH-USDT"])
    await producer.start()
    before = coalesced_total()
    limit = SnapshotLimit(rate_per_s=0)
    async with running_relay(sock_dir, snapshot_limit=limit, snapshot_coalesce_s=window_s) as relay:
        await eventually(lambda: len(relay.inputs) == 1, what="the feed connected")
        writers = [(await asyncio.open_unix_connection(str(sock_dir / "relay.sock")))[1] for _ in range(20)]
        await eventually(lambda: len(relay.consumers) == 20, what="every consumer connected")
        t0 = time.monotonic()
        rid = 0
        for _ in range(5):
            for w in writers:
                batch = []
                for _ in range(10):
                    rid += 1
                    batch.append(encode(Control(ControlOp.SNAPSHOT, 0, request_id=rid)))
                w.write(b"".join(batch))
            await asyncio.gather(*(w.drain() for w in writers))
            await asyncio.sleep(0.12)
        last = rid
        await eventually(lambda: producer.controls[-1].request_id == last, what="the last request answered")
        elapsed_s = time.monotonic() - t0
        forwarded = len(producer.controls)
        assert forwarded <= elapsed_s / window_s + 2, (forwarded, elapsed_s)
        assert coalesced_total() - before == last - forwarded  # every merged request counted
        await asyncio.sleep(2 * window_s)
        assert len(producer.controls) == forwarded  # nothing left over
        for w in writers:
            w.close()
    await producer.server.close()


def refused(reason: str) -> float:
    return REGISTRY.get_sample_value("alphapulse_relay_consumers_refused_total", {"reason": reason}) or 0.0


async def _is_closed_by_relay(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1 << 16), 1.0) == b""
    except TimeoutError:
        return False  # still open: served


async def test_connections_past_the_limits_are_closed_on_arrival_and_counted(sock_dir: Path) -> None:
    before = {r: refused(r) for r in ("max_consumers", "max_per_address")}
    async with running_relay(
        sock_dir, listen_tcp=("127.0.0.1", 0), consumer_limit=ConsumerLimit(total=3, per_address=2)
    ) as relay:
        assert relay.tcp_port is not None
        tcp = [await asyncio.open_connection("127.0.0.1", relay.tcp_port) for _ in range(3)]
        assert [await _is_closed_by_relay(r) for r, _ in tcp] == [False, False, True]  # two per address
        unix = [await asyncio.open_unix_connection(str(sock_dir / "relay.sock")) for _ in range(2)]
        assert [await _is_closed_by_relay(r) for r, _ in unix] == [False, True]  # three in all
        assert len(relay.consumers) == 3
        assert refused("max_per_address") - before["max_per_address"] == 1
        assert refused("max_consumers") - before["max_consumers"] == 1

        tcp[0][1].close()  # one leaves: the next is served
        await eventually(lambda: len(relay.consumers) == 2, what="the consumer gone")
        again_r, again_w = await asyncio.open_connection("127.0.0.1", relay.tcp_port)
        assert not await _is_closed_by_relay(again_r)
        for _, w in [*tcp, *unix, (again_r, again_w)]:
            w.close()


async def test_a_refused_relay_client_backs_off_and_is_served_once_a_slot_frees(sock_dir: Path) -> None:
    """Our RelayClient, closed on arrival, does not spin reconnecting: it pauses, doubling up to its cap."""
    async with running_relay(sock_dir, consumer_limit=ConsumerLimit(total=1)) as relay:
        _, holder = await asyncio.open_unix_connection(str(sock_dir / "relay.sock"))
        await eventually(lambda: len(relay.consumers) == 1, what="the slot taken")
        before = refused("max_consumers")
        rec = Recorder(str(sock_dir / "relay.sock"), name="refused")
        rec.start()
        await asyncio.sleep(1.5)
        # 50 ms doubling (jittered to half): at most ~7 attempts in 1.5 s; spinning made thousands
        assert 2 <= rec.client.connects <= 8, rec.client.connects
        assert refused("max_consumers") - before == rec.client.connects
        holder.close()
        await eventually(lambda: len(relay.consumers) == 1 and rec.client.connected, 5.0, "the client served")
        await rec.stop()
