"""``alphapulse bench e2e``: the whole pipeline, exchange frame to strategy and to browsers, against cryptofeed.

Every part is a real process (``e2e/stack.py`` starts them as a user would):

* **alphapulse**: ``alphapulse sim`` (synthetic market, all three venues: trades, tickers/quotes and
  book updates at ``--rate`` market events/s) → three ``alphapulse collector`` → ``alphapulse relay``
  → {``alphapulse bridge`` → N WebSocket clients (one process, a minimal RFC 6455 client);
  ``alphapulse writer`` → PostgreSQL (``--writer``); ``alphapulse trade``, a NautilusTrader trading
  node whose strategy (:mod:`alphapulse.bench._trade_arrivals`) records when each trade reached its
  ``on_trade_tick``; a *strategy probe*: a bare relay consumer that subscribes and decodes as the
  node's data client does, in its own process, to separate NautilusTrader's own time from the pipeline's}.
* **cryptofeed** (the peer, same run, same seeded simulator and rate): cryptofeed 3.0.1 in its own
  Python 3.13 environment (``make peer``) taking the channels our collectors take from the three
  venues (trades, tickers, L2 books) with its ZeroMQ backends → a consumer (pyzmq SUB to the trade
  topics) that renders each trade to the same JSON event and sends it with websockets'
  ``broadcast()`` → the same N clients; and, with the probe, a second ``TradeZMQ`` → the peer's strategy
  probe (a pyzmq SUB in its own process), so exchange → strategy is compared too.

Latency comes from the timestamps the events carry, read against the same wall clock (one
machine): *exchange* = when the simulator wrote the venue's frame (it replaces its tick's event time
with ``time.time_ns()`` just before each write, as a venue's gateway stamps what it sends), at the
venue's precision: Kraken and Coinbase microseconds, Binance milliseconds — so exchange-origin
percentiles use Kraken and Coinbase trades only; *collector* = ``ts_recv_ns`` (cryptofeed:
``receipt_timestamp``); *browser* / *strategy* = when the client / probe process read it;
*trading node* = when the node's strategy ran ``on_trade_tick``. CPU and resident memory of every
process come from psutil over the measured window.

``run(args)`` reads optional attributes of ``args``: ``rates`` (market events/s, default 1,000,
10,000, 100,000 and saturation), ``clients`` (default 10 and 100), ``duration_s`` (measured window per run, default 8),
``warmup_s`` (2), ``repeat`` (1: run each scenario that many times, the systems taking turns, and judge
the medians), ``writer`` (True), ``peer`` (True when the cryptofeed environment exists),
``trading_node`` (True), ``probe`` (True: the strategy probe), ``feed_tap`` (False), ``pin`` (False),
``cpu_latency_us`` (None: hold the kernel's CPU latency limit at that many µs for the whole run,
:mod:`alphapulse.bench._cpu_latency`), ``keep_awake`` (False: keep idle CPUs from halting for the whole run,
:mod:`alphapulse.keepawake`), ``cpu_hog`` (False: a CPU-bound neighbour on every CPU the pipeline uses),
``time_slice_us`` (None: the pipeline processes' time slice, :mod:`alphapulse.timeslice`), ``plot_dir`` (write one
PNG per scenario there). The machine's one-hop floor
and the cost of one collector message hot and after 1 ms asleep (:mod:`alphapulse.bench.floor`) are measured first
and reported with it.
"""

import argparse
import asyncio
import contextlib
import importlib
import multiprocessing as mp
import os
import select
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import orjson
import psutil
import uvloop

from alphapulse.bench import floor
from alphapulse.bench._cpu_latency import cpu_latency_limit, idle_states
from alphapulse.bench._peer_env import CRYPTOFEED_PYTHON
from alphapulse.bench._wsclient import masked_text, pong, take_frames, upgrade_request
from alphapulse.bench.sched_trace import SchedTrace, check_available
from alphapulse.bench.stats import latency_summary
from alphapulse.keepawake import keep_awake
from alphapulse.protocol import Control, ControlOp, FrameType, cells_of, symbol_id, type_mask
from alphapulse.protocol.wire import CELL, CELL_BYTES, TradeFlag
from alphapulse.timeslice import MAX_SLICE_US, MIN_SLICE_US, set_time_slice, time_slice_us
from alphapulse.tokens import issue_token
from alphapulse.transport import RelayClient

__all__ = (
    "SATURATION",
    "add_arguments",
    "hog_cpus",
    "hop_samples",
    "median_result",
    "plot_name",
    "repeated_verdict",
    "run",
    "trade_key",
    "verdict",
)

REPO = Path(__file__).resolve().parents[3]
PEER_SCRIPT = Path(__file__).with_name("_cryptofeed_e2e_peer.py")
SYMBOLS = {
    "kraken": ["BTC-USD", "ETH-USD", "SOL-USD"],
    "coinbase": ["BTC-USD", "ETH-USD", "SOL-USD"],
    "binance": ["BTC-USDT", "ETH-USDT", "SOL-USDT"],
}
# venues whose exchange timestamps have microsecond resolution (Binance's are milliseconds)
FINE_CLOCK = frozenset({"kraken", "coinbase"})
# ``--rate max``: more than the simulator can generate, so it runs flat out (its batch cap per tick)
SATURATION = 10_000_000.0
# issue 9's targets (ns) per number of clients; exchange → strategy does not depend on the clients, and
# is judged both at the probe (a bare relay consumer) and at the strategy inside the NautilusTrader node
_TO_STRATEGY = {
    (hop, q): limit
    for hop in ("exchange_to_strategy", "exchange_to_trading_node")
    for q, limit in (("p50", 150_000), ("p99", 300_000))
}
TARGETS_NS: dict[int, dict[tuple[str, str], int]] = {
    10: {**_TO_STRATEGY, ("exchange_to_browser", "p50"): 300_000, ("exchange_to_browser", "p99"): 500_000},
    100: {**_TO_STRATEGY, ("exchange_to_browser", "p50"): 500_000, ("exchange_to_browser", "p99"): 1_300_000},
}
_TRADE_MASK = type_mask(FrameType.TRADE)
_TRADE_CELL = CELL[FrameType.TRADE]
_T_TRADE = int(FrameType.TRADE)
_F_SNAPSHOT = int(TradeFlag.SNAPSHOT)
_STATE_TYPES = frozenset(int(t) for t in (FrameType.FEED, FrameType.INSTRUMENT, FrameType.STATUS))
OUTSIDE_PROCESSES = frozenset({"sim", "clients", "writer"})
# the services of ours that take --busy-poll, by their process names in the stack
DEDICABLE = ("relay", "bridge", "trade", "collector:kraken", "collector:coinbase", "collector:binance")
_FINE_SYMBOL_IDS = [symbol_id(ex, s) for ex in sorted(FINE_CLOCK) for s in SYMBOLS[ex]]
_QUANTILES = ("p50", "p99", "p999")


def _stack_module() -> Any:
    """``e2e/stack.py`` of this checkout (the harness lives with the end-to-end tests, not in the package)."""
    path = str(REPO / "e2e")
    if path not in sys.path:
        sys.path.insert(0, path)
    return importlib.import_module("stack")


# ---- browsers ---------------------------------------------------------------------------------
#
# The clients are one process running a plain epoll loop over blocking-free sockets (no asyncio:
# nothing in the harness defers a read). Every read is stamped twice: the user-space time right
# after recvmsg returns (what a browser's JavaScript would see, including this process's wake-up
# and its turn among the other clients), and the kernel's receive time of the bytes
# (SO_TIMESTAMPNS; on loopback that is when the server's write reached the socket), which leaves
# the harness's own scheduling out. Frames are split as they arrive (pings are answered); JSON is
# parsed after the window.

