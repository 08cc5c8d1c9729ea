"""``alphapulse bench e2e``: the whole pipeline, exchange frame to strategy and to browsers, against cryptofeed.

Every part is a real process (``e2e/stack.py`` starts them as a user would):

* **alphapulse**: ``alphapulse sim`` (synthetic market, all three venues: trades, tickers/quotes and
  book updates at ``--rate`` market events/s) → three ``alphapulse collector`` → ``alphapulse relay``
  → {``alphapulse bridge`` → N WebSocket clients (one process, a minimal RFC 6455 client);
  ``alphapulse writer`` → PostgreSQL (``--writer``); a *strategy probe*: a relay consumer that
  decodes frames as the trading node's data client does, in its own process}.
* **cryptofeed** (the peer, same run, same seeded simulator and rate): cryptofeed 3.0.1 in its own
  Python 3.13 environment collecting the three venues' trades with its ZeroMQ backend
  (``TradeZMQ``) → a consumer (pyzmq SUB) that renders each trade to the same JSON event and sends
  it with websockets' ``broadcast()`` → the same N clients.

Latency comes from the timestamps the events carry, read against the same wall clock (one
machine): *exchange* = the simulator's event time (its generator stamps each event with
``time.time_ns()`` when it creates it, and renders it at the venue's precision: Kraken and Coinbase
microseconds, Binance milliseconds — so exchange-origin percentiles use Kraken and Coinbase trades
only); *collector* = ``ts_recv_ns`` (cryptofeed: ``receipt_timestamp``); *browser* / *strategy* =
when the client / probe process read it. CPU and resident memory of every process come from psutil
over the measured window.

``run(args)`` reads optional attributes of ``args``: ``rates`` (market events/s, default 1,000 and
10,000), ``clients`` (default 10), ``duration_s`` (measured window per run, default 8),
``warmup_s`` (2), ``writer`` (True), ``peer`` (True when the cryptofeed environment exists),
``plot_dir`` (write one PNG per scenario there).
"""

import argparse
import asyncio
import base64
import contextlib
import importlib
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import psutil
import uvloop

from alphapulse.bench.bridge import _Client
from alphapulse.bench.stats import latency_summary
from alphapulse.protocol import FrameDecoder, Instrument, Trade
from alphapulse.tokens import issue_token

__all__ = ("add_arguments", "run")

REPO = Path(__file__).resolve().parents[3]
CRYPTOFEED_PYTHON = Path(os.environ.get("ALPHAPULSE_CRYPTOFEED_PYTHON", "/work/venv-cryptofeed/bin/python"))
PEER_SCRIPT = Path(__file__).with_name("_cryptofeed_e2e_peer.py")
SYMBOLS = {
    "kraken": ["BTC-USD", "ETH-USD", "SOL-USD"],
    "coinbase": ["BTC-USD", "ETH-USD", "SOL-USD"],
    "binance": ["BTC-USDT", "ETH-USDT", "SOL-USDT"],
}
# venues whose exchange timestamps have microsecond resolution (Binance's are milliseconds)
FINE_CLOCK = frozenset({"kraken", "coinbase"})


def _stack_module() -> Any:
    """``e2e/stack.py`` of this checkout (the harness lives with the end-to-end tests, not in the package)."""
    path = str(REPO / "e2e")
    if path not in sys.path:
        sys.path.insert(0, path)
    return importlib.import_module("stack")


# ---- browsers ---------------------------------------------------------------------------------


class _Record:
    """What the clients read in the measured window: (receive ns, payload), parsed afterwards."""

    def __init__(self) -> None:
        self.on = False
        self.payloads: list[tuple[int, bytes]] = []
        self.disconnects = 0

    def add(self, payload: bytes, now_ns: int) -> None:
        if self.on:
            self.payloads.append((now_ns, payload))

    def latencies(self) -> dict[str, Any]:
        ex, recv, hop, events = [], [], [], 0
        for now, payload in self.payloads:
            for e in orjson.loads(payload):
                if e.get("type") != "trade" or e.get("snapshot"):
                    continue
                events += 1
                recv.append(now - e["ts_recv_ns"])
                if e["exchange"] in FINE_CLOCK:
                    ex.append(now - e["ts_exchange_ns"])
                    hop.append(e["ts_recv_ns"] - e["ts_exchange_ns"])
        return {
            "events": events,
            "exchange_to_browser": np.asarray(ex, dtype=np.int64),
            "collector_to_browser": np.asarray(recv, dtype=np.int64),
            "exchange_to_collector": np.asarray(hop, dtype=np.int64),
        }


