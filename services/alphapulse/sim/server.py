"""Shared machinery of the venue simulators: WebSocket + REST servers, connections, replay, generator.

A :class:`VenueSimulator` serves one venue on ``127.0.0.1`` (port 0 = any free port by default)
and is an async context manager::

    async with BinanceSim(replay=ReplaySource.fixture(fixtures, "binance")) as sim:
        ... connect to sim.ws_url, GET sim.rest_url + "/api/v3/depth?symbol=BTCUSDT" ...
        sim.inject(Fault.DROP_CONNECTION)

The venue modules (``kraken``, ``coinbase``, ``binance``) implement the protocol hooks; this
module owns what they share: accepting connections on the venue's path, per-connection output
buffers written once per loop iteration, stalls, dropped connections, replay of recordings, the
synthetic market clock (live frames carry the time they are written, as a venue's gateway stamps
them: see :meth:`VenueSimulator.restamp`) and back-pressure (the generator runs at the pace of its
slowest connection; one that stays backed up longer than ``slow_consumer_timeout_s`` is cut off,
as exchanges do).
"""

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import Iterable
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Literal, Self

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from alphapulse.sim.faults import Fault, FaultRequest, UnsupportedFaultError
from alphapulse.sim.framing import text_frame
from alphapulse.sim.http import RestResponse, RestServer
from alphapulse.sim.market import Instrument, MarketEvent, MarketModel, instrument_for
from alphapulse.sim.replay import ReplaySource, default_fixtures_dir, load_lines
from alphapulse.sim.schedule import Arrivals
from alphapulse.sim.timer import PreciseTimer

__all__ = ("Conn", "SimStats", "VenueSimulator")

log = logging.getLogger(__name__)

_HIGH_WATER_BYTES = 4 * 1024 * 1024
_MAX_MESSAGE_BYTES = 1 << 20
_REPLAY_BATCH = 256
_BUILTIN_MALFORMED = ("{", "", "[]", '"text"', "null", "\x00\x01binary-ish", '{"unterminated":"')
_conn_ids = itertools.count(1)


class Conn:
    """One client connection: its output buffer, faults waiting for their message, replay cursor."""

    def __init__(self, sim: "VenueSimulator[Any]", ws: ServerConnection) -> None:
        self.sim = sim
        self.ws = ws
        self.id = next(_conn_ids)
        self.path: str = ws.request.path if ws.request is not None else "/"
        self.transport: asyncio.Transport = ws.transport
        self.out: list[bytes] = []
        self.pending: list[FaultRequest] = []  # message-level faults (skip, corrupt)
        self.stalled_until = 0.0
        self.messages_sent = 0
        self.last_send_s = time.monotonic()
        self.opened_s = self.last_send_s
        self.requests = asyncio.Event()  # set once the client has sent anything
        self.replaying = False
        self.replay_index = 0  # next recorded line index
        self.backed_up_since: float | None = None
        self._flush_handle: asyncio.TimerHandle | None = None

    @property
    def open(self) -> bool:
        return self.ws.state is State.OPEN

    def queue(self, frame: bytes) -> None:
        """Append one encoded frame; it goes out at the next :meth:`flush`."""
        self.out.append(frame)
        self.messages_sent += 1

    def queue_text(self, text: str) -> None:
        self.queue(text_frame(text.encode()))

    def send_text(self, text: str) -> None:
        """Queue and flush now (control replies: acks, pongs, errors)."""
        self.queue_text(text)
        self.flush()

    def flush(self, tick_ns: int | None = None) -> None:
        """Write what is queued. ``tick_ns``: the generator tick these frames were rendered for;
        its timestamps are replaced by the time of this write (:meth:`VenueSimulator.restamp`)."""
        if not self.out:
            return
        if not self.open:
            self.out.clear()
            return
        now = time.monotonic()
        if now < self.stalled_until:
            if self._flush_handle is None:
                loop = asyncio.get_running_loop()
                self._flush_handle = loop.call_later(self.stalled_until - now, self._end_stall)
            return
        out = self.out
        data = out[0] if len(out) == 1 else b"".join(out)
        if tick_ns is not None:
            data = self.sim.restamp(data, tick_ns, time.time_ns())
        self.transport.write(data)
        out.clear()
        self.last_send_s = now

    def _end_stall(self) -> None:
        self._flush_handle = None
        self.flush()

    @property
    def stalled(self) -> bool:
        return time.monotonic() < self.stalled_until

    def buffered_bytes(self) -> int:
        return 0 if self.transport.is_closing() else self.transport.get_write_buffer_size()

    def take_fault(self, fault: Fault) -> FaultRequest | None:
        """Remove and return the first pending fault of that kind."""
        for i, f in enumerate(self.pending):
            if f.fault is fault:
                return self.pending.pop(i)
        return None