SO_TIMESTAMPNS = 35  # Linux's SO_TIMESTAMPNS(_OLD) = SCM_TIMESTAMPNS; the socket module does not export it
_ANC_SPACE = socket.CMSG_SPACE(16)
_TIMESPEC = struct.Struct("qq")
_TRADE_ID_BITS = 40


def trade_key(symbol_id: int, trade_id: int) -> int:
    """One uint64 per trade for matching the same trade across processes (24 bits of the id hash)."""
    return (symbol_id & 0xFFFFFF) << _TRADE_ID_BITS | (trade_id & ((1 << _TRADE_ID_BITS) - 1))


class _WsConn:
    __slots__ = ("buf", "closed", "sock", "subscribed", "welcomed")

    def __init__(self, sock: socket.socket, rest: bytes) -> None:
        self.sock = sock
        self.buf = bytearray(rest)
        self.welcomed = False
        self.subscribed = 0
        self.closed = False

    @property
    def ready(self) -> bool:
        return self.welcomed and self.subscribed >= len(SYMBOLS)


def _open_ws(port: int, i: int, secret: bytes) -> _WsConn:
    """Connect, upgrade, authenticate and subscribe (blocking; then the socket is made non-blocking)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(upgrade_request(f"127.0.0.1:{port}", "/ws"))
    buf = b""
    while (end := buf.find(b"\r\n\r\n")) < 0:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError(f"client {i}: the server closed during the WebSocket handshake")
        buf += chunk
    if b" 101 " not in buf[: buf.find(b"\r\n")]:
        raise RuntimeError(f"client {i}: upgrade refused: {buf[:200]!r}")
    token = issue_token(secret, f"e2e{i}", "viewer", now_s=int(time.time()), ttl_s=3600)
    messages = [orjson.dumps({"op": "auth", "token": token})]
    for exchange, symbols in SYMBOLS.items():
        messages.append(
            orjson.dumps({"op": "subscribe", "exchange": exchange, "symbols": symbols, "channels": ["trades"]})
        )
    sock.sendall(b"".join(masked_text(m) for m in messages))
    sock.setblocking(False)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    return _WsConn(sock, buf[end + 4 :])


def _frames(conn: _WsConn, stamps: tuple[int, int], recording: bool, out: list[tuple[int, int, bytes]]) -> None:
    """Split the complete frames out of ``conn.buf``; data frames are kept with the read's stamps."""
    for opcode, payload in take_frames(conn.buf):
        if opcode == 0x1:
            if not conn.ready:
                conn.welcomed = conn.welcomed or b'"welcome"' in payload
                conn.subscribed += payload.count(b'"subscribed"')
            elif recording:
                out.append((stamps[0], stamps[1], payload))
        elif opcode == 0x8:
            conn.closed = True
        elif opcode == 0x9:
            with contextlib.suppress(OSError):
                conn.sock.send(pong(payload))


def _clients_main(ports: Sequence[int], n: int, secret: bytes, keyed: bool, pipe: Connection) -> None:
    # several bridges (--bridges): client i to the (i mod N)-th, as a load balancer spreads browsers
    conns = [_open_ws(ports[i % len(ports)], i, secret) for i in range(n)]
    by_fd = {c.sock.fileno(): c for c in conns}
    poller = select.epoll()
    for fd in by_fd:
        poller.register(fd, select.EPOLLIN)
    poller.register(pipe.fileno(), select.EPOLLIN)
    got: list[tuple[int, int, bytes]] = []
    recording, ready_sent, stop_at = False, False, 0.0
    ready_by = time.monotonic() + 30
    disconnects = 0
    while True:
        for fd, _ in poller.poll(0.05):
            if fd == pipe.fileno():
                stop_at = time.monotonic() + float(pipe.recv())
                recording = True
                continue
            c = by_fd[fd]
            try:
                data, anc, _, _ = c.sock.recvmsg(1 << 16, _ANC_SPACE)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data, anc = b"", []
            user_ns = time.time_ns()
            if not data:
                poller.unregister(fd)
                disconnects += 1
                continue
            kernel_ns = user_ns
            for level, kind, raw in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = _TIMESPEC.unpack(raw[: _TIMESPEC.size])
                    kernel_ns = sec * 1_000_000_000 + nsec
            c.buf += data
            _frames(c, (kernel_ns, user_ns), recording, got)
        if not ready_sent:
            if all(c.ready for c in conns):
                pipe.send("ready")
                ready_sent = True
            elif time.monotonic() > ready_by:
                raise RuntimeError(f"{sum(not c.ready for c in conns)} of {n} clients not subscribed after 30 s")
        if recording and time.monotonic() >= stop_at:
            break
    disconnects += sum(c.closed for c in conns)
    pipe.send({**_browser_samples(got, keyed), "disconnects": disconnects})
    for c in conns:
        c.sock.close()
    _stay_until_reaped(pipe)


def _browser_samples(got: list[tuple[int, int, bytes]], keyed: bool) -> dict[str, Any]:
    """Per trade event: the collector and exchange stamps it carries, both arrival stamps, its key."""
    ts_ex, ts_recv, kernel, user, fine, keys = [], [], [], [], [], []
    sids: dict[tuple[str, str], int] = {}
    venues: Counter[str] = Counter()
    for kernel_ns, user_ns, payload in got:
        for e in orjson.loads(payload):
            if e.get("type") != "trade" or e.get("snapshot"):
                continue
            ts_ex.append(e["ts_exchange_ns"])
            ts_recv.append(e["ts_recv_ns"])
            kernel.append(kernel_ns)
            user.append(user_ns)
            fine.append(e["exchange"] in FINE_CLOCK)
            venues[e["exchange"]] += 1
            if keyed:
                name = (e["exchange"], e["symbol"])
                sid = sids.get(name)
                if sid is None:
                    sid = sids[name] = symbol_id(*name)
                keys.append(trade_key(sid, int(e["trade_id"])))
    return {
        "events": len(ts_recv),
        "venues": dict(venues),
        "ts_exchange": np.asarray(ts_ex, dtype=np.int64),
        "ts_recv": np.asarray(ts_recv, dtype=np.int64),
        "t_kernel": np.asarray(kernel, dtype=np.int64),
        "t_user": np.asarray(user, dtype=np.int64),
        "fine": np.asarray(fine, dtype=bool),
        "key": np.asarray(keys, dtype=np.uint64),
    }


# ---- relay consumers: the strategy probe and the optional feed tap ----------------------------


class _TradeRecorder:
    """Trade arrival times from aligned cells (``RelayClient``'s callback: called in data_received)."""

    def __init__(self) -> None:
        self.on = False
        self.frames = 0
        self.rows: list[tuple[int, int, int, int, int]] = []  # (arrival, ts_exchange, ts_recv, sid, trade id)

    def on_cells(self, data: bytes) -> None:
        now = time.time_ns()
        off, end = 0, len(data)
        while end - off >= CELL_BYTES:
            ftype = data[off + 1]
            size = cells_of(ftype) * CELL_BYTES
            if ftype == _T_TRADE and self.on:
                _, _, flags, hi, sid, _, lo, tex, trc, _, _ = _TRADE_CELL.unpack_from(data, off)
                if not flags & _F_SNAPSHOT:
                    self.rows.append((now, tex, trc, sid, hi << 32 | lo))
            if self.on and ftype not in _STATE_TYPES:
                self.frames += 1
            off += size

    def samples(self) -> dict[str, Any]:
        return _arrival_samples(self.rows, self.frames)


def _arrival_samples(rows: list[tuple[int, int, int, int, int]], frames: int) -> dict[str, Any]:
    """A strategy probe's trades, (arrival, ts_exchange, ts_recv, symbol id, trade id) each, as arrays."""
    arr = np.asarray(rows, dtype=np.int64).reshape(-1, 5)
    return {
        "frames": frames,
        "t_user": arr[:, 0].copy(),
        "ts_exchange": arr[:, 1].copy(),
        "ts_recv": arr[:, 2].copy(),
        "fine": np.isin(arr[:, 3], _FINE_SYMBOL_IDS),
        "key": _trade_keys(arr[:, 3], arr[:, 4]),
    }


