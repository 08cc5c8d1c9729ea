"""Relay fan-out: one producer → relay → 3 consumers, against pyzmq PUB/SUB through an XSUB/XPUB proxy.

Throughput: the producer sends as fast as its readers drain (batches of cells); delivered frames/s
is the sum over consumers. Latency: the producer stamps each trade with the send time at a fixed
rate (not saturated); consumers record receive - send. Relay-added latency is the same measurement
minus a direct producer→consumer baseline taken in the same run.
"""

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from alphapulse.bench.stats import latency_summary, result

CONSUMERS = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=2_000_000, help="frames in the throughput phase")
    parser.add_argument("--batch", type=int, default=256, help="cells per producer write (throughput phase)")
    parser.add_argument("--rate", type=int, default=10_000, help="frames/s in the latency phase")
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of the latency phase")
    parser.add_argument("--skip-peer", action="store_true", help="do not measure pyzmq")


def _trades(n: int, seq0: int, ts_ns: int) -> bytes:
    from alphapulse.protocol import pack_trade

    return b"".join(pack_trade(7, seq0 + i, 1, seq0 + i, ts_ns, ts_ns, 1, 1) for i in range(n))


def _fill(template: np.ndarray, seq0: int, ts_ns: int) -> bytes:
    from alphapulse.protocol.bulk import TRADE_DTYPE

    arr = template.copy()
    view = arr.view(TRADE_DTYPE)
    view["seq"] = (seq0 + np.arange(view.size)) % (1 << 32)
    view["ts_recv_ns"] = ts_ns
    return arr.tobytes()


# ----------------------------------------------------------------------------- AlphaPulse side