def _clients_main(port: int, n: int, secret: bytes, pipe: Connection) -> None:
    uvloop.run(_clients(port, n, secret, pipe))


async def _clients(port: int, n: int, secret: bytes, pipe: Connection) -> None:
    loop = asyncio.get_running_loop()
    record = _Record()
    conns: list[_Client] = []
    for i in range(n):
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        _, proto = await loop.create_connection(lambda r=request: _Client(record, r), "127.0.0.1", port)  # type: ignore[arg-type, misc]
        await asyncio.wait_for(proto.upgrade, 30)
        token = issue_token(secret, f"e2e{i}", "viewer", now_s=int(time.time()), ttl_s=3600)
        proto.send_text(orjson.dumps({"op": "auth", "token": token}))
        for exchange, symbols in SYMBOLS.items():
            sub = {"op": "subscribe", "exchange": exchange, "symbols": symbols, "channels": ["trades"]}
            proto.send_text(orjson.dumps(sub))
        conns.append(proto)
    await asyncio.wait_for(asyncio.gather(*(c.ready for c in conns)), 30)
    pipe.send("ready")
    duration_s = await loop.run_in_executor(None, pipe.recv)
    record.on = True
    await asyncio.sleep(duration_s)
    record.on = False
    pipe.send(record.latencies())
    for c in conns:
        if c.transport is not None:
            c.transport.close()


# ---- the strategy probe: a relay consumer as the trading node's data client --------------------


def _probe_main(relay_path: str, pipe: Connection) -> None:
    uvloop.run(_probe(relay_path, pipe))


async def _probe(relay_path: str, pipe: Connection) -> None:
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_unix_connection(relay_path)
    decoder = FrameDecoder()
    venues: dict[int, str] = {}
    state = {"on": False, "frames": 0}
    ex: list[int] = []
    recv: list[int] = []

    async def read() -> None:
        while data := await reader.read(1 << 16):
            now = time.time_ns()
            for f in decoder.feed(data):
                if isinstance(f, Instrument):
                    venues[f.symbol_id] = f.exchange.name.lower()
                elif state["on"]:
                    state["frames"] += 1
                    if isinstance(f, Trade) and not f.snapshot:
                        recv.append(now - f.ts_recv_ns)
                        if venues.get(f.symbol_id) in FINE_CLOCK:
                            ex.append(now - f.ts_exchange_ns)

    task = asyncio.create_task(read())
    pipe.send("ready")
    duration_s = await loop.run_in_executor(None, pipe.recv)
    state["on"] = True
    await asyncio.sleep(duration_s)
    state["on"] = False
    pipe.send(
        {
            "frames": state["frames"],
            "exchange_to_strategy": np.asarray(ex, dtype=np.int64),
            "collector_to_strategy": np.asarray(recv, dtype=np.int64),
        }
    )
    task.cancel()
    writer.close()


# ---- the peer's consumer: ZeroMQ SUB -> JSON -> websockets broadcast() -------------------------


def _peer_consumer_main(zmq_port: int, pipe: Connection) -> None:
    uvloop.run(_peer_consumer(zmq_port, pipe))


async def _peer_consumer(zmq_port: int, pipe: Connection) -> None:
    import zmq
    import zmq.asyncio
    from websockets.asyncio.server import ServerConnection, broadcast, serve
    from websockets.exceptions import ConnectionClosed

    clients: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        # the same handshake our clients expect from the bridge: a welcome, then one reply per subscribe
        await ws.recv()
        await ws.send(b'[{"type":"welcome"}]'.decode())
        clients.add(ws)
        try:
            async for _ in ws:
                await ws.send(b'[{"type":"subscribed"}]'.decode())
        except ConnectionClosed:  # the clients' process is killed at the end of the run
            pass
        finally:
            clients.discard(ws)

    ctx = zmq.asyncio.Context()
    sub = ctx.socket(zmq.SUB)
    sub.bind(f"tcp://127.0.0.1:{zmq_port}")
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    server = await serve(handler, "127.0.0.1", 0, compression=None)
    pipe.send(next(iter(server.sockets)).getsockname()[1])
    while True:
        msg = await sub.recv()
        _, _, body = msg.partition(b" ")
        t = orjson.loads(body)
        event = {
            "type": "trade",
            "exchange": t["exchange"].lower(),
            "symbol": t["symbol"],
            "ts_exchange_ns": round(t["timestamp"] * 1e9) if t.get("timestamp") else 0,
            "ts_recv_ns": round(t["receipt_timestamp"] * 1e9),
            "side": t["side"],
            "price": str(t["price"]),
            "qty": str(t["amount"]),
            "trade_id": str(t["id"]),
        }
        broadcast(clients, orjson.dumps([event]).decode())