def _trade_keys(symbol_ids: np.ndarray, trade_ids: np.ndarray) -> np.ndarray:
    """:func:`trade_key` over arrays."""
    return ((symbol_ids.astype(np.uint64) & np.uint64(0xFFFFFF)) << np.uint64(_TRADE_ID_BITS)) | (
        trade_ids.astype(np.uint64) & np.uint64((1 << _TRADE_ID_BITS) - 1)
    )


# ---- the trading node: NautilusTrader running a strategy that records each trade's arrival -------


def _trading_node_spec(root: Path) -> tuple[Path, Path]:
    """A strategy file for ``alphapulse trade -f`` (paper venues, no order stream, no audit) whose one
    strategy subscribes to the trades of all nine symbols, as the probe and the browsers do."""
    arrivals = root / "trade-arrivals.bin"
    iids = [f"{s}.{ex.upper()}" for ex, syms in SYMBOLS.items() for s in syms]
    spec = {
        "trader_id": "BENCH-001",
        "orders": {"enabled": False},
        "audit": False,
        "strategies": [
            {
                "path": "alphapulse.bench._trade_arrivals:TradeArrivals",
                "config": {"instrument_ids": iids, "out_path": str(arrivals)},
            }
        ],
    }
    root.mkdir(parents=True, exist_ok=True)
    path = root / "trading-node.yaml"
    path.write_bytes(orjson.dumps(spec, option=orjson.OPT_INDENT_2))  # JSON is YAML
    return path, arrivals


def _trading_node_samples(arrivals: Path, t0: int, t1: int, timeout_s: float = 10.0) -> dict[str, Any]:
    """The strategy's rows whose on_trade_tick ran inside the measured window [t0, t1), once the file holds
    a row from after the window (rows are appended in order, so the window's are all there by then)."""
    # NautilusTrader loads only when the node is in the run
    from alphapulse.bench._trade_arrivals import read_arrivals

    deadline = time.monotonic() + timeout_s
    rows = read_arrivals(arrivals)
    while not (rows["t_strategy"].size and rows["t_strategy"][-1] >= t1) and time.monotonic() < deadline:
        time.sleep(0.05)  # another process appends to the file: nothing to wait on but the file itself
        rows = read_arrivals(arrivals)
    keep = (rows["t_strategy"] >= t0) & (rows["t_strategy"] < t1)
    sids = rows["symbol_id"][keep]
    return {
        "t_user": rows["t_strategy"][keep],
        "ts_exchange": rows["ts_exchange"][keep],
        "ts_node_read": rows["ts_node_read"][keep],
        "fine": np.isin(sids, _FINE_SYMBOL_IDS),
        "key": _trade_keys(sids, rows["trade_id"][keep]),
    }


def _consumer_main(endpoints: list[str], controls: list[Control], name: str, pipe: Connection) -> None:
    uvloop.run(_consumer(endpoints, controls, name, pipe))


async def _consumer(endpoints: list[str], controls: list[Control], name: str, pipe: Connection) -> None:
    loop = asyncio.get_running_loop()
    recorder = _TradeRecorder()
    client = RelayClient(endpoints, recorder.on_cells, controls=controls, name=name)
    task = asyncio.create_task(client.run())
    while not client.connected:
        await asyncio.sleep(0.01)
    pipe.send("ready")
    duration_s = await loop.run_in_executor(None, pipe.recv)
    recorder.on = True
    await asyncio.sleep(duration_s)
    recorder.on = False
    pipe.send(recorder.samples())
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await loop.run_in_executor(None, _stay_until_reaped, pipe)


def _probe_controls() -> list[Control]:
    """What a strategy trading these symbols subscribes to, as the trading node's data client does it:
    RESET (state frames only), then trades per symbol id. The relay filters per consumer."""
    subs = [Control(ControlOp.SUBSCRIBE, symbol_id(ex, s), _TRADE_MASK) for ex, syms in SYMBOLS.items() for s in syms]
    return [Control(ControlOp.RESET), *subs]


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
    for exchange in ("KRAKEN", "COINBASE", "BINANCE"):
        # the trades, as our bridge and probe take them from the relay (PUB filters by topic: books
        # and tickers never reach this process)
        sub.setsockopt(zmq.SUBSCRIBE, f"{exchange}-trades-".encode())
    server = await serve(handler, "127.0.0.1", 0, compression=None)
    pipe.send(next(iter(server.sockets)).getsockname()[1])
    received = 0
    while True:
        msg = await sub.recv()
        received += 1
        if received % 64 == 0:
            # awaiting a message that is already there does not yield: under a flood the loop would never
            # serve the clients' handshakes, pings or the transports' buffered writes
            await asyncio.sleep(0)
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


def _peer_strategy_main(zmq_port: int, pipe: Connection) -> None:
    uvloop.run(_peer_strategy(zmq_port, pipe))


async def _peer_strategy(zmq_port: int, pipe: Connection) -> None:
    """The peer's strategy probe: a ZeroMQ SUB that cryptofeed's second ``TradeZMQ`` publishes to, reading and
    decoding each trade as a strategy would, as our probe does from the relay (same rows, same keys)."""
    import zmq
    import zmq.asyncio

    loop = asyncio.get_running_loop()
    sub = zmq.asyncio.Context().socket(zmq.SUB)
    sub.bind(f"tcp://127.0.0.1:{zmq_port}")
    sub.setsockopt(zmq.SUBSCRIBE, b"")  # only trades are published here
    pipe.send("ready")
    duration_s = await loop.run_in_executor(None, pipe.recv)
    rows: list[tuple[int, int, int, int, int]] = []
    sids: dict[tuple[str, str], int] = {}
    stop_at = time.monotonic() + duration_s
    while (left := stop_at - time.monotonic()) > 0:
        if not await sub.poll(left * 1000):
            continue
        msg = await sub.recv()
        now = time.time_ns()
        t = orjson.loads(msg.partition(b" ")[2])
        name = (t["exchange"].lower(), t["symbol"])
        sid = sids.get(name) or sids.setdefault(name, symbol_id(*name))
        ts_ex = round(t["timestamp"] * 1e9) if t.get("timestamp") else 0
        rows.append((now, ts_ex, round(t["receipt_timestamp"] * 1e9), sid, int(t["id"])))
    pipe.send(_arrival_samples(rows, len(rows)))
    sub.close(linger=0)
    await loop.run_in_executor(None, _stay_until_reaped, pipe)


# ---- measuring --------------------------------------------------------------------------------