def _ap_producer(
    sock_dir: str, mode: str, frames: int, batch: int, rate: int, seconds: float, ready: Any, go: Any, done: Connection
) -> None:
    import uvloop

    from alphapulse.protocol import Exchange, Feed, encode, feed_id
    from alphapulse.transport import FeedServer

    async def main() -> None:
        fid = feed_id("bench")
        hello = encode(Feed(fid, 0, Exchange.BINANCE, "bench", 1, replay=True))
        server = FeedServer(Path(sock_dir) / "feeds" / "bench.sock", feed_id=fid, hello=lambda: hello)
        await server.start()
        ready.set()
        while not go.is_set():
            await asyncio.sleep(0.01)
        template = np.frombuffer(_trades(batch, 0, 0), dtype=np.uint8)
        seq = 2
        if mode == "throughput":
            sent = 0
            while sent < frames:
                server.publish(_fill(template, seq, time.time_ns()))
                seq += batch
                sent += batch
                await asyncio.sleep(0)
                while any(p.writer and p.writer.transport.get_write_buffer_size() > 4 << 20 for p in server.peers):
                    await asyncio.sleep(0.0005)
        else:
            per_tick = max(1, rate // 1000)
            small = np.frombuffer(_trades(per_tick, 0, 0), dtype=np.uint8)
            end = time.monotonic() + seconds
            next_t = time.monotonic()
            while time.monotonic() < end:
                server.publish(_fill(small, seq, time.time_ns()))
                seq += per_tick
                next_t += 0.001
                await asyncio.sleep(max(0.0, next_t - time.monotonic()))
        await asyncio.sleep(0.5)
        done.send(seq - 2)
        await server.close()

    uvloop.run(main())


def _ap_consumer(endpoint: str, expect: int, out: Connection, ready: Any) -> None:
    import uvloop

    from alphapulse.protocol import FrameType
    from alphapulse.protocol.bulk import CELL_DTYPE, TRADE_DTYPE
    from alphapulse.transport import RelayClient

    async def main() -> None:
        got = 0
        first = last = 0.0
        lats: list[np.ndarray] = []
        finished = asyncio.Event()

        def on_cells(data: bytes) -> None:
            nonlocal got, first, last
            now = time.time_ns()
            arr = np.frombuffer(data, dtype=CELL_DTYPE)
            trades = arr[arr["type"] == FrameType.TRADE].view(TRADE_DTYPE)
            if trades.size:
                if not got:
                    first = time.perf_counter()
                got += trades.size
                last = time.perf_counter()
                lats.append(now - trades["ts_recv_ns"])
                if got >= expect:
                    finished.set()

        client = RelayClient([endpoint], on_cells, name="bench")
        task = asyncio.create_task(client.run(), name="bench.consumer")
        while not client.connected:
            await asyncio.sleep(0.01)
        ready.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(finished.wait(), 120)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        out.send((got, last - first, np.concatenate(lats) if lats else np.zeros(0, dtype=np.int64)))

    uvloop.run(main())


def _ap_relay(sock_dir: str) -> None:
    import uvloop

    from alphapulse.relay import Relay

    async def main() -> None:
        relay = Relay(Path(sock_dir), scan_interval_s=0.05)
        await relay.run()

    uvloop.run(main())


def _run_ap(mode: str, args: argparse.Namespace, direct: bool = False) -> tuple[int, float, np.ndarray]:
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="apb-", dir="/tmp") as d:
        procs = []
        if not direct:
            procs.append(ctx.Process(target=_ap_relay, args=(d,), daemon=True))
            procs[-1].start()
        p_ready, go = ctx.Event(), ctx.Event()
        done_r, done_w = ctx.Pipe(duplex=False)
        expect = args.frames if mode == "throughput" else int(args.rate * args.seconds) - args.rate // 1000
        prod = ctx.Process(
            target=_ap_producer,
            args=(d, mode, args.frames, args.batch, args.rate, args.seconds, p_ready, go, done_w),
            daemon=True,
        )
        prod.start()
        p_ready.wait(30)
        n = 1 if direct else CONSUMERS
        endpoint = f"unix:{d}/feeds/bench.sock" if direct else f"unix:{d}/relay.sock"
        pipes, readies = [], []
        for _ in range(n):
            r, w = ctx.Pipe(duplex=False)
            ev = ctx.Event()
            c = ctx.Process(target=_ap_consumer, args=(endpoint, expect, w, ev), daemon=True)
            c.start()
            procs.append(c)
            pipes.append(r)
            readies.append(ev)
        for ev in readies:
            ev.wait(30)
        time.sleep(0.3)  # the relay has found the feed and every consumer is registered
        go.set()
        sent = done_r.recv()
        outs = [p.recv() for p in pipes]
        for p in [prod, *procs]:
            p.terminate()
            p.join(5)
    delivered = sum(o[0] for o in outs)
    span = max(o[1] for o in outs) or 1e-9
    if delivered < sent * n:
        print(f"bench relay: consumers received {delivered} of {sent * n} frames", flush=True)
    return delivered, span, np.concatenate([o[2] for o in outs])


# ----------------------------------------------------------------------------- pyzmq peer


def _zmq_proxy(front: str, back: str) -> None:
    import zmq

    ctx = zmq.Context()
    xsub = ctx.socket(zmq.XSUB)
    xsub.bind(front)
    xpub = ctx.socket(zmq.XPUB)
    xpub.setsockopt(zmq.SNDHWM, 0)
    xpub.bind(back)
    zmq.proxy(xsub, xpub)


