"""``alphapulse bench bridge``: fan-out throughput and relay → browser latency, against ``broadcast()``.

Three processes, as in production (each hop a real socket):

* the *source* stands in for the relay: a :class:`FeedServer` on a Unix socket that stamps every
  trade's ``ts_recv_ns`` with the wall clock just before publishing it ("the frame leaves the relay");
* the *bridge* under test: ``alphapulse`` (RelayClient → BridgeCore → BridgeServer) or the peer,
  the same relay input and the same rendering fanned out with websockets' ``broadcast()``;
* the *clients*: N WebSocket connections in one process, a minimal RFC 6455 client (the browser's
  parser is native code; a Python client library would dominate the measurement). Each subscribes
  to the one symbol, counts events and, in the latency phase, records now − ``ts_recv_ns`` per event.

Phases per (system, N): *throughput* — the source publishes as fast as the bridge reads (it waits
while its socket to the bridge holds over 256 KiB) and the clients count events delivered in the
window, and the bridge reports how many it wrote; *latency* — single trades at a fixed rate
(10,000 deliveries/s in total: 1,000 trades/s to 10 clients, 100/s to 100), every event timed.

``run(args)`` reads these optional attributes of ``args`` (an argparse namespace or None):
``clients`` (list of client counts, default [10, 100]), ``duration_s`` (per phase, default 3),
``rounds`` (interleaved repetitions, the median run is reported; default 1) and
``latency_fanout_per_s`` (default 10,000). ``python -m alphapulse.bench.bridge [--json]`` runs it.
"""

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

import orjson
import uvloop
from prometheus_client import CollectorRegistry
from websockets.asyncio.server import ServerConnection, broadcast, serve

from alphapulse.bench._wsclient import masked_text, pong, take_frames, upgrade_request
from alphapulse.bench.stats import latency_summary, render_table
from alphapulse.bridge.core import BridgeCore, BridgeLimits
from alphapulse.bridge.metrics import BridgeMetrics
from alphapulse.bridge.render import InstrumentInfo, render_trade
from alphapulse.bridge.server import BridgeServer
from alphapulse.bridge.service import BRIDGE_TYPES, relay_client
from alphapulse.protocol import (
    Control,
    ControlOp,
    Exchange,
    Feed,
    Instrument,
    cells_of,
    decode,
    encode,
    feed_id,
    pack_trade,
    symbol_id,
)
from alphapulse.protocol.wire import CELL, CELL_BYTES, FrameType
from alphapulse.tokens import issue_token, verify_token
from alphapulse.transport import FeedServer, RelayClient

__all__ = ("add_arguments", "run")

SYMBOL = "BTC-USDT"
SECRET = b"bench-only-secret-0123456789abcdef"
_HELLO_SCALES = (2, 8)


# ---- the source (stands in for the relay) ----------------------------------------------------


def _source_main(path: str, pipe: Connection) -> None:
    uvloop.run(_source(path, pipe))


async def _source(path: str, pipe: Connection) -> None:
    sid = symbol_id(Exchange.BINANCE, SYMBOL)
    fid = feed_id("bench")
    hello = encode(Feed(fid, 0, Exchange.BINANCE, "bench", time.time_ns())) + encode(
        Instrument(sid, 2, Exchange.BINANCE, SYMBOL, *_HELLO_SCALES, 1, 1, "BTCUSDT")
    )
    server = FeedServer(Path(path), feed_id=fid, hello=lambda: hello)
    await server.start()
    loop = asyncio.get_running_loop()
    pipe.send("ready")
    seq = 4
    while True:
        command = await loop.run_in_executor(None, pipe.recv)
        if command[0] == "stop":
            break
        _, mode, duration_s, rate_per_s = command
        end = time.monotonic() + duration_s
        sent = 0
        if mode == "flood":
            batch = 64
            while time.monotonic() < end:
                now = time.time_ns()
                server.publish(
                    b"".join(pack_trade(sid, seq + i, 1, seq + i, now, now, 6_500_012, 150_000) for i in range(batch))
                )
                seq += batch
                sent += batch
                await asyncio.sleep(0)
                while any(
                    p.writer is not None and p.writer.transport.get_write_buffer_size() > 256 * 1024
                    for p in server.peers
                ):
                    await asyncio.sleep(0.0005)
        else:  # paced: one trade every 1/rate seconds, each its own write
            interval_s = 1.0 / rate_per_s
            next_s = time.monotonic()
            while time.monotonic() < end:
                now = time.time_ns()
                server.publish(pack_trade(sid, seq, 1, seq, now, now, 6_500_012, 150_000))
                seq += 1
                sent += 1
                next_s += interval_s
                await asyncio.sleep(max(0.0, next_s - time.monotonic()))
        pipe.send(sent)
    await server.close()