class _Usage:
    """CPU seconds and resident memory of named processes over a window; a name may stand for several
    processes (PostgreSQL's backends serving the writer), whose CPU and resident memory are summed."""

    def __init__(self, pids: Mapping[str, int | list[int]], trace: bool = False) -> None:
        self.procs = {
            name: [psutil.Process(p) for p in (pid if isinstance(pid, list) else [pid])] for name, pid in pids.items()
        }
        self.trace = SchedTrace(pids).start() if trace else None
        self.traced: dict[str, Any] | None = None
        self.t0 = time.perf_counter()
        self.stat0 = cpu_time_ticks()
        self.cpu0 = {name: self._cpu(ps) for name, ps in self.procs.items()}
        self.sched0 = {name: sched_counters([p.pid for p in ps]) for name, ps in self.procs.items()}

    @staticmethod
    def _cpu(procs: list[psutil.Process]) -> float:
        total = 0.0
        for p in procs:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def stop(self) -> None:
        """The end of the window (the clients parse what they read afterwards: not counted)."""
        self.wall = time.perf_counter() - self.t0
        self.stat1 = cpu_time_ticks()
        self.cpu = {name: self._cpu(ps) - self.cpu0[name] for name, ps in self.procs.items()}
        self.sched = {name: sched_counters([p.pid for p in ps]) for name, ps in self.procs.items()}
        if self.trace is not None:
            self.traced = self.trace.stop()
        self.rss: dict[str, float] = {}
        for name, ps in self.procs.items():
            for p in ps:
                with contextlib.suppress(psutil.Error):
                    self.rss[name] = self.rss.get(name, 0.0) + p.memory_info().rss / 2**20

    def finish(self, messages: int) -> dict[str, dict[str, Any]]:
        wall = self.wall
        out: dict[str, dict[str, Any]] = {}
        for name in self.procs:
            cpu = self.cpu[name]
            rss = self.rss.get(name, 0.0)
            out[name] = {
                "cpu_pct": round(100 * cpu / wall, 1),
                "cpu_us_per_msg": round(1e6 * cpu / max(1, messages), 2),
                "rss_mib": round(rss, 1),
                "run_queue_wait_us": run_queue_wait_us(self.sched0[name], self.sched[name]),
                "cpu_us_per_wake": cpu_us_per_wake(self.sched0[name], self.sched[name]),
            }
            if self.traced is not None:
                out[name]["sched"] = self.traced["processes"].get(name)
        return out

    def steal_pct(self) -> float | None:
        return steal_pct(self.stat0, self.stat1)

    def trace_summary(self) -> dict[str, int] | None:
        """The trace's own counts (``--sched-trace``): events read and events lost to a full buffer."""
        if self.traced is None:
            return None
        return {"events": self.traced["events"], "lost_events": self.traced["lost_events"]}


class SchedCounters(NamedTuple):
    """What Linux counts per thread of a process, summed over its threads: nanoseconds on a CPU and waiting
    runnable for one, the times it was put on one (``/proc/PID/task/TID/schedstat``), and the times it went to
    sleep of its own accord (``voluntary_ctxt_switches`` in its ``status``: each one ends in a wake-up)."""

    on_cpu_ns: int
    waited_ns: int
    slices: int
    sleeps: int


def sched_counters(pids: Sequence[int]) -> SchedCounters | None:
    """The :class:`SchedCounters` of ``pids``, summed; None where the kernel does not keep them."""
    on_cpu = waited = slices = sleeps = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            with contextlib.suppress(OSError, ValueError):
                ran_ns, wait_ns, n = (int(x) for x in (task / "schedstat").read_text().split())
                status = (task / "status").read_text()
                voluntary = int(status.partition("voluntary_ctxt_switches:")[2].split()[0])
                on_cpu, waited, slices, sleeps = on_cpu + ran_ns, waited + wait_ns, slices + n, sleeps + voluntary
    return SchedCounters(on_cpu, waited, slices, sleeps) if slices else None


def cpu_time_ticks(stat: str | None = None) -> tuple[int, int] | None:
    """(the CPUs' time, the part of it stolen) since boot, in clock ticks summed over CPUs, from the
    first line of ``/proc/stat`` (or ``stat``, its text); None where it cannot be read."""
    try:
        text = Path("/proc/stat").read_text() if stat is None else stat
        name, *values = text.split("\n", 1)[0].split()
        # user nice system idle iowait irq softirq steal (guest time is already inside user and nice)
        ticks = [int(v) for v in values[:8]]
    except (OSError, ValueError):
        return None
    if name != "cpu" or len(ticks) < 8:
        return None
    return sum(ticks), ticks[7]


def steal_pct(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """The share of the CPUs' time over the window that the hypervisor gave to something else while a vCPU
    had work (``steal``): the host's own noise, which stretches whichever hop it falls on in both systems
    alike (a vCPU taken away for milliseconds gives milliseconds-long tails); 0 on bare metal. A halted
    vCPU waiting for the host to wake it is not counted: that is the woken hop (``bench floor``)."""
    if before is None or after is None or after[0] <= before[0]:
        return None
    return round(100 * (after[1] - before[1]) / (after[0] - before[0]), 2)


def run_queue_wait_us(before: SchedCounters | None, after: SchedCounters | None) -> float | None:
    """The mean time a process's thread waited, runnable, before it got a CPU, per time it got one
    over the window: on a machine with fewer CPUs than woken stages, the share of each hop that is
    queueing for a CPU rather than the wake-up or the work."""
    if before is None or after is None or after.slices <= before.slices:
        return None
    return round((after.waited_ns - before.waited_ns) / (after.slices - before.slices) / 1e3, 1)


def cpu_us_per_wake(before: SchedCounters | None, after: SchedCounters | None) -> float | None:
    """The CPU time a process used per wake-up over the window (its CPU time over the times it went to sleep):
    what each woken stage costs, its caches cold, against the same work hot in a loop (``bench collector``,
    ``bench relay``) — on the 2-vCPU VMs the larger part of a hop (docs/performance.md)."""
    if before is None or after is None or after.sleeps <= before.sleeps:
        return None
    return round((after.on_cpu_ns - before.on_cpu_ns) / (after.sleeps - before.sleeps) / 1e3, 1)


def pin_layout(
    names: list[str], cpus: list[int], *, pin: bool = True, dedicated: Sequence[str] = ()
) -> dict[str, list[int]]:
    """``--pin``: the simulator and the browsers stand for the outside world (other machines), the
    writer for a process that belongs on another node: they share the first CPU; the pipeline (ours or
    the peer's) gets the others to itself, as on a node whose cores are reserved for it.

    ``--dedicate``: each of ``dedicated`` gets a CPU of its own, from the last one down, as the kubelet's
    static CPU manager gives a Guaranteed pod with whole CPUs; everything else shares the CPUs left
    (split as above with ``pin``)."""
    rest = list(cpus)
    own: dict[str, list[int]] = {}
    for name in dedicated:
        if len(rest) < 2:
            raise SystemExit(
                f"--dedicate {' '.join(dedicated)}: a CPU each and one for everything else need "
                f"{len(dedicated) + 1} CPUs; this process may use {cpus}"
            )
        own[name] = [rest.pop()]
    if not pin:
        return {name: own.get(name, rest) for name in names}
    if len(rest) < 2:
        besides = " besides the dedicated ones" if dedicated else ""
        raise SystemExit(f"--pin needs at least two CPUs{besides}; this process may use {cpus}")
    outside, pipeline = rest[:1], rest[1:]
    return {name: own.get(name) or (outside if name in OUTSIDE_PROCESSES else pipeline) for name in names}


def hog_cpus(cpus: list[int], pin: bool) -> list[int]:
    """``--cpu-hog``: the CPUs the pipeline runs on, where a busy neighbour would compete with it (with ``--pin``
    the outside world has the first to itself)."""
    return pin_layout(["pipeline"], cpus)["pipeline"] if pin else cpus


def _pin(pids: dict[str, int], pin: bool, dedicated: Sequence[str] = ()) -> dict[str, list[int]]:
    if not pin and not dedicated:
        return {}
    layout = pin_layout(list(pids), sorted(os.sched_getaffinity(0)), pin=pin, dedicated=dedicated)
    for name, pid in pids.items():
        # every thread: affinity is per thread, and services start theirs (metrics, NautilusTrader) early
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(ProcessLookupError):
                os.sched_setaffinity(int(task.name), layout[name])
    return layout


def _shorten_slices(pids: dict[str, int], slice_us: int | None) -> None:
    """``--time-slice-us``: every thread of every pipeline process, ours and the peer's alike (not the
    outside world: the simulator, the browsers, the writer), asks for that slice, as the services'
    ``--time-slice-us`` does for their loop's thread."""
    if slice_us is None:
        return
    for name, pid in pids.items():
        if name in OUTSIDE_PROCESSES:
            continue
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
                set_time_slice(slice_us, int(task.name))


def _start(ctx: Any, target: Any, *args: Any) -> tuple[Any, Connection]:
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=target, args=(*args, child), daemon=True)
    proc.start()
    return proc, parent