class SimStats:
    """Counters for benchmarks and tests (plain attributes; read them any time)."""

    def __init__(self) -> None:
        self.connections_total = 0
        self.messages_closed_conns = 0
        self.events_generated = 0
        self.faults_injected = 0


class VenueSimulator[C: Conn]:
    """Base class; a venue module sets the class attributes and implements the hooks."""

    venue: ClassVar[str]
    ws_path: ClassVar[str]
    has_rest: ClassVar[bool] = False
    default_symbols: ClassVar[tuple[str, ...]]
    default_ping_interval_s: ClassVar[float | None] = None

    def __init__(
        self,
        *,
        replay: ReplaySource | None = None,
        rate: float = 1000.0,
        symbols: Iterable[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        rest_port: int = 0,
        seed: int = 1,
        fixtures_dir: str | Path | None = None,
        ping_interval_s: float | Literal["venue"] | None = "venue",
        ping_timeout_s: float = 60.0,
        heartbeat_interval_s: float = 1.0,
        replay_wait_s: float = 2.0,
        replay_delay_ms: float = 0.0,
        replay_hold_s: float = 0.0,
        replay_paused: bool = False,
        tick_s: float = 0.001,
        slow_consumer_timeout_s: float = 30.0,
        max_batch_events: int = 5_000,
        close_timeout_s: float = 2.0,
    ) -> None:
        if replay is not None and replay.venue != self.venue:
            raise ValueError(f"{self.venue} simulator cannot replay a {replay.venue} session")
        self.replay = replay
        self.rate = rate
        self.seed = seed
        self.symbols: tuple[str, ...] = tuple(symbols) if symbols else self.default_symbols
        self.host = host
        self.port = port
        self.rest_port = rest_port
        self.fixtures_dir = Path(fixtures_dir) if fixtures_dir is not None else None
        # protocol pings: the venue's habit unless told (Binance every 20 s, the others none)
        self.ping_interval_s = self.default_ping_interval_s if ping_interval_s == "venue" else ping_interval_s
        self.ping_timeout_s = ping_timeout_s
        self.heartbeat_interval_s = heartbeat_interval_s
        self.replay_wait_s = replay_wait_s
        self.replay_delay_s = replay_delay_ms / 1000.0
        self.replay_hold_s = replay_hold_s
        self._replay_gate = asyncio.Event()
        if not replay_paused:
            self._replay_gate.set()
        self.tick_s = tick_s
        self.slow_consumer_timeout_s = slow_consumer_timeout_s
        self.max_batch_events = max_batch_events
        self.close_timeout_s = close_timeout_s
        self.instruments: list[Instrument] = [instrument_for(self.venue, s) for s in self.symbols]
        self.model: MarketModel | None = MarketModel(self.instruments, seed=seed) if replay is None else None
        self.conns: set[C] = set()
        self.stats = SimStats()
        self._server: Server | None = None
        self._rest: RestServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._conn_changed = asyncio.Event()
        self._replay_pos = 0  # furthest recorded line any connection has been sent (exclusive)
        self._last_recorded_ack = -1
        if replay is not None:
            for i, line in enumerate(replay.lines):
                if self.is_recorded_ack(line):
                    self._last_recorded_ack = i

    # ---- lifecycle -----------------------------------------------------------------------

    async def start(self) -> Self:
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._process_request,
            compression=None,
            ping_interval=self.ping_interval_s,
            ping_timeout=self.ping_timeout_s,
            max_size=_MAX_MESSAGE_BYTES,
            close_timeout=self.close_timeout_s,
            server_header=None,
        )
        if self.has_rest:
            self._rest = RestServer(self.rest, self.host, self.rest_port)
            await self._rest.start()
        self._spawn(self._heartbeats(), f"sim.{self.venue}.heartbeats")
        if self.model is not None:
            self._spawn(self._generate(), f"sim.{self.venue}.generator")
        return self

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self._rest is not None:
            await self._rest.stop()
            self._rest = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("simulator task %s failed", task.get_name(), exc_info=task.exception())

    # ---- addresses -----------------------------------------------------------------------

    @property
    def bound_port(self) -> int:
        assert self._server is not None, "simulator not started"
        port: int = next(iter(self._server.sockets)).getsockname()[1]
        return port

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.bound_port}{self.ws_path}"

    @property
    def rest_url(self) -> str | None:
        if self._rest is None:
            return None
        return f"http://{self.host}:{self._rest.port}"

    def describe(self) -> dict[str, Any]:
        """The line ``alphapulse sim`` prints for this venue."""
        mode = "replay" if self.replay is not None else "synthetic"
        return {
            "venue": self.venue,
            "url": self.ws_url,
            "rest_url": self.rest_url,
            "mode": mode,
            "symbols": list(self.symbols) if self.replay is None else None,
        }

    # ---- connections ---------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if not self.accepts_path(path):
            return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        return None

    def accepts_path(self, path: str) -> bool:
        return path == self.ws_path

    async def _handle(self, ws: ServerConnection) -> None:
        conn = self.make_conn(ws)
        self.conns.add(conn)
        self.stats.connections_total += 1
        self._conn_changed.set()
        try:
            self.on_open(conn)
            conn.flush()
            if self.replay is not None:
                self._spawn(self._replay_conn(conn), f"sim.{self.venue}.replay.{conn.id}")
            async for message in ws:
                conn.requests.set()
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                try:
                    self.on_text(conn, text)
                except Exception:  # a simulator bug must not look like an exchange disconnect
                    log.exception("%s: request handling failed: %.200s", self.venue, text)
                conn.flush()
        except ConnectionClosed:
            pass
        finally:
            self.conns.discard(conn)
            self.stats.messages_closed_conns += conn.messages_sent
            self.on_close(conn)
            self._conn_changed.set()

    async def wait_for_connections(self, n: int = 1, timeout_s: float = 10.0) -> None:
        """Wait until at least ``n`` clients are connected."""
        async with asyncio.timeout(timeout_s):
            while len(self.conns) < n:
                self._conn_changed.clear()
                await self._conn_changed.wait()

    async def wait_for_disconnect(self, timeout_s: float = 10.0) -> None:
        """Wait until no client is connected."""
        async with asyncio.timeout(timeout_s):
            while self.conns:
                self._conn_changed.clear()
                await self._conn_changed.wait()

    def pause_replay(self) -> None:
        """Hold every replaying connection before its next recorded line (acks included)."""
        self._replay_gate.clear()

    def resume_replay(self) -> None:
        """Let replays go on (or start, with ``replay_paused=True``)."""
        self._replay_gate.set()

    @property
    def replay_position(self) -> int:
        """How many recorded lines the furthest connection has been through."""
        return self._replay_pos

    @property
    def messages_sent(self) -> int:
        return self.stats.messages_closed_conns + sum(c.messages_sent for c in self.conns)

    # ---- faults --------------------------------------------------------------------------

    def inject(
        self,
        fault: Fault | str,
        *,
        seconds: float = 1.0,
        payload: str | None = None,
        lines: Iterable[str] | None = None,
        conn: Conn | None = None,
    ) -> int:
        """Inject ``fault`` into every open connection (or ``conn``); return how many it reached."""
        fault = Fault(fault)
        self.check_fault(fault)
        if fault is Fault.MALFORMED and lines is None:
            lines = self.malformed_lines()
        req = FaultRequest(
            fault,
            seconds=seconds,
            lines=tuple(lines or ()),
            **({"payload": payload} if payload is not None else {}),
        )
        targets = [conn] if conn is not None else list(self.conns)
        for c in targets:
            self._apply(c, req)  # type: ignore[arg-type]
        self.stats.faults_injected += 1
        return len(targets)

    def check_fault(self, fault: Fault) -> None:
        if fault is Fault.CORRUPT_CHECKSUM:
            raise UnsupportedFaultError(f"{self.venue} messages carry no checksum")
        if fault is Fault.SERVER_SHUTDOWN:
            raise UnsupportedFaultError(f"{self.venue} has no server-shutdown notice")

    def _apply(self, conn: C, req: FaultRequest) -> None:
        f = req.fault
        if f is Fault.DROP_CONNECTION:
            conn.out.clear()
            conn.transport.abort()
        elif f is Fault.CLOSE:
            conn.flush()
            self._spawn(conn.ws.close(1001, "going away"), f"sim.{self.venue}.close.{conn.id}")
        elif f is Fault.STALL:
            conn.stalled_until = max(conn.stalled_until, time.monotonic() + req.seconds)
        elif f is Fault.GARBAGE:
            conn.send_text(req.payload)
        elif f is Fault.MALFORMED:
            for line in req.lines:
                conn.queue_text(line)
            conn.flush()
        elif f is Fault.SERVER_SHUTDOWN:
            self.shutdown_notice(conn)
            conn.flush()
            self._spawn(self._close_later(conn, req.seconds), f"sim.{self.venue}.shutdown.{conn.id}")
        else:
            conn.pending.append(req)

    async def _close_later(self, conn: Conn, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        await conn.ws.close(1001, "going away")

    def shutdown_notice(self, conn: C) -> None:
        """Queue the venue's "about to disconnect" notice (only Binance has one)."""

    def malformed_lines(self) -> list[str]:
        """The venue's ``malformed.jsonl`` from the fixtures, or a small built-in set."""
        fixtures = self.fixtures_dir or default_fixtures_dir()
        path = fixtures / self.venue / "malformed.jsonl"
        if path.is_file():
            return load_lines(path)
        return list(_BUILTIN_MALFORMED)

    # ---- replay --------------------------------------------------------------------------

    async def _replay_conn(self, conn: C) -> None:
        source = self.replay
        assert source is not None
        if not self.replay_starts_at_once(conn):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.replay_wait_s):
                    await conn.requests.wait()
        if self.replay_hold_s > 0:
            await asyncio.sleep(self.replay_hold_s)  # time for a reader to attach downstream
        conn.replaying = True
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        sent = 0
        try:
            for index, line in enumerate(source.lines):
                if not conn.open:
                    return
                if not self._replay_gate.is_set():
                    conn.flush()
                    await self._replay_gate.wait()
                    t0 = loop.time() - sent * self.replay_delay_s
                conn.replay_index = index + 1
                self._replay_pos = max(self._replay_pos, index + 1)
                if index in source.skip:
                    continue
                text = self.replay_line(conn, index, line) if conn.pending or self.rewrites(conn) else line
                if text is not None:
                    conn.queue_text(text)
                sent += 1
                if self.replay_delay_s > 0:
                    # pace against a schedule: sleep only when >= 1 ms ahead (the loop's resolution)
                    ahead = t0 + sent * self.replay_delay_s - loop.time()
                    if ahead >= 0.001:
                        conn.flush()
                        await asyncio.sleep(ahead)
                    elif sent % 64 == 0:
                        conn.flush()
                        await asyncio.sleep(0)
                elif sent % _REPLAY_BATCH == 0:
                    conn.flush()
                    await self._drain(conn)
            conn.flush()
        finally:
            conn.replaying = False
            self.on_replay_done(conn)

    async def _drain(self, conn: Conn) -> None:
        await asyncio.sleep(0)
        # a transport has no "drained" event outside streams: poll its buffer
        while conn.open and conn.buffered_bytes() > _HIGH_WATER_BYTES:  # noqa: ASYNC110
            await asyncio.sleep(0.001)

    # ---- synthetic market ----------------------------------------------------------------

    async def _generate(self) -> None:
        model = self.model
        assert model is not None
        timer = PreciseTimer()
        arrivals = Arrivals(self.rate, random.Random(f"arrivals:{self.seed}"), time.monotonic(), self.tick_s)
        try:
            alarm = timer.arm(arrivals.wake_at())
            while True:
                await alarm
                # the wait for slow connections comes before rendering: between the render and the write nothing
                # may yield to the loop, or another flush (a heartbeat, a reply) could send the frames unstamped
                await self._backpressure()
                now = time.monotonic()
                n = arrivals.due(now, self.rate)
                n = min(n, self.max_batch_events)  # cannot keep up: run flat out, the backlog dropped
                if not self.conns:
                    n = 0  # nobody watching: the market pauses instead of burning a core
                tick_ns = time.time_ns() if n else None
                if tick_ns is not None:
                    events = model.step(n, tick_ns)
                    self.stats.events_generated += n
                    self.publish(events)
                self.on_tick(now)
                # everything for the next wake-up is done before this tick's frames go out: a venue is another
                # machine, so nothing it does after its write should hold up a reader woken on this CPU
                alarm = timer.arm(arrivals.wake_at())
                for conn in list(self.conns):
                    conn.flush(tick_ns)
        finally:
            timer.close()

    async def _backpressure(self) -> None:
        """Wait for every connection to drain below the high-water mark; cut off the hopeless."""
        while True:
            now = time.monotonic()
            backed_up = False
            for conn in list(self.conns):
                if conn.stalled or conn.buffered_bytes() <= _HIGH_WATER_BYTES:
                    conn.backed_up_since = None
                    continue
                if conn.backed_up_since is None:
                    conn.backed_up_since = now
                elif now - conn.backed_up_since > self.slow_consumer_timeout_s:
                    log.warning("%s: dropping slow consumer #%d", self.venue, conn.id)
                    conn.transport.abort()
                    continue
                backed_up = True
            if not backed_up:
                return
            await asyncio.sleep(0.001)

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval_s)
            now = time.monotonic()
            for conn in list(self.conns):
                if conn.open and not conn.replaying:
                    self.on_heartbeat(conn, now)
                    conn.flush()

    def answers_live(self, conn: Conn) -> bool:
        """Whether a client request gets a live answer (acks, snapshots).

        While replaying, requests that arrive before the recording's last ack are answered by the
        recording itself (its acks are the answers to the recorded client's same requests); later
        ones (a resubscribe after a gap, say) are answered live from the replayed state.
        """
        return self.replay is None or conn.replay_index > self._last_recorded_ack

    # ---- hooks for the venue modules -----------------------------------------------------

    def make_conn(self, ws: ServerConnection) -> C:
        raise NotImplementedError

    def on_open(self, conn: C) -> None:
        """A client connected (after the handshake)."""

    def on_text(self, conn: C, text: str) -> None:
        """A text message from the client."""

    def on_close(self, conn: C) -> None:
        """The connection is gone; forget its subscriptions."""

    def on_heartbeat(self, conn: C, now_s: float) -> None:
        """Called every ``heartbeat_interval_s`` for live (not replaying) connections."""

    def on_tick(self, now_s: float) -> None:
        """Called once per generator loop iteration, after :meth:`publish`."""

    def publish(self, events: list[MarketEvent]) -> None:
        """Turn model events into wire messages queued on the subscribed connections."""

    def stamp_pairs(self, tick_ns: int, now_ns: int) -> tuple[tuple[bytes, bytes], ...]:
        """Each way this venue renders an event time, for the tick's time and for now: (old, new),
        of equal length. Empty where the venue's resolution cannot tell the two apart."""
        return ()

    def restamp(self, data: bytes, tick_ns: int, now_ns: int) -> bytes:
        """The tick's frames with its event time replaced by the time they are written.

        A venue stamps a frame when its gateway sends it; the model's tick time would put the
        simulator's own rendering (tens of µs per tick in Python) inside every latency measured
        from the frames' timestamps. The formats are fixed-width, so frame lengths do not change.
        """
        for old, new in self.stamp_pairs(tick_ns, now_ns):
            data = data.replace(old, new)
        return data

    def rest(self, path: str, query: dict[str, list[str]]) -> RestResponse:
        return 404, b'{"code":-1,"msg":"not found"}'

    def replay_starts_at_once(self, conn: C) -> bool:
        """Whether replay starts without waiting for the client's first message."""
        return False

    def rewrites(self, conn: C) -> bool:
        """Whether recorded lines must pass :meth:`replay_line` for this connection."""
        return False

    def replay_line(self, conn: C, index: int, line: str) -> str | None:
        """The text to send for recorded line ``index`` (faults applied), or None to drop it."""
        return line

    def is_recorded_ack(self, line: str) -> bool:
        """Whether a recorded line answers a client request (subscribe ack and the like)."""
        return False

    def on_replay_done(self, conn: C) -> None:
        """The recording is exhausted for this connection; live behaviour takes over."""