# ---- the bridges ------------------------------------------------------------------------------


def _bridge_main(system: str, relay_path: str, pipe: Connection) -> None:
    uvloop.run(_bridge(system, relay_path, pipe))


async def _bridge(system: str, relay_path: str, pipe: Connection) -> None:
    loop = asyncio.get_running_loop()
    written: list[int] = [0]
    if system == "alphapulse":
        core = BridgeCore(BridgeLimits(), metrics=BridgeMetrics(CollectorRegistry()))
        server = BridgeServer(core, SECRET)
        await server.start()
        port, on_cells, close = server.port, core.feed_cells, server.close
        relay = relay_client(core, [f"unix:{relay_path}"])  # the service's own subscriptions

        def events_written() -> int:
            return core.metrics.messages_out
    else:
        port, on_cells, close = await _broadcast_peer(written)

        def events_written() -> int:
            return written[0]

        # the peer forwards the trades it gets: the same frames the bridge asks for (its clients watch trades)
        relay = RelayClient(
            [f"unix:{relay_path}"], on_cells, controls=[Control(ControlOp.SUBSCRIBE, 0, BRIDGE_TYPES)], name="bench"
        )
    task = asyncio.create_task(relay.run(), name="bench.bridge.relay")
    pipe.send(port)
    while (await loop.run_in_executor(None, pipe.recv))[0] == "written":
        pipe.send(events_written())
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await close()


async def _broadcast_peer(written: list[int]) -> tuple[int, Any, Any]:
    """The peer: same relay input, same rendering, fan-out with ``websockets.broadcast()``."""
    clients: set[ServerConnection] = set()
    infos: dict[int, InstrumentInfo] = {}
    unpack = CELL[FrameType.TRADE].unpack_from

    async def handler(ws: ServerConnection) -> None:
        verify_token(SECRET, orjson.loads(await ws.recv())["token"])
        await ws.send(orjson.dumps([{"type": "welcome"}]).decode())
        await ws.recv()  # the subscribe message: everyone gets the one symbol
        await ws.send(orjson.dumps([{"type": "subscribed"}]).decode())
        clients.add(ws)
        try:
            await ws.wait_closed()
        finally:
            clients.discard(ws)

    def on_cells(data: bytes) -> None:
        events = []
        off, end = 0, len(data)
        while off < end:
            ftype = data[off + 1]
            if ftype == FrameType.TRADE:
                _, _, flags, hi, sid, seq, lo, tex, trc, px, qty = unpack(data, off)
                info = infos.get(sid)
                if info is not None:
                    events.append(render_trade(info, seq, flags & 3, (hi << 32) | lo, tex, trc, px, qty, False))
                off += CELL_BYTES
                continue
            frame = decode(data, off)
            if isinstance(frame, Instrument):
                ex = frame.exchange.name.lower()
                infos[frame.symbol_id] = InstrumentInfo(
                    frame.symbol_id, ex, frame.symbol, frame.price_scale, frame.qty_scale
                )
            off += cells_of(ftype) * CELL_BYTES
        if events and clients:
            broadcast(clients, b"[" + b",".join(events) + b"]", text=True)
            written[0] += len(events) * len(clients)

    server = await serve(handler, "127.0.0.1", 0, compression=None, max_size=4096)
    port = next(iter(server.sockets)).getsockname()[1]

    async def close() -> None:
        server.close()
        await server.wait_closed()

    return port, on_cells, close


# ---- the clients ------------------------------------------------------------------------------


class _Client(asyncio.Protocol):
    """A minimal WebSocket client: handshake, then counts text frames' events; answers pings."""

    def __init__(self, book: "_Tally", request: bytes) -> None:
        self.tally = book
        self.request = request
        self.buf = bytearray()
        self.upgraded = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.upgrade: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.replies = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's do not subclass asyncio.Transport
        self.transport.write(self.request)

    def send_text(self, text: bytes) -> None:
        assert self.transport is not None
        self.transport.write(masked_text(text))

    def data_received(self, data: bytes) -> None:
        now = time.time_ns()
        buf = self.buf
        buf += data
        if not self.upgraded:
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                return
            del buf[: head_end + 4]
            self.upgraded = True
            self.upgrade.set_result(None)
        for opcode, payload in take_frames(buf):
            if opcode == 0x1:
                if self.replies < 2:  # welcome, subscribed
                    self.replies += 1
                    if self.replies == 2 and not self.ready.done():
                        self.ready.set_result(None)
                    continue
                self.tally.add(payload, now)
            elif opcode == 0x8:
                self.tally.disconnects += 1
            elif opcode == 0x9 and self.transport is not None:
                self.transport.write(pong(payload))


