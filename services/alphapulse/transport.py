"""Moving cells over Unix and TCP stream sockets: the feed socket server and the consumer client.

Thin asyncio ``Protocol`` shells (no streams: they cost ~1.7 µs per hop). Writes are coalesced
into one ``write`` per loop iteration per peer; a peer whose kernel+transport buffer is over its
limit has data dropped *for that peer only* and is told with a Gap frame once it drains.
"""

import asyncio
import collections
import contextlib
import errno
import logging
import os
import random
import socket
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from alphapulse.clock import Clock, SystemClock
from alphapulse.errors import ConfigError
from alphapulse.protocol import (
    CELL_BYTES,
    Control,
    ControlOp,
    FrameAligner,
    FrameDecoder,
    FrameError,
    Gap,
    GapReason,
    encode,
)
from alphapulse.protocol.wire import FLAG_REPLAY, SEQ_MOD

__all__ = (
    "DEFAULT_REPLAY_RING_BYTES",
    "Endpoint",
    "FeedServer",
    "PeerWriter",
    "RelayClient",
    "ReplayRing",
    "bind_unix_socket",
    "parse_endpoint",
)

log = logging.getLogger(__name__)

DEFAULT_PEER_BUFFER_BYTES = 8 << 20
DEFAULT_REPLAY_RING_BYTES = 64 << 20
# A RESUME answer goes out in pieces of at most this many cells, each behind its own REPLAY header,
# so live data interleaves between pieces and the relay routes each piece as one block.
REPLAY_PIECE_CELLS = 16384
# ... and the next piece waits while the reader's buffer holds more than this (live data first).
REPLAY_PACE_BYTES = 1 << 20
# per-chunk bookkeeping counted against the ring's bound (a deque slot, the bytes object's header)
_RING_CHUNK_OVERHEAD = 64


@dataclass(frozen=True, slots=True)
class Endpoint:
    kind: str  # "unix" or "tcp"
    path: str = ""
    host: str = ""
    port: int = 0

    def __str__(self) -> str:
        return f"unix:{self.path}" if self.kind == "unix" else f"tcp:{self.host}:{self.port}"


def parse_endpoint(text: str) -> Endpoint:
    """``unix:/path/relay.sock`` or ``tcp:host:port`` (a bare path means unix)."""
    if text.startswith("tcp:"):
        host, sep, port = text[4:].rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise ConfigError(f"bad endpoint {text!r}: expected tcp:HOST:PORT")
        return Endpoint("tcp", host=host.strip("[]"), port=int(port))
    path = text[5:] if text.startswith("unix:") else text
    if not path:
        raise ConfigError(f"bad endpoint {text!r}: expected unix:PATH or tcp:HOST:PORT")
    return Endpoint("unix", path=str(Path(path).resolve()))