def _stay_until_reaped(pipe: Connection) -> None:
    """A helper that has sent its samples stays alive until the run kills it: the run reads every process's
    memory and CPU after the window, and a helper whose own clock ended the window a moment earlier would
    otherwise have exited by then, and count as using no memory."""
    with contextlib.suppress(EOFError, OSError):
        pipe.poll(None)  # returns on the run's exit (end of file) too


def _recv(pipe: Connection, timeout_s: float, what: str) -> Any:
    if not pipe.poll(timeout_s):
        raise RuntimeError(f"{what} did not answer in {timeout_s} s")
    return pipe.recv()


def _metric_samples(url: str) -> Iterator[tuple[str, float]]:
    """(name, value) of every sample a service's /metrics serves."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
        text = r.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            yield sample.name, sample.value


def _bridge_clients(url: str) -> int:
    """The clients a bridge has authenticated (its /metrics), to show where the browsers went."""
    for name, value in _metric_samples(url):
        if name == "alphapulse_bridge_clients":
            return int(value)
    raise RuntimeError(f"{url}/metrics has no alphapulse_bridge_clients")


def _relay_counters(url: str) -> dict[str, float]:
    """Cells the relay took in from every feed, and cells it dropped for slow consumers (its /metrics)."""
    out = {"frames_in": 0.0, "dropped": 0.0}
    for name, value in _metric_samples(url):
        if name == "alphapulse_relay_frames_in_total":
            out["frames_in"] += value
        elif name == "alphapulse_relay_dropped_frames_total":
            out["dropped"] += value
    return out


def _matched(ref_keys: np.ndarray, ref_t: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``keys``: the reference's time for the same trade, and whether it was found."""
    if ref_keys.size == 0 or keys.size == 0:
        return np.zeros(keys.size, dtype=np.int64), np.zeros(keys.size, dtype=bool)
    order = np.argsort(ref_keys, kind="stable")
    sorted_keys, sorted_t = ref_keys[order], ref_t[order]
    idx = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
    return sorted_t[idx], sorted_keys[idx] == keys