# ---- measuring --------------------------------------------------------------------------------


class _Usage:
    """CPU seconds and resident memory of named processes over a window."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.t0 = time.perf_counter()
        self.cpu0 = {name: self._cpu(p) for name, p in self.procs.items()}

    @staticmethod
    def _cpu(p: psutil.Process) -> float:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            return float(t.user + t.system)
        return 0.0

    def stop(self) -> None:
        """The end of the window (the clients parse what they read afterwards: not counted)."""
        self.wall = time.perf_counter() - self.t0
        self.cpu = {name: self._cpu(p) - self.cpu0[name] for name, p in self.procs.items()}
        self.rss = {}
        for name, p in self.procs.items():
            with contextlib.suppress(psutil.Error):
                self.rss[name] = p.memory_info().rss / 2**20

    def finish(self, messages: int) -> dict[str, dict[str, float]]:
        wall = self.wall
        out = {}
        for name in self.procs:
            cpu = self.cpu[name]
            rss = self.rss.get(name, 0.0)
            out[name] = {
                "cpu_pct": round(100 * cpu / wall, 1),
                "cpu_us_per_msg": round(1e6 * cpu / max(1, messages), 2),
                "rss_mib": round(rss, 1),
            }
        return out


def _summaries(samples: dict[str, Any]) -> dict[str, Any]:
    return {k: latency_summary(v) for k, v in samples.items() if isinstance(v, np.ndarray)}


def _start(ctx: Any, target: Any, *args: Any) -> tuple[Any, Connection]:
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=target, args=(*args, child), daemon=True)
    proc.start()
    return proc, parent


def _recv(pipe: Connection, timeout_s: float, what: str) -> Any:
    if not pipe.poll(timeout_s):
        raise RuntimeError(f"{what} did not answer in {timeout_s} s")
    return pipe.recv()


def _alphapulse(rate: float, n: int, opts: argparse.Namespace, root: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    stack_mod = _stack_module()
    ctx = mp.get_context("spawn")
    stack = stack_mod.Stack(stack_mod.StackOptions(rate=rate, writer=opts.writer, bridge=True), root=root).start()
    helpers: list[Any] = []
    try:
        clients, cl = _start(ctx, _clients_main, stack.procs["bridge"].port, n, stack_mod.BRIDGE_SECRET.encode())
        probe, pr = _start(ctx, _probe_main, str(stack.sock_dir / "relay.sock"))
        helpers += [clients, probe]
        _recv(cl, 60, "clients")
        _recv(pr, 60, "probe")
        time.sleep(opts.warmup_s)
        pids = {name: p.pid for name, p in stack.procs.items()}
        pids |= {"clients": clients.pid, "strategy-probe": probe.pid}
        usage = _Usage(pids)
        cl.send(opts.duration_s)
        pr.send(opts.duration_s)
        time.sleep(opts.duration_s)
        usage.stop()
        browsers = _recv(cl, opts.duration_s + 120, "clients")
        strategy = _recv(pr, opts.duration_s + 120, "probe")
        processes = usage.finish(strategy["frames"])
    finally:
        for p in helpers:
            p.kill()
            p.join(5)
        stack.stop()
    samples = {**browsers, **strategy}
    return {
        "system": "alphapulse",
        "scenario": f"{rate:g} events/s, {n} clients",
        "rate_events_per_s": rate,
        "clients": n,
        "relay_frames_per_s": round(strategy["frames"] / opts.duration_s),
        "trades_to_browsers_per_s": round(browsers["events"] / opts.duration_s),
        "throughput_per_s": round(strategy["frames"] / opts.duration_s),
        "latency_ns": latency_summary(browsers["exchange_to_browser"]),
        "hops": _summaries(samples),
        "processes": processes,
    }, samples


def _cryptofeed(
    rate: float, n: int, opts: argparse.Namespace, root: Path, batch_max: int | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    stack_mod = _stack_module()
    ctx = mp.get_context("spawn")
    options = stack_mod.StackOptions(rate=rate, writer=False, bridge=False, collectors=False)
    stack = stack_mod.Stack(options, root=root).start()
    helpers: list[Any] = []
    feed: subprocess.Popen[bytes] | None = None
    try:
        zmq_port = stack_mod.free_port()
        consumer, co = _start(ctx, _peer_consumer_main, zmq_port)
        helpers.append(consumer)
        ws_port = _recv(co, 60, "peer consumer")
        urls = [stack.sim_endpoints[v]["url"] for v in ("kraken", "coinbase", "binance")]
        log = (root / "cryptofeed.log").open("wb")
        feed = subprocess.Popen(
            [str(CRYPTOFEED_PYTHON), str(PEER_SCRIPT), str(zmq_port), *urls, *([str(batch_max)] if batch_max else [])],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        clients, cl = _start(ctx, _clients_main, ws_port, n, b"unused-by-the-peer-0123456789abcdef")
        helpers.append(clients)
        _recv(cl, 60, "clients")
        time.sleep(opts.warmup_s + 2)  # cryptofeed connects and subscribes after its own start-up
        pids = {"sim": stack.procs["sim"].pid, "cryptofeed": feed.pid, "consumer": consumer.pid, "clients": clients.pid}
        usage = _Usage(pids)
        cl.send(opts.duration_s)
        time.sleep(opts.duration_s)
        usage.stop()
        browsers = _recv(cl, opts.duration_s + 120, "clients")
        per_client = browsers["events"] / max(1, n)
        processes = usage.finish(int(per_client))
    finally:
        if feed is not None:
            feed.kill()
            feed.wait(5)
        for p in helpers:
            p.kill()
            p.join(5)
        stack.stop()
    return {
        "system": "cryptofeed" if batch_max is None else f"cryptofeed batch_max={batch_max}",
        "scenario": f"{rate:g} events/s, {n} clients",
        "rate_events_per_s": rate,
        "clients": n,
        "trades_to_browsers_per_s": round(browsers["events"] / opts.duration_s),
        "throughput_per_s": round(per_client / opts.duration_s),
        "latency_ns": latency_summary(browsers["exchange_to_browser"]),
        "hops": _summaries(browsers),
        "processes": processes,
    }, browsers


def _plot(path: Path, title: str, series: dict[str, np.ndarray]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for label, arr in series.items():
        if arr.size == 0:
            continue
        xs = np.sort(arr) / 1000
        ys = np.arange(1, xs.size + 1) / xs.size
        ax.plot(xs, ys, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("latency (µs, log)")
    ax.set_ylabel("fraction of trades")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate", type=float, action="append", dest="rates", help="market events/s, repeatable")
    parser.add_argument("--clients", type=int, default=10, help="WebSocket clients (default 10)")
    parser.add_argument("--duration-s", type=float, default=8.0, help="measured seconds per run (default 8)")
    parser.add_argument("--warmup-s", type=float, default=2.0, help="seconds before measuring (default 2)")
    parser.add_argument("--no-writer", dest="writer", action="store_false", help="leave the database writer out")
    parser.add_argument("--no-peer", dest="peer", action="store_false", help="leave the cryptofeed pipeline out")
    parser.add_argument("--plot-dir", type=Path, default=None, help="write a latency CDF PNG per scenario here")


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    opts = argparse.Namespace(
        rates=list(getattr(args, "rates", None) or [1000.0, 10000.0]),
        clients=int(getattr(args, "clients", None) or 10),
        duration_s=float(getattr(args, "duration_s", None) or 8.0),
        warmup_s=float(getattr(args, "warmup_s", None) or 2.0),
        writer=bool(getattr(args, "writer", True)),
        peer=bool(getattr(args, "peer", True)) and CRYPTOFEED_PYTHON.exists(),
        plot_dir=getattr(args, "plot_dir", None),
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="ap-bench-e2e-") as tmp:
        for k, rate in enumerate(opts.rates):
            ours, ours_samples = _alphapulse(rate, opts.clients, opts, Path(tmp) / f"ours{k}")
            results.append(ours)
            series = {
                "alphapulse exchange → strategy": ours_samples["exchange_to_strategy"],
                f"alphapulse exchange → browser ({opts.clients})": ours_samples["exchange_to_browser"],
            }
            # the peer as installed (its backend batches: 500 updates or 0.5 s) and tuned to send at once
            for batch_max in (None, 1) if opts.peer else ():
                peer, peer_samples = _cryptofeed(
                    rate, opts.clients, opts, Path(tmp) / f"peer{k}-{batch_max}", batch_max
                )
                results.append(peer)
                series[f"{peer['system']} exchange → browser ({opts.clients})"] = peer_samples["exchange_to_browser"]
            if opts.plot_dir is not None:
                opts.plot_dir.mkdir(parents=True, exist_ok=True)
                name = f"e2e-latency-{int(rate)}.png"
                _plot(opts.plot_dir / name, f"end to end, {rate:g} market events/s, {opts.clients} clients", series)
    return {
        "bench": "e2e",
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "duration_s": opts.duration_s,
        "results": results,
    }


if __name__ == "__main__":
    print(orjson.dumps(run(None)).decode())