def bind_unix_socket(path: Path) -> socket.socket:
    """Bind a listening Unix socket at ``path``, replacing a stale socket file but never a live one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise ConfigError(f"{path} exists and is not a socket; refusing to replace it")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except OSError as e:
            if e.errno not in (errno.ECONNREFUSED, errno.ENOENT):
                raise
            path.unlink(missing_ok=True)  # stale: its server died without cleaning up
        else:
            raise ConfigError(f"another process is serving {path}; two writers on one socket are refused")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    os.chmod(path, 0o660)
    sock.listen(128)
    sock.setblocking(False)
    return sock


class PeerWriter:
    """Writes to one peer with a bound: over the bound, data is dropped and counted, then reported.

    ``feed_id`` names the feed in the Gap frame sent once the peer drains. Dropped data is always
    whole publish batches, so the peer never sees a partial frame.
    """

    __slots__ = ("dropped_cells", "dropped_first_seq", "dropped_total", "feed_id", "limit_bytes", "transport")

    def __init__(self, transport: asyncio.WriteTransport, feed_id: int, limit_bytes: int) -> None:
        self.transport = transport
        self.feed_id = feed_id
        self.limit_bytes = limit_bytes
        self.dropped_cells = 0
        self.dropped_first_seq = 0
        self.dropped_total = 0

    def write(self, data: bytes) -> bool:
        """Queue ``data``; returns False if it was dropped because the peer is too slow."""
        transport = self.transport
        if transport.is_closing():
            return False
        if transport.get_write_buffer_size() > self.limit_bytes:
            if not self.dropped_cells:
                self.dropped_first_seq = int.from_bytes(data[8:12], "little")
            n = len(data) // CELL_BYTES
            self.dropped_cells += n
            self.dropped_total += n
            return False
        if self.dropped_cells:
            transport.write(
                encode(Gap(self.feed_id, 0, GapReason.SLOW_CONSUMER, 0, 0, self.dropped_first_seq, self.dropped_cells))
            )
            self.dropped_cells = 0
        transport.write(data)
        return True


class ReplayRing:
    """The last ``max_bytes`` of a feed session's published cells, to answer RESUME requests.

    ``append`` takes each flushed chunk as is (the bytes object the peers get: no copy) in O(1);
    the oldest chunks go once the bound is passed. Cells are numbered by the session's
    sequence; ``_head`` counts cells since the session started (never wraps, unlike the wire's
    32-bit ``seq``), so positions are compared without modular ambiguity.
    """

    __slots__ = ("_bytes", "_chunks", "_head", "_tail", "max_bytes")

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._chunks: collections.deque[tuple[int, bytes]] = collections.deque()  # (first cell index, cells)
        self._bytes = 0
        self._head = 0  # index of the next cell to be published
        self._tail = 0  # index of the oldest cell still held

    @property
    def head_seq(self) -> int:
        """The wire seq the next published cell will carry."""
        return self._head % SEQ_MOD

    @property
    def held_cells(self) -> int:
        return self._head - self._tail

    @property
    def held_bytes(self) -> int:
        return self._bytes

    def append(self, cells: bytes) -> None:
        n = len(cells) // CELL_BYTES
        if not n:
            return
        if not self._head:
            # the first publish fixes the numbering (a collector's session starts at 0; a test
            # feed may start elsewhere): afterwards every cell takes the next number
            self._head = self._tail = int.from_bytes(cells[8:12], "little")
        if self.max_bytes <= 0:
            self._head += n
            self._tail = self._head
            return
        self._chunks.append((self._head, cells))
        self._head += n
        self._bytes += len(cells) + _RING_CHUNK_OVERHEAD
        while self._bytes > self.max_bytes and self._chunks:
            _, old = self._chunks.popleft()
            self._bytes -= len(old) + _RING_CHUNK_OVERHEAD
            self._tail = self._chunks[0][0] if self._chunks else self._head

    def since(self, seq: int) -> tuple[int, list[bytes]]:
        """The cells from wire seq ``seq`` up to the head, as far as still held.

        Returns (wire seq of the first cell returned, the cells as chunks). The first seq is
        later than ``seq`` when the ring no longer holds the start; it equals ``head_seq`` with no
        chunks when nothing is left to send. A ``seq`` at or "after" the head (more than 2**31
        behind it, mod 2**32) returns nothing."""
        behind = (self._head - seq) % SEQ_MOD
        if behind == 0 or behind >= SEQ_MOD // 2:
            return self.head_seq, []
        start = max(self._head - behind, self._tail)
        out: list[bytes] = []
        for first, cells in reversed(self._chunks):  # resumes ask for recent history: walk from the newest
            end = first + len(cells) // CELL_BYTES
            if end <= start:
                break
            out.append(cells if first >= start else cells[(start - first) * CELL_BYTES :])
        out.reverse()
        return start % SEQ_MOD, out


def replay_pieces(
    feed_id: int, epoch_ns: int, request_id: int, first_seq: int, chunks: list[bytes], now_ns: int
) -> list[bytes]:
    """A RESUME answer: REPLAY header + cells (flagged REPLAY), per piece of at most REPLAY_PIECE_CELLS."""
    data = b"".join(chunks)
    if not data:
        return []
    marked = np.frombuffer(data, dtype=np.uint8).reshape(-1, CELL_BYTES).copy()
    marked[:, 2] |= FLAG_REPLAY  # not live: the relay's loss detection must not count them
    pieces: list[bytes] = []
    seq = first_seq
    for start in range(0, len(marked), REPLAY_PIECE_CELLS):
        block = marked[start : start + REPLAY_PIECE_CELLS]
        head = Control(
            ControlOp.REPLAY,
            feed_id,
            request_id=request_id,
            ts_ns=now_ns,
            seq=seq,
            from_seq=seq,
            epoch_ns=epoch_ns,
            count=len(block),
        )
        pieces.append(encode(head) + block.tobytes())
        seq = (seq + len(block)) % SEQ_MOD
    return pieces


class _Reader(asyncio.Protocol):
    def __init__(self, server: "FeedServer") -> None:
        self._server = server
        self._decoder = FrameDecoder(max_pending_bytes=64 * CELL_BYTES)
        self.writer: PeerWriter | None = None
        self.writable = asyncio.Event()  # cleared while the transport is over REPLAY_PACE_BYTES
        self.writable.set()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio subclasses
        # the flow-control marks only pace RESUME answers; live data keeps PeerWriter's own bound
        transport.set_write_buffer_limits(high=REPLAY_PACE_BYTES)
        self.writer = PeerWriter(transport, self._server.feed_id, self._server.peer_buffer_bytes)
        hello = self._server.hello()
        if hello:
            transport.write(hello)
        self._server.peers.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.peers.discard(self)
        self.writable.set()  # an answer waiting for room sees the transport closing and stops

    def data_received(self, data: bytes) -> None:
        try:
            frames = self._decoder.feed(data)
        except FrameError as e:
            log.warning("reader sent an invalid frame; closing it", extra={"error": str(e)})
            if self.writer:
                self.writer.transport.close()
            return
        for frame in frames:
            if isinstance(frame, Control):
                if frame.op == ControlOp.RESUME:
                    self._server.resume(self, frame)
                else:
                    self._server.on_control(frame)


class FeedServer:
    """Serves one feed socket to any number of readers (the relay, ``tap``, ...).

    With ``replay_ring_bytes`` > 0 it keeps the last that many bytes of what it published and
    answers ``Control(RESUME)`` from a reader with them (to that reader only; see docs/protocol.md).
    """

    def __init__(
        self,
        path: Path,
        *,
        feed_id: int = 0,
        epoch_ns: int = 0,
        hello: Callable[[], bytes] = lambda: b"",
        on_control: Callable[[Control], None] = lambda _c: None,
        peer_buffer_bytes: int = DEFAULT_PEER_BUFFER_BYTES,
        replay_ring_bytes: int = 0,
        clock: Clock | None = None,
    ) -> None:
        self.path = path
        self.feed_id = feed_id
        self.epoch_ns = epoch_ns
        self.hello = hello
        self.on_control = on_control
        self.peer_buffer_bytes = peer_buffer_bytes
        self.ring = ReplayRing(replay_ring_bytes)
        self.clock = clock or SystemClock()
        self.peers: set[_Reader] = set()
        self.resumes = 0  # RESUME requests answered (metrics, tests)
        self._pending: list[bytes] = []
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._answers: set[asyncio.Task[None]] = set()

    @property
    def readers(self) -> int:
        return len(self.peers)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        sock = bind_unix_socket(self.path)
        self._server = await self._loop.create_unix_server(lambda: _Reader(self), sock=sock)

    def publish(self, data: bytes, *, now: bool = False) -> None:
        """Send whole frames to every reader, coalesced into one write per loop iteration.

        ``now``: write at once, for a caller that coalesces already (the collector: one call per
        socket read) and would otherwise wait a loop iteration for nothing."""
        if now and not self._pending:
            self._write(data)
            return
        if not self._pending:
            assert self._loop is not None, "start() the server before publishing"
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        pending = self._pending
        self._pending = []
        if pending:
            self._write(pending[0] if len(pending) == 1 else b"".join(pending))

    def _write(self, data: bytes) -> None:
        # Into the ring at the moment the peers get it, not at publish(): a RESUME answer then
        # never holds a cell the asking reader is yet to receive live.
        self.ring.append(data)
        for peer in self.peers:
            if peer.writer is not None:
                peer.writer.write(data)

    def resume(self, reader: _Reader, ctl: Control) -> None:
        """Answer ``RESUME`` to ``reader`` alone: REPLAY pieces, then REPLAY_END.

        Another session (``epoch_ns`` not ours: this collector restarted) gets only REPLAY_END
        carrying our epoch: nothing of that session survives here. The range is fixed now (up to
        what the peers were sent); pieces go out paced behind live data."""
        self.resumes += 1
        now = self.clock.now_ns()
        head = self.ring.head_seq
        pieces: list[bytes] = []
        if ctl.epoch_ns == self.epoch_ns and self.ring.max_bytes > 0:
            first, chunks = self.ring.since(ctl.from_seq)
            pieces = replay_pieces(self.feed_id, self.epoch_ns, ctl.request_id, first, chunks, now)
        end = encode(
            Control(
                ControlOp.REPLAY_END,
                self.feed_id,
                request_id=ctl.request_id,
                ts_ns=now,
                from_seq=head,
                epoch_ns=self.epoch_ns,
            )
        )
        log.info(
            "resume requested",
            extra={
                "from_seq": ctl.from_seq,
                "head_seq": head,
                "pieces": len(pieces),
                "same_session": ctl.epoch_ns == self.epoch_ns,
            },
        )
        if reader.writer is None:
            return
        transport = reader.writer.transport
        if len(pieces) <= 1:
            for piece in pieces:
                transport.write(piece)
            transport.write(end)
            return
        task = asyncio.get_running_loop().create_task(self._answer(reader, [*pieces, end]), name="feed.replay")
        self._answers.add(task)
        task.add_done_callback(self._answers.discard)

    async def _answer(self, reader: _Reader, parts: list[bytes]) -> None:
        """Pieces go out one at a time, each once the reader's buffer is below its low mark:
        live data published meanwhile goes first, and never waits behind the whole answer."""
        assert reader.writer is not None
        transport = reader.writer.transport
        for part in parts:
            await reader.writable.wait()
            if transport.is_closing():
                return
            transport.write(part)

    async def close(self) -> None:
        for task in list(self._answers):
            task.cancel()
        if self._server is not None:
            self._server.close()
            for peer in list(self.peers):
                if peer.writer is not None:
                    peer.writer.transport.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        self.path.unlink(missing_ok=True)


# A paced consumer keeps reading at once while reads are this large: it is behind, not idle.
_PACED_BACKLOG_BYTES = 32 * 1024


class _Input(asyncio.Protocol):
    def __init__(
        self,
        on_cells: Callable[[bytes], None],
        lost: asyncio.Future[None],
        on_made: Callable[[asyncio.Transport], None] | None = None,
        read_interval_s: float = 0.0,
    ) -> None:
        self._on_cells = on_cells
        self._aligner = FrameAligner()
        self._lost = lost
        self._on_made = on_made
        self._interval = read_interval_s
        self._resume: asyncio.TimerHandle | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio subclasses
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._on_made is not None:
            self._on_made(transport)  # before any data_received of this connection

    def data_received(self, data: bytes) -> None:
        cells = self._aligner.feed(data)
        if cells:
            self._on_cells(cells)
        if self._interval and len(data) < _PACED_BACKLOG_BYTES and self.transport is not None:
            # paced: let data gather in the socket and take it in one read a little later
            self.transport.pause_reading()
            self._resume = asyncio.get_running_loop().call_later(self._interval, self._resume_reading)

    def _resume_reading(self) -> None:
        self._resume = None
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._resume is not None:
            self._resume.cancel()
        if not self._lost.done():
            self._lost.set_result(None)


# a connection that lasted this long was served: after it ends, reconnect at once and reset the backoff
STABLE_CONNECTION_S = 1.0


class RelayClient:
    """A consumer's connection(s) to relays or a feed socket, reconnecting forever with capped backoff."""

    def __init__(
        self,
        endpoints: Sequence[str | Endpoint],
        on_cells: Callable[[bytes], None],
        *,
        controls: Sequence[Control] = (),
        name: str = "consumer",
        clock: Clock | None = None,
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 2.0,
        connect_timeout_s: float = 5.0,
        on_connect: Callable[[], Sequence[Control]] | None = None,
        reconnect_gap: bool = True,
        read_interval_s: float = 0.0,
    ) -> None:
        """``on_connect`` is called on every (re)connection from ``connection_made``, before any of
        its cells are delivered; the controls it returns are sent on it first. ``reconnect_gap=False``
        leaves out the FEED_LOST gap a reconnection delivers first: for a consumer that recovers what
        it missed itself (RESUME).

        ``read_interval_s`` > 0: a consumer that does not need each frame at once (the database
        writer) reads at most once per interval while it keeps up, instead of waking for every
        frame: on a 2-vCPU node each wake-up of a bulk consumer takes CPU the latency-sensitive
        processes (bridge, trading node) were woken for by the same relay write. Reads of 32 KiB
        or more (a backlog) are followed by the next read at once."""
        if not endpoints:
            raise ConfigError("RelayClient needs at least one endpoint")
        self.endpoints = [e if isinstance(e, Endpoint) else parse_endpoint(e) for e in endpoints]
        self.on_cells = on_cells
        self.controls = list(controls)
        self.name = name
        self.clock = clock or SystemClock()
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.connect_timeout_s = connect_timeout_s
        self.on_connect = on_connect
        self.reconnect_gap = reconnect_gap
        self.read_interval_s = read_interval_s
        self._inputs: dict[Endpoint, _Input] = {}
        self.connects = 0

    @property
    def connected(self) -> bool:
        return any(i.transport is not None and not i.transport.is_closing() for i in self._inputs.values())

    def send(self, control: Control, *, remember: bool = True) -> None:
        """Send a control frame now to every connected endpoint, and (subscriptions, with ``remember``)
        after every reconnect. ``remember=False``: the caller's ``on_connect`` re-sends its current state."""
        if remember and control.op == ControlOp.RESET:
            self.controls = [control]
        elif remember and control.op in (ControlOp.SUBSCRIBE, ControlOp.UNSUBSCRIBE):
            self.controls.append(control)
        data = encode(control)
        for inp in self._inputs.values():
            if inp.transport is not None and not inp.transport.is_closing():
                inp.transport.write(data)

    def _on_made(self, transport: asyncio.Transport) -> None:
        # Called from connection_made, so the consumer learns of the new connection before any of
        # its cells; a connection whose connect then times out only costs a few ignored answers.
        assert self.on_connect is not None
        for control in self.on_connect():
            transport.write(encode(control))

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            for ep in self.endpoints:
                tg.create_task(self._run_one(ep), name=f"{self.name}.relay-client.{ep}")

    async def _connect(self, ep: Endpoint, proto: _Input) -> None:
        loop = asyncio.get_running_loop()
        if ep.kind == "unix":
            await asyncio.wait_for(loop.create_unix_connection(lambda: proto, ep.path), self.connect_timeout_s)
        else:
            await asyncio.wait_for(loop.create_connection(lambda: proto, ep.host, ep.port), self.connect_timeout_s)

    async def _run_one(self, ep: Endpoint) -> None:
        delay = self.backoff_initial_s
        first = True
        while True:
            lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            proto = _Input(
                self.on_cells, lost, self._on_made if self.on_connect is not None else None, self.read_interval_s
            )
            try:
                await self._connect(ep, proto)
            except (OSError, TimeoutError) as e:
                log.debug("connect failed", extra={"endpoint": str(ep), "error": str(e)})
                await self.clock.sleep(delay * (0.5 + random.random() / 2))
                delay = min(delay * 2, self.backoff_max_s)
                continue
            connected_s = self.clock.monotonic_s()
            self.connects += 1
            if not first and self.reconnect_gap:
                # whatever flowed while we were away is unknown to us: say so before anything else
                self.on_cells(encode(Gap(0, 0, GapReason.FEED_LOST, self.clock.now_ns())))
            first = False
            self._inputs[ep] = proto
            assert proto.transport is not None
            for control in self.controls:
                proto.transport.write(encode(control))
            log.info("connected", extra={"endpoint": str(ep), "consumer": self.name})
            try:
                await lost
            finally:
                self._inputs.pop(ep, None)
                if proto.transport is not None:
                    proto.transport.close()
            if self.clock.monotonic_s() - connected_s >= STABLE_CONNECTION_S:
                delay = self.backoff_initial_s
                log.info("disconnected; reconnecting", extra={"endpoint": str(ep), "consumer": self.name})
                continue
            # closed as soon as it was made (a relay at its consumer limit, one shutting down): reconnecting
            # at once would spin, on both ends, for as long as the refusal lasts
            log.info(
                "disconnected right after connecting; reconnecting after a pause",
                extra={"endpoint": str(ep), "consumer": self.name, "pause_s": round(delay, 3)},
            )
            await self.clock.sleep(delay * (0.5 + random.random() / 2))
            delay = min(delay * 2, self.backoff_max_s)