class _Tally:
    def __init__(self) -> None:
        self.counting = False
        self.timing = False
        self.events = 0
        self.gaps = 0
        self.disconnects = 0
        self.received = 0
        self.latencies_ns: list[int] = []
        self.timed: list[tuple[int, bytes]] = []

    def settle(self) -> None:
        """Turn the payloads received in a timed window into latencies."""
        for now_ns, payload in self.timed:
            for event in orjson.loads(payload):
                kind = event.get("type")
                if kind == "trade":
                    self.latencies_ns.append(now_ns - event["ts_recv_ns"])
                    self.events += 1
                elif kind == "gap":
                    self.gaps += 1
        self.timed = []

    def add(self, payload: bytes, now_ns: int) -> None:
        self.received += 1
        if not self.counting:
            return
        if self.timing:
            # parse after the window: the next client's socket should not wait on this one's JSON
            self.timed.append((now_ns, payload))
        else:
            self.events += payload.count(b'{"type":"trade"')
            self.gaps += payload.count(b'{"type":"gap"')


def _clients_main(port: int, n: int, pipe: Connection) -> None:
    uvloop.run(_clients(port, n, pipe))


async def _clients(port: int, n: int, pipe: Connection) -> None:
    loop = asyncio.get_running_loop()
    tally = _Tally()
    conns: list[_Client] = []
    for i in range(n):
        request = upgrade_request(f"127.0.0.1:{port}", "/ws")
        _, proto = await loop.create_connection(lambda r=request: _Client(tally, r), "127.0.0.1", port)  # type: ignore[misc]
        await asyncio.wait_for(proto.upgrade, 30)
        token = issue_token(SECRET, f"bench{i}", "viewer", now_s=int(time.time()), ttl_s=3600)
        proto.send_text(orjson.dumps({"op": "auth", "token": token}))
        proto.send_text(
            orjson.dumps({"op": "subscribe", "exchange": "binance", "symbols": [SYMBOL], "channels": ["trades"]})
        )
        conns.append(proto)
    await asyncio.wait_for(asyncio.gather(*(c.ready for c in conns)), 30)
    pipe.send("ready")
    while True:
        command = await loop.run_in_executor(None, pipe.recv)
        if command[0] == "stop":
            break
        _, mode, duration_s, _ = command
        tally.events = tally.gaps = tally.disconnects = 0
        tally.latencies_ns = []
        tally.timing = mode == "paced"
        tally.counting = True
        t0 = time.perf_counter()
        await asyncio.sleep(duration_s)
        tally.counting = False
        elapsed = time.perf_counter() - t0
        tally.settle()
        result = (tally.events, elapsed, tally.latencies_ns, tally.gaps, tally.disconnects)
        # drain whatever is still buffered (kernel and bridge) before the next phase starts
        quiet_since = tally.received
        while True:
            await asyncio.sleep(0.3)
            if tally.received == quiet_since:
                break
            quiet_since = tally.received
        pipe.send(result)
    for c in conns:
        if c.transport is not None:
            c.transport.close()


# ---- orchestration ----------------------------------------------------------------------------