def hop_samples(
    browsers: dict[str, Any],
    probe: dict[str, Any] | None = None,
    tap: dict[str, Any] | None = None,
    node: dict[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """Every hop's latencies (ns) from the stamps the trades carry and where each process read them.

    Exchange-origin hops use the venues with microsecond exchange clocks only. Hops between two
    readers (feed tap → probe, probe → browser, probe → trading node) match the same trade in both by
    (symbol, trade id).
    """
    b = browsers
    fine = b["fine"]
    hops = {
        "exchange_to_collector": (b["ts_recv"] - b["ts_exchange"])[fine],
        "exchange_to_browser": (b["t_user"] - b["ts_exchange"])[fine],
        "exchange_to_browser_socket": (b["t_kernel"] - b["ts_exchange"])[fine],
        "collector_to_browser": b["t_user"] - b["ts_recv"],
    }
    if probe is not None:
        hops["exchange_to_strategy"] = (probe["t_user"] - probe["ts_exchange"])[probe["fine"]]
        hops["collector_to_strategy"] = probe["t_user"] - probe["ts_recv"]
        t_probe, found = _matched(probe["key"], probe["t_user"], b["key"])
        hops["strategy_to_browser"] = (b["t_user"] - t_probe)[found]  # the bridge's hop beside a direct consumer
    if tap is not None:
        hops["collector_to_feed_tap"] = tap["t_user"] - tap["ts_recv"]
        if probe is not None:
            t_tap, found = _matched(tap["key"], tap["t_user"], probe["key"])
            hops["feed_tap_to_strategy"] = (probe["t_user"] - t_tap)[found]  # the relay's hop
    if node is not None:
        hops["exchange_to_trading_node"] = (node["t_user"] - node["ts_exchange"])[node["fine"]]
        # NautilusTrader's part: from its data client's read of the relay to the strategy's on_trade_tick
        hops["trading_node_read_to_strategy"] = node["t_user"] - node["ts_node_read"]
        if probe is not None:
            t_recv, found = _matched(probe["key"], probe["ts_recv"], node["key"])
            hops["collector_to_trading_node"] = (node["t_user"] - t_recv)[found]
            t_probe, found = _matched(probe["key"], probe["t_user"], node["key"])
            hops["strategy_probe_to_trading_node"] = (node["t_user"] - t_probe)[found]
    return hops


def _summaries(samples: dict[str, np.ndarray]) -> dict[str, Any]:
    return {k: latency_summary(v) for k, v in samples.items()}


def _label(rate: float) -> str:
    return "saturation" if rate >= SATURATION else f"{rate:g} events/s"


def _alphapulse(rate: float, n: int, opts: argparse.Namespace, root: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    stack_mod = _stack_module()
    ctx = mp.get_context("spawn")
    trade, arrivals = _trading_node_spec(root / "trading-node") if opts.trading_node else (None, None)
    options = stack_mod.StackOptions(
        rate=rate,
        writer=opts.writer,
        bridges=opts.bridges,
        trade=trade,
        busy_poll=opts.dedicate if opts.busy_poll else (),
    )
    stack = stack_mod.Stack(options, root=root).start()
    helpers: list[Any] = []
    try:
        secret = stack_mod.BRIDGE_SECRET.encode()
        bridges = stack.bridge_names()
        clients, cl = _start(ctx, _clients_main, [stack.procs[b].port for b in bridges], n, secret, True)
        helpers.append(clients)
        pipes = {"clients": cl}
        pids = {"clients": clients.pid}
        if opts.probe:
            relay = [str(stack.sock_dir / "relay.sock")]
            probe, pr = _start(ctx, _consumer_main, relay, _probe_controls(), "strategy-probe")
            helpers.append(probe)
            pipes["probe"] = pr
            pids["strategy-probe"] = probe.pid
        if opts.feed_tap:
            feeds = [str(p) for p in sorted((stack.sock_dir / "feeds").glob("*.sock"))]
            tap, tp = _start(ctx, _consumer_main, feeds, [], "feed-tap")
            helpers.append(tap)
            pipes["tap"] = tp
            pids["feed-tap"] = tap.pid
        for name, pipe in pipes.items():
            _recv(pipe, 60, name)
        clients_per_bridge = {b: _bridge_clients(stack.http(b)) for b in bridges}
        pids |= {name: p.pid for name, p in stack.procs.items()}
        layout = _pin(pids, opts.pin, opts.dedicate)
        _shorten_slices(pids, opts.time_slice_us)
        time.sleep(opts.warmup_s)
        usage_pids: dict[str, int | list[int]] = {**pids}
        if opts.writer:
            # the database's share of the work: the server processes serving the writer's connections
            usage_pids["postgres"] = stack.database_backends()
        relay_url = stack.http("relay")
        before = _relay_counters(relay_url)
        usage = _Usage(usage_pids, opts.sched_trace)
        t0 = time.time_ns()
        for pipe in pipes.values():
            pipe.send(opts.duration_s)
        time.sleep(opts.duration_s)
        t1 = time.time_ns()
        usage.stop()
        after = _relay_counters(relay_url)
        got = {name: _recv(pipe, opts.duration_s + 300, name) for name, pipe in pipes.items()}
        node = None
        if arrivals is not None:
            node = _trading_node_samples(arrivals, t0, t1)
    finally:
        for p in helpers:
            p.kill()
            p.join(5)
        stack.stop()
    frames = after["frames_in"] - before["frames_in"]
    browsers, strategy = got["clients"], got.get("probe")
    samples = hop_samples(browsers, strategy, got.get("tap"), node)
    return {
        "system": "alphapulse",
        "scenario": f"{_label(rate)}, {n} clients",
        "rate_events_per_s": rate,
        "clients": n,
        "relay_frames_per_s": round(frames / opts.duration_s),
        "relay_dropped_frames": int(after["dropped"] - before["dropped"]),
        "trades_to_strategy_per_s": None if strategy is None else round(len(strategy["t_user"]) / opts.duration_s),
        "trades_to_trading_node_per_s": None if node is None else round(node["t_user"].size / opts.duration_s),
        "trades_to_browsers_per_s": round(browsers["events"] / opts.duration_s),
        "trades_to_browsers_by_venue": browsers["venues"],
        "browser_disconnects": browsers["disconnects"],
        "clients_per_bridge": clients_per_bridge,
        "throughput_per_s": round(frames / opts.duration_s),
        "latency_ns": latency_summary(samples["exchange_to_browser"]),
        "hops": _summaries(samples),
        "processes": usage.finish(int(frames)),
        "steal_pct": usage.steal_pct(),
        "sched_trace": usage.trace_summary(),
        "cpus": layout,
        "busy_polling": list(options.busy_poll),
    }, samples


def _cryptofeed(
    rate: float, n: int, opts: argparse.Namespace, root: Path, batch_max: int | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    stack_mod = _stack_module()
    ctx = mp.get_context("spawn")
    probe = bool(getattr(opts, "probe", True))  # the peer's strategy probe, as ours has one
    options = stack_mod.StackOptions(rate=rate, writer=False, bridge=False, collectors=False)
    stack = stack_mod.Stack(options, root=root).start()
    helpers: list[Any] = []
    feed: subprocess.Popen[bytes] | None = None
    try:
        zmq_port = stack_mod.free_port()
        consumer, co = _start(ctx, _peer_consumer_main, zmq_port)
        helpers.append(consumer)
        ws_port = _recv(co, 60, "peer consumer")
        # the clients subscribe before any data flows (as ours do: the bridge is up before they connect)
        clients, cl = _start(ctx, _clients_main, [ws_port], n, b"unused-by-the-peer-0123456789abcdef", probe)
        helpers.append(clients)
        _recv(cl, 60, "clients")
        pipes = {"clients": cl}
        pids = {"sim": stack.procs["sim"].pid, "consumer": consumer.pid, "clients": clients.pid}
        urls = [stack.sim_endpoints[v]["url"] for v in ("kraken", "coinbase", "binance")]
        urls.append(stack.sim_endpoints["binance"]["rest_url"])
        argv = [str(CRYPTOFEED_PYTHON), str(PEER_SCRIPT), str(zmq_port), *urls]
        argv += ["--batch-max", str(batch_max)] if batch_max else []
        if probe:
            strategy_port = stack_mod.free_port()
            strategy, st = _start(ctx, _peer_strategy_main, strategy_port)
            helpers.append(strategy)
            _recv(st, 60, "peer strategy probe")
            pipes["probe"] = st
            pids["strategy-probe"] = strategy.pid
            argv += ["--strategy-port", str(strategy_port)]
        with (root / "cryptofeed.log").open("wb") as log:  # the child keeps its own descriptor
            feed = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        pids["cryptofeed"] = feed.pid
        layout = _pin(pids, opts.pin)
        _shorten_slices(pids, getattr(opts, "time_slice_us", None))
        time.sleep(opts.warmup_s + 2)  # cryptofeed connects and subscribes after its own start-up
        usage = _Usage(pids, getattr(opts, "sched_trace", False))
        for pipe in pipes.values():
            pipe.send(opts.duration_s)
        time.sleep(opts.duration_s)
        usage.stop()
        got = {name: _recv(pipe, opts.duration_s + 300, name) for name, pipe in pipes.items()}
        browsers, strategy = got["clients"], got.get("probe")
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
    samples = hop_samples(browsers, strategy)
    return {
        "system": "cryptofeed" if batch_max is None else f"cryptofeed batch_max={batch_max}",
        "scenario": f"{_label(rate)}, {n} clients",
        "rate_events_per_s": rate,
        "clients": n,
        "trades_to_strategy_per_s": None if strategy is None else round(len(strategy["t_user"]) / opts.duration_s),
        "trades_to_browsers_per_s": round(browsers["events"] / opts.duration_s),
        "trades_to_browsers_by_venue": browsers["venues"],
        "browser_disconnects": browsers["disconnects"],
        "throughput_per_s": round(per_client / opts.duration_s),
        "latency_ns": latency_summary(samples["exchange_to_browser"]),
        "hops": _summaries(samples),
        "processes": processes,
        "steal_pct": usage.steal_pct(),
        "sched_trace": usage.trace_summary(),
        "cpus": layout,
    }, samples


def _plot(path: Path, title: str, series: dict[str, np.ndarray]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
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
    # below the axes: every corner of a CDF plot holds some curve, and "best" would scan every point (millions)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_name(rate: float, clients: int) -> str:
    return f"e2e-latency-{'saturation' if rate >= SATURATION else int(rate)}-{clients}c.png"


def verdict(ours: dict[str, Any], peers: list[dict[str, Any]]) -> dict[str, Any]:
    """Issue 9's targets and "better than the peer on every percentile", for one scenario: exchange → browser
    (``vs_peers``) and, where both pipelines ran a strategy probe, exchange → strategy (``vs_peers_strategy``)."""
    out: dict[str, Any] = {"scenario": ours["scenario"]}
    hops = ours["hops"]
    targets = TARGETS_NS.get(ours["clients"], {})
    if ours["rate_events_per_s"] < SATURATION:
        out["targets"] = {
            f"{hop} {q}": {"measured_ns": hops[hop][q], "target_ns": limit, "met": bool(hops[hop][q] <= limit)}
            for (hop, q), limit in targets.items()
            if hop in hops
        }
    if peers and ours["rate_events_per_s"] >= SATURATION:
        # flat out, latency is the length of each system's backlog: compare what reached the browsers
        mine_tp = ours["trades_to_browsers_per_s"]
        out["vs_peers"] = {
            "trades_to_browsers_per_s": {
                "alphapulse": mine_tp,
                **{p["system"]: p["trades_to_browsers_per_s"] for p in peers},
                "better": bool(all(mine_tp > p["trades_to_browsers_per_s"] for p in peers)),
            }
        }
    elif peers:
        out["vs_peers"] = _compare("exchange_to_browser", ours, peers)
        if all("exchange_to_strategy" in r["hops"] for r in (ours, *peers)):
            out["vs_peers_strategy"] = _compare("exchange_to_strategy", ours, peers)
    return out


def _compare(hop: str, ours: dict[str, Any], peers: list[dict[str, Any]]) -> dict[str, Any]:
    mine = ours["hops"][hop]
    return {
        q: {
            "alphapulse_ns": mine[q],
            **{f"{p['system']}_ns": p["hops"][hop][q] for p in peers},
            "better": bool(all(mine[q] < p["hops"][hop][q] for p in peers)),
        }
        for q in _QUANTILES
    }


def median_result(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One system's repeated runs of a scenario as one result: each hop's percentiles are the median of
    the runs' (runs where the hop had no samples left out), its sample counts summed; trades delivered to
    the browsers per second, the median."""
    first = runs[0]
    hops: dict[str, dict[str, float]] = {}
    for hop in first["hops"]:
        per = [r["hops"][hop] for r in runs if hop in r["hops"]]
        summary: dict[str, float] = {}
        for q in _QUANTILES:
            values = np.array([h[q] for h in per], dtype=np.float64)
            summary[q] = float("nan") if np.isnan(values).all() else round(float(np.nanmedian(values)))
        summary["count"] = sum(int(h["count"]) for h in per)
        hops[hop] = summary
    keep = ("system", "scenario", "rate_events_per_s", "clients")
    return {
        **{k: first[k] for k in keep},
        "runs": len(runs),
        "trades_to_browsers_per_s": round(float(np.median([r["trades_to_browsers_per_s"] for r in runs]))),
        "hops": hops,
    }


def repeated_verdict(runs: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> dict[str, Any]:
    """The verdict of one scenario run several times, each run (ours, then the peers) in turn: targets and
    the comparison are judged on the median of each percentile across the runs (:func:`median_result`), and
    every comparison also says in how many runs ours was better (``runs_better``). One run: its own verdict."""
    if len(runs) == 1:
        return verdict(*runs[0])
    each = [verdict(ours, peers) for ours, peers in runs]
    medians = [median_result([peers[i] for _, peers in runs]) for i in range(len(runs[0][1]))]
    out = verdict(median_result([ours for ours, _ in runs]), medians)
    out["runs"] = len(runs)
    for section in ("vs_peers", "vs_peers_strategy"):
        for key, comparison in out.get(section, {}).items():
            comparison["runs_better"] = sum(bool(v[section][key]["better"]) for v in each if section in v)
    return out


def verdict_notes(verdicts: list[dict[str, Any]]) -> list[str]:
    """The verdicts in words, one line per scenario, for the table ``bench e2e`` prints without --json."""
    names = {"p50": "p50", "p99": "p99", "p999": "p99.9"}
    notes = []
    for v in verdicts:
        parts = []
        for section, hop in (("vs_peers", "exchange → browser"), ("vs_peers_strategy", "exchange → strategy")):
            comparison = v.get(section)
            if not comparison:
                continue
            if "trades_to_browsers_per_s" in comparison:
                better = comparison["trades_to_browsers_per_s"]["better"]
                parts.append(f"trades to browsers per second {'above' if better else 'not above'} every peer's")
                continue
            won = [names[q] for q, c in comparison.items() if c["better"]]
            lost = [names[q] for q, c in comparison.items() if not c["better"]]
            text = f"{hop} better than every peer at {', '.join(won) or 'no percentile'}"
            text += f", not at {', '.join(lost)}" if lost else ""
            if "runs" in v:
                runs = " / ".join(str(c["runs_better"]) for c in comparison.values())
                text += f" (medians of {v['runs']} runs; runs won {runs})"
            parts.append(text)
        targets = v.get("targets") or {}
        if targets:
            parts.append(f"targets met: {sum(t['met'] for t in targets.values())} of {len(targets)}")
        notes.append(f"{v['scenario']}: " + ("; ".join(parts) or "no peer in the run"))
    return notes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rate",
        type=_rate,
        action="append",
        dest="rates",
        help="market events/s, repeatable; 'max' = saturation (the simulator flat out). "
        "Default: 1000, 10000, 100000 and max",
    )
    parser.add_argument(
        "--clients", type=int, action="append", help="WebSocket clients, repeatable (default: 10 and 100)"
    )
    parser.add_argument("--duration-s", type=float, default=8.0, help="measured seconds per run (default 8)")
    parser.add_argument("--warmup-s", type=float, default=2.0, help="seconds before measuring (default 2)")
    parser.add_argument(
        "--repeat",
        type=_positive,
        default=1,
        metavar="N",
        help="run each scenario N times, the systems taking turns (ours, then each peer variant, N times over); "
        "verdicts on the median of each percentile across the runs, with how many runs ours won (default 1)",
    )
    parser.add_argument("--no-writer", dest="writer", action="store_false", help="leave the database writer out")
    parser.add_argument("--no-peer", dest="peer", action="store_false", help="leave the cryptofeed pipeline out")
    parser.add_argument(
        "--no-trading-node",
        dest="trading_node",
        action="store_false",
        help="leave the NautilusTrader trading node out (the strategy probe, a bare relay consumer, stays)",
    )
    parser.add_argument(
        "--no-probe",
        dest="probe",
        action="store_false",
        help="leave the strategy probes out, ours and the peer's: each pipeline then feeds its browsers alone (ours "
        "with --no-writer --no-trading-node); exchange → strategy is not measured",
    )
    parser.add_argument(
        "--feed-tap",
        action="store_true",
        help="also read the collectors' feed sockets directly, splitting collector → relay consumer into "
        "collector → feed socket and the relay's hop (one more process and reader: it perturbs a little)",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="pin processes, ours and the peer's alike: the simulator, the browsers and the writer on the first "
        "CPU (the outside world), the pipeline on the others (a node with cores reserved for it)",
    )
    parser.add_argument(
        "--dedicate",
        action="append",
        default=None,
        choices=DEDICABLE,
        metavar="PROCESS",
        help="give one of our processes a CPU of its own (repeatable; from the last CPU down), everything else "
        f"sharing the rest, as on a node with the static CPU manager: {', '.join(DEDICABLE)}. Ours only: the "
        "peer runs as --pin says",
    )
    parser.add_argument(
        "--busy-poll",
        action="store_true",
        help="the --dedicate processes busy-poll on their CPUs (the services' --busy-poll) instead of sleeping",
    )
    parser.add_argument(
        "--cpu-latency-us",
        type=int,
        default=None,
        metavar="US",
        help="hold the kernel's CPU latency limit (/dev/cpu_dma_latency, root) at US µs for the whole run, both "
        "systems alike: 0 keeps idle CPUs polling instead of halting, as a latency-tuned node does",
    )
    parser.add_argument(
        "--keep-awake",
        action="store_true",
        help="keep idle CPUs from halting for the whole run, both systems alike, with a SCHED_IDLE spinner per CPU "
        "(alphapulse keep-awake: no root needed, and it works where the kernel has no cpuidle driver)",
    )
    parser.add_argument(
        "--cpu-hog",
        action="store_true",
        help="a CPU-bound process at normal priority on every CPU the pipeline runs on (with --pin, all but the "
        "first) for the whole run, both systems alike: a node whose cores are shared with busy work (backtests, "
        "other pods)",
    )
    parser.add_argument(
        "--time-slice-us",
        type=int,
        default=None,
        metavar="US",
        help="every pipeline process, ours and the peer's alike (not the simulator, browsers or writer), asks the "
        "scheduler for a US µs time slice (the services' --time-slice-us; Linux 6.12+, no root), so a woken stage "
        "preempts the longer-sliced work around it",
    )
    parser.add_argument(
        "--bridges",
        type=_positive,
        default=1,
        metavar="N",
        help="run N bridge processes, the clients spread over them as a load balancer would (the chart's "
        "bridge.replicas); ours only, so it needs --no-peer: the peer's pipeline has one consumer (default 1)",
    )
    parser.add_argument(
        "--sched-trace",
        action="store_true",
        help="record the scheduler's wake-ups and switches of every process in each measured window, ours and the "
        "peer's (the kernel's tracefs; root): per process, wake-up to running p50/p90/p99, how often it ran on its "
        "waker's CPU, how long it stayed on a CPU until it slept, and who woke it (processes.<name>.sched)",
    )
    parser.add_argument("--plot-dir", type=Path, default=None, help="write a latency CDF PNG per scenario here")


def _positive(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


def _rate(text: str) -> float:
    if text.strip().lower() in {"max", "saturation"}:
        return SATURATION
    return float(text)


# The CPU latency limit is read by cpuidle's governor; with no cpuidle driver the kernel halts an idle CPU
# whatever the limit (measured: the woken hop unchanged on such a VM, docs/performance.md)
LIMIT_UNHEEDED = (
    "this kernel has no cpuidle driver, so idle CPUs halt whatever the CPU latency limit says: "
    "--cpu-latency-us changes nothing here (--keep-awake does the same job without one)"
)

PEER_MISSING = (
    "the peer pipeline is left out: no cryptofeed environment at {python} (`make peer` builds it; "
    "ALPHAPULSE_CRYPTOFEED_PYTHON points elsewhere; --no-peer says you meant it)"
)


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    clients = getattr(args, "clients", None) or [10, 100]
    opts = argparse.Namespace(
        rates=list(getattr(args, "rates", None) or [1000.0, 10000.0, 100000.0, SATURATION]),
        clients=[clients] if isinstance(clients, int) else list(clients),
        duration_s=float(getattr(args, "duration_s", None) or 8.0),
        warmup_s=float(getattr(args, "warmup_s", None) or 2.0),
        repeat=int(getattr(args, "repeat", None) or 1),
        writer=bool(getattr(args, "writer", True)),
        peer=bool(getattr(args, "peer", True)),
        feed_tap=bool(getattr(args, "feed_tap", False)),
        trading_node=bool(getattr(args, "trading_node", True)),
        probe=bool(getattr(args, "probe", True)),
        pin=bool(getattr(args, "pin", False)),
        dedicate=tuple(getattr(args, "dedicate", None) or ()),
        busy_poll=bool(getattr(args, "busy_poll", False)),
        cpu_latency_us=getattr(args, "cpu_latency_us", None),
        keep_awake=bool(getattr(args, "keep_awake", False)),
        time_slice_us=getattr(args, "time_slice_us", None),
        cpu_hog=bool(getattr(args, "cpu_hog", False)),
        bridges=int(getattr(args, "bridges", None) or 1),
        plot_dir=getattr(args, "plot_dir", None),
        sched_trace=bool(getattr(args, "sched_trace", False)),
    )
    if opts.busy_poll and not opts.dedicate:
        raise SystemExit("--busy-poll needs --dedicate: a process spinning on a shared CPU takes it from the rest")
    if opts.cpu_hog and opts.dedicate:
        raise SystemExit("--cpu-hog with --dedicate: a dedicated CPU has no neighbours; use --pin alone")
    if opts.bridges > 1 and bool(getattr(args, "peer", True)):
        raise SystemExit(
            "--bridges needs --no-peer: the peer's pipeline has one consumer, so the comparison would not be "
            "like for like"
        )
    if opts.time_slice_us is not None:
        _check_time_slice(opts.time_slice_us)
    if opts.sched_trace:
        check_available()  # a ConfigError saying what is missing, before anything starts
    notes = []
    if opts.peer and not CRYPTOFEED_PYTHON.exists():
        opts.peer = False
        notes.append(PEER_MISSING.format(python=CRYPTOFEED_PYTHON))
        _progress(notes[-1])
    cpuidle = idle_states()
    unheeded = opts.cpu_latency_us is not None and cpuidle.get("driver", "none") == "none"
    if unheeded:
        notes.append(LIMIT_UNHEEDED)
        _progress(LIMIT_UNHEEDED)
    with cpu_latency_limit(opts.cpu_latency_us):
        # the floor first, on the machine as it is before any stack starts (it measures keep-awake's hop itself)
        _progress("measuring this machine's one-hop floor and a message's cost after an idle millisecond")
        machine = {"hop_floor_ns": floor.measure(), "cold_work_ns": floor.cold_work()}
        hogs = hog_cpus(sorted(os.sched_getaffinity(0)), opts.pin) if opts.cpu_hog else []
        with keep_awake(opts.keep_awake), keep_awake(bool(hogs), hogs, sched_idle=False):
            report = _run(opts, machine)
    report["machine"] |= {
        "cpu_latency_us": opts.cpu_latency_us,
        "keep_awake": opts.keep_awake,
        "cpu_hog": hogs,
        "time_slice_us": opts.time_slice_us,
        "cpuidle": cpuidle,
    }
    report["notes"] = [*report.get("notes", []), *notes]
    return report


def _check_time_slice(us: int) -> None:
    """Refuse ``--time-slice-us`` before anything runs where the kernel would refuse it for every process."""
    if not MIN_SLICE_US <= us <= MAX_SLICE_US:
        raise SystemExit(f"--time-slice-us {us}: the kernel takes {MIN_SLICE_US}-{MAX_SLICE_US} µs")
    if time_slice_us() == 0:  # before 6.12 the kernel reports no slice for a fair-scheduled thread
        raise SystemExit(f"--time-slice-us needs Linux 6.12 or later (this kernel: {os.uname().release})")


def _progress(text: str) -> None:
    """One line per step on stderr: a default run takes ~10 minutes, and stdout is the report."""
    print(f"bench e2e: {text}", file=sys.stderr, flush=True)


def _outcome(result: dict[str, Any]) -> str:
    def ms(hop: str) -> str:
        h = result["hops"].get(hop)
        if not h or h["p50"] is None or np.isnan(h["p50"]):
            return "-"
        return " / ".join(f"{h[q] / 1e6:.2f}" for q in _QUANTILES)

    strategy = (
        f", exchange → strategy {ms('exchange_to_strategy')} ms" if "exchange_to_strategy" in result["hops"] else ""
    )
    steal = result.get("steal_pct")
    host = "" if steal is None else f" (the host took {steal:g} % of the CPUs' time)"
    return f"exchange → browser p50 / p99 / p99.9 {ms('exchange_to_browser')} ms{strategy}{host}"


def _run(opts: argparse.Namespace, machine: dict[str, Any]) -> dict[str, Any]:
    results, verdicts = [], []
    systems = 1 + (2 if opts.peer else 0)
    total, step = len(opts.rates) * len(opts.clients) * opts.repeat * systems, 0

    def measured(system: str, rate: float, n: int, i: int) -> None:
        nonlocal step
        step += 1
        run = f", run {i + 1} of {opts.repeat}" if opts.repeat > 1 else ""
        _progress(f"[{step}/{total}] {system}, {_label(rate)}, {n} clients{run}")

    with tempfile.TemporaryDirectory(prefix="ap-bench-e2e-") as tmp:
        for k, (rate, n) in enumerate((r, c) for r in opts.rates for c in opts.clients):
            runs: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
            series: dict[str, list[np.ndarray]] = {}  # every run's samples, pooled per curve
            for i in range(opts.repeat):
                load = os.getloadavg()[0]
                measured("alphapulse", rate, n, i)
                ours, ours_samples = _alphapulse(rate, n, opts, Path(tmp) / f"ours{k}-{i}")
                ours["load_average"] = round(load, 2)
                results.append(ours)
                _progress(f"    {_outcome(ours)}")
                curves = {
                    "alphapulse exchange → strategy probe": ours_samples.get("exchange_to_strategy", np.empty(0)),
                    "alphapulse exchange → NautilusTrader strategy": ours_samples.get(
                        "exchange_to_trading_node", np.empty(0)
                    ),
                    f"alphapulse exchange → browser ({n})": ours_samples["exchange_to_browser"],
                }
                peers = []
                # the peer as installed (its backend batches: 500 updates or 0.5 s) and tuned to send at once
                for batch_max in (None, 1) if opts.peer else ():
                    load = os.getloadavg()[0]
                    measured("cryptofeed" if batch_max is None else f"cryptofeed batch_max={batch_max}", rate, n, i)
                    peer, peer_samples = _cryptofeed(rate, n, opts, Path(tmp) / f"peer{k}-{i}-{batch_max}", batch_max)
                    peer["load_average"] = round(load, 2)
                    results.append(peer)
                    _progress(f"    {_outcome(peer)}")
                    peers.append(peer)
                    curves[f"{peer['system']} exchange → strategy probe"] = peer_samples.get(
                        "exchange_to_strategy", np.empty(0)
                    )
                    curves[f"{peer['system']} exchange → browser ({n})"] = peer_samples["exchange_to_browser"]
                if opts.repeat > 1:
                    for r in (ours, *peers):
                        r["run"] = i + 1
                for label, arr in curves.items():
                    series.setdefault(label, []).append(arr)
                runs.append((ours, peers))
            verdicts.append(repeated_verdict(runs))
            if opts.plot_dir is not None:
                opts.plot_dir.mkdir(parents=True, exist_ok=True)
                pooled = {label: np.concatenate(arrs) for label, arrs in series.items()}
                _plot(opts.plot_dir / plot_name(rate, n), f"end to end, {_label(rate)}, {n} clients", pooled)
    return {
        "bench": "e2e",
        "machine": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            **machine,
        },
        "duration_s": opts.duration_s,
        "repeat": opts.repeat,
        "results": results,
        "verdicts": verdicts,
        "notes": verdict_notes(verdicts),
    }


if __name__ == "__main__":
    print(orjson.dumps(run(None)).decode())