def _zmq_producer(
    front: str, mode: str, frames: int, batch: int, rate: int, seconds: float, go: Any, done: Connection
) -> None:
    import zmq

    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.SNDHWM, 0)
    pub.connect(front)
    go.wait(60)
    template = np.frombuffer(_trades(batch, 0, 0), dtype=np.uint8)
    seq = 0
    if mode == "throughput":
        while seq < frames:
            pub.send(_fill(template, seq, time.time_ns()))
            seq += batch
    else:
        per_tick = max(1, rate // 1000)
        small = np.frombuffer(_trades(per_tick, 0, 0), dtype=np.uint8)
        end = time.monotonic() + seconds
        next_t = time.monotonic()
        while time.monotonic() < end:
            pub.send(_fill(small, seq, time.time_ns()))
            seq += per_tick
            next_t += 0.001
            time.sleep(max(0.0, next_t - time.monotonic()))
    time.sleep(0.5)
    done.send(seq)


def _zmq_consumer(back: str, expect: int, out: Connection, ready: Any) -> None:
    import zmq

    from alphapulse.protocol.bulk import TRADE_DTYPE

    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 0)
    sub.connect(back)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    ready.set()
    got = 0
    first = last = 0.0
    lats = []
    poller = zmq.Poller()
    poller.register(sub, zmq.POLLIN)
    while got < expect:
        if not poller.poll(5000):
            break
        msg = sub.recv()
        now = time.time_ns()
        trades = np.frombuffer(msg, dtype=TRADE_DTYPE)
        if not got:
            first = time.perf_counter()
        got += trades.size
        last = time.perf_counter()
        lats.append(now - trades["ts_recv_ns"])
    out.send((got, last - first, np.concatenate(lats) if lats else np.zeros(0, dtype=np.int64)))


def _run_zmq(mode: str, args: argparse.Namespace) -> tuple[int, float, np.ndarray]:
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="apz-", dir="/tmp") as d:
        front, back = f"ipc://{d}/front", f"ipc://{d}/back"
        proxy = ctx.Process(target=_zmq_proxy, args=(front, back), daemon=True)
        proxy.start()
        go = ctx.Event()
        done_r, done_w = ctx.Pipe(duplex=False)
        expect = args.frames if mode == "throughput" else int(args.rate * args.seconds) - args.rate // 1000
        prod = ctx.Process(
            target=_zmq_producer,
            args=(front, mode, args.frames, args.batch, args.rate, args.seconds, go, done_w),
            daemon=True,
        )
        prod.start()
        pipes, readies, procs = [], [], []
        for _ in range(CONSUMERS):
            r, w = ctx.Pipe(duplex=False)
            ev = ctx.Event()
            c = ctx.Process(target=_zmq_consumer, args=(back, expect, w, ev), daemon=True)
            c.start()
            procs.append(c)
            pipes.append(r)
            readies.append(ev)
        for ev in readies:
            ev.wait(30)
        time.sleep(0.5)  # SUB subscriptions propagate through the proxy (the slow-joiner problem)
        go.set()
        done_r.recv()
        outs = [p.recv() for p in pipes]
        for p in [prod, proxy, *procs]:
            p.terminate()
            p.join(5)
    return sum(o[0] for o in outs), max(o[1] for o in outs) or 1e-9, np.concatenate([o[2] for o in outs])


def run(args: argparse.Namespace) -> dict[str, Any]:
    ap_n, ap_span, _ = _run_ap("throughput", args)
    _, _, ap_lat = _run_ap("latency", args)
    _, _, direct_lat = _run_ap("latency", args, direct=True)
    via = latency_summary(ap_lat)
    base = latency_summary(direct_lat)
    added = {k: max(0.0, via[k] - base[k]) for k in ("p50", "p99", "p999")}
    results = [
        result(
            "alphapulse",
            ap_n / ap_span,
            via,
            delivered=ap_n,
            expected=args.frames * CONSUMERS,
            relay_added_latency_ns=added,
            direct_latency_ns=base,
        ),
    ]
    if not args.skip_peer:
        z_n, z_span, _ = _run_zmq("throughput", args)
        _, _, z_lat = _run_zmq("latency", args)
        results.append(
            result(
                "pyzmq-ipc-proxy", z_n / z_span, latency_summary(z_lat), delivered=z_n, expected=args.frames * CONSUMERS
            )
        )
    return {
        "bench": "relay",
        "results": results,
        "consumers": CONSUMERS,
        "batch": args.batch,
        "latency_rate_per_s": args.rate,
        "cpus": os.cpu_count(),
        "notes": [
            "latency_ns is producer send -> consumer receive (two hops); "
            "relay_added_latency_ns subtracts the direct producer -> consumer baseline measured in the same run"
        ],
    }