def _median(values: list[Any]) -> Any:
    return sorted(values)[len(values) // 2]


def _one(system: str, n: int, duration_s: float, rate_per_s: float) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="apb-", dir="/tmp") as tmp:
        path = str(Path(tmp) / "relay.sock")
        src_pipe, src_child = ctx.Pipe()
        br_pipe, br_child = ctx.Pipe()
        cl_pipe, cl_child = ctx.Pipe()
        source = ctx.Process(target=_source_main, args=(path, src_child), name="bench-source")
        source.start()
        procs = [source]
        try:
            assert src_pipe.recv() == "ready"
            bridge = ctx.Process(target=_bridge_main, args=(system, path, br_child), name="bench-bridge")
            bridge.start()
            procs.append(bridge)
            port = br_pipe.recv()
            time.sleep(0.3)  # the bridge's relay client connects and takes the instrument
            clients = ctx.Process(target=_clients_main, args=(port, n, cl_child), name="bench-clients")
            clients.start()
            procs.append(clients)
            if not cl_pipe.poll(60):
                raise RuntimeError("bench clients did not connect")
            assert cl_pipe.recv() == "ready"
            out: dict[str, Any] = {}
            for mode in ("flood", "paced"):
                command = ("run", mode, duration_s, rate_per_s)
                br_pipe.send(("written",))
                written_before = br_pipe.recv()
                cl_pipe.send(command)
                src_pipe.send(command)
                sent = src_pipe.recv()
                br_pipe.send(("written",))
                written = br_pipe.recv() - written_before
                out[mode] = (sent, written, *cl_pipe.recv())
            for pipe in (cl_pipe, src_pipe, br_pipe):
                pipe.send(("stop",))
            for p in procs:
                p.join(10)
        finally:
            for p in procs:
                if p.is_alive():
                    p.kill()
                    p.join()
    sent, written, events, elapsed, _, flood_gaps, flood_closes = out["flood"]
    paced_sent, _, paced_events, _, latencies, paced_gaps, paced_closes = out["paced"]
    return {
        "system": system,
        "scenario": f"{n} clients",
        "clients": n,
        "throughput_per_s": round(events / elapsed),
        "source_frames_per_s": round(sent / duration_s),
        "bridge_written_per_s": round(written / duration_s),
        "latency_rate_per_s": rate_per_s,
        "latency_ns": latency_summary(latencies),
        "latency_samples": len(latencies),
        "latency_delivered_fraction": round(paced_events / max(1, paced_sent * n), 4),
        "latency_source_frames": paced_sent,
        "gap_notices": {"flood": flood_gaps, "paced": paced_gaps},
        "closed_by_server": flood_closes + paced_closes,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--clients", type=int, action="append", help="client count to measure, repeatable (default 10 and 100)"
    )
    parser.add_argument("--duration-s", type=float, default=3.0, help="seconds per phase (default 3)")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved repetitions; medians are reported")
    parser.add_argument(
        "--latency-fanout-per-s", type=float, default=10_000, help="deliveries/s in the latency phase (default 10,000)"
    )


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    """Measure both systems at each client count; returns the bench JSON (ours first, then the peer)."""
    counts = list(getattr(args, "clients", None) or [10, 100])
    duration_s = float(getattr(args, "duration_s", None) or 3.0)
    rounds = int(getattr(args, "rounds", None) or 1)
    # latency phase: a load the bridge sustains, the same fan-out (10,000 deliveries/s) at every N
    fanout_per_s = float(getattr(args, "latency_fanout_per_s", None) or 10_000)
    samples: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for _ in range(rounds):
        for n in counts:
            for system in ("alphapulse", "websockets-broadcast"):  # interleaved: same noise for both
                rate = min(1000.0, fanout_per_s / n)
                samples.setdefault((system, n), []).append(_one(system, n, duration_s, rate))
    results = []
    for system in ("alphapulse", "websockets-broadcast"):
        for n in counts:
            runs = samples[(system, n)]
            entry = dict(runs[0])
            # each number is its median over the runs (interleaved, so both systems saw the same noise)
            for key in ("throughput_per_s", "bridge_written_per_s", "source_frames_per_s"):
                entry[key] = _median([r[key] for r in runs])
            entry["latency_ns"] = {q: _median([r["latency_ns"][q] for r in runs]) for q in ("p50", "p99", "p999")}
            entry["latency_ns"]["count"] = sum(r["latency_ns"]["count"] for r in runs)
            entry["latency_delivered_fraction"] = min(r["latency_delivered_fraction"] for r in runs)
            entry["runs"] = len(runs)
            results.append(entry)
    return {
        "bench": "bridge",
        "unit": "throughput: trade events delivered per second summed over clients; latency: source write → client",
        "duration_s": duration_s,
        "results": results,
    }


if __name__ == "__main__":  # pragma: no cover - `python -m alphapulse.bench.bridge` until the CLI wires it
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    parser.add_argument("--json", action="store_true")
    with contextlib.suppress(KeyboardInterrupt):
        args = parser.parse_args()
        outcome = run(args)
        print(orjson.dumps(outcome, option=orjson.OPT_INDENT_2).decode() if args.json else render_table(outcome))
