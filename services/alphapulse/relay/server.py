"""The relay process: discovers feed sockets, reads them all, serves consumers (Unix and TCP).

Thin asyncio shells around ``relay.core``: a protocol per feed connection, a protocol per
consumer, a discovery loop over ``<sock_dir>/feeds/``.
"""

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import numpy as np

from alphapulse.clock import Clock, SystemClock
from alphapulse.plain_metrics import PlainHistogram
from alphapulse.protocol import (
    CELL_BYTES,
    Control,
    ControlOp,
    FrameAligner,
    FrameDecoder,
    FrameError,
    FrameType,
    Gap,
    GapReason,
    decode,
    encode,
)
from alphapulse.protocol.bulk import CELL_DTYPE
from alphapulse.relay import fastpath, metrics
from alphapulse.relay.core import ConsumerFilter, FeedTrack, ingest, ingest_fast
from alphapulse.relay.limits import (
    LOG_INTERVAL_S,
    ConsumerLimit,
    SnapshotCoalescer,
    SnapshotGate,
    SnapshotLimit,
    refusal,
)
from alphapulse.transport import REPLAY_PIECE_CELLS, bind_unix_socket

__all__ = ("Relay",)

SHARED_VIEW_MIN_BYTES = 16 * CELL_BYTES

log = logging.getLogger(__name__)


class _Consumer(asyncio.Protocol):
    def __init__(self, relay: "Relay", kind: str) -> None:
        self.relay = relay
        self.name = f"{kind}-{next(relay.consumer_ids)}"
        self.filter = ConsumerFilter()
        self.transport: asyncio.Transport | None = None
        self.address: str | None = None  # the TCP peer's host; None over the Unix socket
        self._decoder = FrameDecoder(max_pending_bytes=64 * CELL_BYTES)
        self.dropped: dict[int, list[int]] = {}  # feed id -> [first seq, cells]
        self.cells_out = 0  # alphapulse_relay_frames_out_total (relay.metrics.HOT_PATH)
        self._drops = metrics.DROPPED.labels(self.name)
        self.limit_bytes = relay.consumer_buffer_bytes
        self.snapshots = SnapshotGate(relay.snapshot_limit, self.name, relay.clock.monotonic_s)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio subclasses
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.address = str(transport.get_extra_info("peername")[0])
        if not self.relay.admit(self):
            self.transport = None  # never served: connection_lost has nothing to undo
            transport.close()
            return
        self.relay.consumers.add(self)
        self.relay.reorder()
        metrics.CONSUMERS.set(len(self.relay.consumers))
        hello = b"".join(track.hello() for track in self.relay.feeds.values() if track.feed_cells)
        if hello:
            transport.write(hello)

    def connection_lost(self, exc: Exception | None) -> None:
        if self not in self.relay.consumers:
            return  # refused on arrival
        self.relay.consumers.discard(self)
        self.relay.reorder()
        self.relay.forget_resumes(self)
        metrics.CONSUMERS.set(len(self.relay.consumers))
        with contextlib.suppress(KeyError):
            metrics.QUEUE_BYTES.remove(self.name)

    def data_received(self, data: bytes) -> None:
        if self.transport is None:
            return  # refused on arrival: its bytes are not read
        try:
            frames = self._decoder.feed(data)
        except FrameError as e:
            metrics.MALFORMED.labels("consumer", "frame").inc()
            log.warning("consumer sent an invalid frame; closing it", extra={"consumer": self.name, "error": str(e)})
            self.transport.close()
            return
        for frame in frames:
            if isinstance(frame, Control):
                self.relay.on_consumer_control(self, frame)

    def deliver(self, track: FeedTrack, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing() or not data:
            return
        n = len(data) // CELL_BYTES
        if transport.get_write_buffer_size() > self.limit_bytes:
            slot = self.dropped.get(track.feed_id)
            if slot is None:
                self.dropped[track.feed_id] = [int.from_bytes(data[8:12], "little"), n]
            else:
                slot[1] += n
            self._drops.inc(n)
            return
        if self.dropped:
            now = time.time_ns()
            gaps = [
                Gap(fid, 0, GapReason.SLOW_CONSUMER, now, 0, first, count)
                for fid, (first, count) in self.dropped.items()
            ]
            self.dropped.clear()
            transport.write(b"".join(encode(g) for g in gaps))
            for g in gaps:
                metrics.GAPS.labels(self.relay.feed_name(g.feed_id), "slow_consumer").inc()
        transport.write(data)
        self.cells_out += n


class _FeedInput(asyncio.Protocol):
    def __init__(self, relay: "Relay", track: FeedTrack, lost: asyncio.Future[None]) -> None:
        self.relay = relay
        self.track = track
        self.lost = lost
        self.aligner = FrameAligner()
        self.transport: asyncio.Transport | None = None
        # a RESUME answer piece being read: its header (relay request id) and cells so far
        self._replay_left = 0
        self._replay_head: Control | None = None
        self._replay_cells: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio subclasses
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        t0 = time.perf_counter()
        chunk = self.aligner.feed(data)
        if not chunk:
            return
        if not self._replay_left and ingest_fast(self.track, chunk):
            # the common case: live cells continuing the sequence (what ingest() tries first)
            self._forward([chunk])
        else:
            try:
                self._slow(chunk, time.time_ns())
            except FrameError as e:
                metrics.MALFORMED.labels(self.track.source, "frame").inc()
                log.warning("feed sent invalid cells; closing it", extra={"feed": self.track.source, "error": str(e)})
                assert self.transport is not None
                self.transport.close()
                return
        self.relay.latency.observe(time.perf_counter() - t0)

    def _slow(self, chunk: bytes, now_ns: int) -> None:
        """Everything but the fast path: loss detection with gaps spliced in, state frames, and
        RESUME answers (REPLAY pieces and REPLAY_END), which bypass loss detection and go to the
        consumer that asked, and to no one else."""
        relay = self.relay
        while chunk:
            if self._replay_left:
                n = min(self._replay_left, len(chunk) // CELL_BYTES)
                self._replay_cells.append(chunk[: n * CELL_BYTES])
                self._replay_left -= n
                chunk = chunk[n * CELL_BYTES :]
                if not self._replay_left:
                    assert self._replay_head is not None
                    relay.route_answer(self.track, self._replay_head, b"".join(self._replay_cells))
                    self._replay_head, self._replay_cells = None, []
                continue
            at = chunk[1::CELL_BYTES].find(FrameType.CONTROL)
            live = chunk if at < 0 else chunk[: at * CELL_BYTES]
            if live:
                pieces, gaps = ingest(self.track, live, now_ns)
                label = self.track.name or self.track.source
                for g in gaps:
                    metrics.GAPS.labels(label, g.reason.name.lower()).inc()
                self._forward(pieces)
            if at < 0:
                break
            ctl = decode(chunk, at * CELL_BYTES)
            chunk = chunk[(at + 1) * CELL_BYTES :]
            if not isinstance(ctl, Control) or ctl.op not in (ControlOp.REPLAY, ControlOp.REPLAY_END):
                raise FrameError("a feed may send no control frame but a RESUME answer")
            if ctl.op == ControlOp.REPLAY and ctl.count > REPLAY_PIECE_CELLS:
                raise FrameError(f"a REPLAY piece of {ctl.count} cells (at most {REPLAY_PIECE_CELLS})")
            if ctl.op == ControlOp.REPLAY and ctl.count:
                self._replay_left, self._replay_head, self._replay_cells = ctl.count, ctl, []
            elif ctl.op == ControlOp.REPLAY_END:
                relay.route_answer(self.track, ctl, b"")
        if relay.pending_resumes and self.track.feed_id in relay.pending_resumes:
            relay.send_pending(self.track.feed_id, self)

    def _forward(self, pieces: list[bytes]) -> None:
        exchange = self.track.exchange
        consumers = self.relay.delivery_order
        for piece in pieces:
            arr = None
            for consumer in consumers:
                if consumer.filter.everything:
                    consumer.deliver(self.track, piece)
                else:
                    if arr is None and len(piece) > SHARED_VIEW_MIN_BYTES:
                        arr = np.frombuffer(piece, dtype=CELL_DTYPE)  # one view shared by every filtering consumer
                    consumer.deliver(self.track, consumer.filter.select(piece, arr, exchange))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.aligner.pending_bytes:
            metrics.MALFORMED.labels(self.track.name or self.track.source, "truncated").inc()
            log.warning("feed connection ended inside a frame", extra={"feed": self.track.source})
        if not self.lost.done():
            self.lost.set_result(None)

    def send(self, control: Control) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(encode(control))


def _const(proto: _FeedInput) -> Callable[[], _FeedInput]:
    return lambda: proto


class Relay:
    """Reads every feed socket in ``<sock_dir>/feeds/`` and serves consumers on ``<sock_dir>/relay.sock``."""

    def __init__(
        self,
        sock_dir: Path,
        *,
        listen_tcp: tuple[str, int] | None = None,
        consumer_buffer_bytes: int = 16 << 20,
        scan_interval_s: float = 0.2,
        snapshot_limit: SnapshotLimit | None = None,
        snapshot_coalesce_s: float = 0.2,
        consumer_limit: ConsumerLimit | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.sock_dir = sock_dir
        self.feeds_dir = sock_dir / "feeds"
        self.socket_path = sock_dir / "relay.sock"
        self.listen_tcp = listen_tcp
        self.consumer_buffer_bytes = consumer_buffer_bytes
        self.scan_interval_s = scan_interval_s
        self.snapshot_limit = snapshot_limit or SnapshotLimit()
        self.clock = clock or SystemClock()
        self.snapshot_coalescer = SnapshotCoalescer(snapshot_coalesce_s, self.clock.monotonic_s)
        self._coalesce_timer: asyncio.TimerHandle | None = None
        self.consumer_limit = consumer_limit or ConsumerLimit()
        self.latency = PlainHistogram(metrics.LATENCY_BOUNDS_S)  # alphapulse_relay_latency_seconds (metrics.HOT_PATH)
        metrics.HOT_PATH.relays.add(self)
        self._refusals_logged_s = -LOG_INTERVAL_S
        self.consumers: set[_Consumer] = set()
        self.delivery_order: list[_Consumer] = []  # see reorder()
        self.feeds: dict[str, FeedTrack] = {}  # by socket path
        self.inputs: dict[str, _FeedInput] = {}
        self.consumer_ids = iter(range(1, 1 << 62))
        # RESUME requests in flight: the relay's own request id -> (consumer, its request id).
        # The relay renumbers them so two consumers' ids never collide at a feed.
        self.resumes: dict[int, tuple[_Consumer, int, tuple[int, int]]] = {}  # ... and (feed id, epoch)
        self.pending_resumes: dict[int, list[Control]] = {}  # feed id -> RESUMEs awaiting that feed
        self._resume_ids = iter(range(1, 1 << 32))
        self.tcp_port: int | None = None
        self._servers: list[asyncio.Server] = []
        self._watching: set[str] = set()

    def feed_name(self, feed_id: int) -> str:
        for track in self.feeds.values():
            if track.feed_id == feed_id:
                return track.name or track.source
        return str(feed_id)

    def healthy(self) -> tuple[bool, str]:
        if not self._servers:
            return False, "not serving yet"
        return True, f"ok: {sum(1 for i in self.inputs.values() if i.transport)} feeds, {len(self.consumers)} consumers"

    def admit(self, consumer: _Consumer) -> bool:
        """Whether a new consumer is served (``relay.limits.ConsumerLimit``); a refusal is counted and logged."""
        why = refusal(self.consumer_limit, consumer.address, [c.address for c in self.consumers])
        if why is None:
            return True
        metrics.CONSUMERS_REFUSED.labels(why).inc()
        now = self.clock.monotonic_s()
        if now - self._refusals_logged_s >= LOG_INTERVAL_S:
            self._refusals_logged_s = now
            log.warning(
                "consumer connection refused; more refusals this minute are only counted",
                extra={"reason": why, "address": consumer.address or "unix", "consumers": len(self.consumers)},
            )
        return False

    def reorder(self) -> None:
        """Consumers that subscribed to what they need (trading nodes, bridges) are written to before
        those that take everything (the writer, taps): on two vCPUs the first write's reader is the first
        to be woken, and bulk consumers are not waiting for each frame."""
        self.delivery_order = sorted(self.consumers, key=lambda c: c.filter.everything)

    def on_consumer_control(self, consumer: _Consumer, control: Control) -> None:
        if control.op == ControlOp.RESUME:
            self._resume(consumer, control)
            return
        if control.op in (ControlOp.REPLAY, ControlOp.REPLAY_END):
            return  # answers flow downstream only
        was_everything = consumer.filter.everything
        consumer.filter.apply(control)
        if consumer.filter.everything != was_everything:
            self.reorder()
        wants_snapshot = control.op == ControlOp.SNAPSHOT or (
            control.op == ControlOp.SUBSCRIBE and control.type_mask >> 3 & 1  # FrameType.BOOK
        )
        if not wants_snapshot or not consumer.snapshots.allow():  # relay.limits: a bound per consumer
            return
        request = Control(ControlOp.SNAPSHOT, control.symbol_id, request_id=control.request_id, ts_ns=time.time_ns())
        for path, feed_input in self.inputs.items():
            track = self.feeds[path]
            if control.symbol_id and control.symbol_id not in track.instruments:
                continue
            if control.exchange_mask and track.exchange is not None and not control.exchange_mask >> track.exchange & 1:
                continue
            if self.snapshot_coalescer.offer(path, request):  # relay.limits: one per feed and book per interval
                feed_input.send(request)
            elif self._coalesce_timer is None:
                self._arm_coalesce_timer()

    def _arm_coalesce_timer(self) -> None:
        due = self.snapshot_coalescer.next_due_s()
        if due is None:
            self._coalesce_timer = None
            return
        delay = max(0.0, due - self.clock.monotonic_s())
        self._coalesce_timer = asyncio.get_running_loop().call_later(delay, self._send_coalesced)

    def _send_coalesced(self) -> None:
        for path, request in self.snapshot_coalescer.due():
            feed_input = self.inputs.get(path)
            if feed_input is not None:  # a feed gone since: its next session publishes each book whole from the venue
                feed_input.send(dataclasses.replace(request, ts_ns=time.time_ns()))
        self._arm_coalesce_timer()

    def _resume(self, consumer: _Consumer, control: Control) -> None:
        """Pass a consumer's RESUME to the feed it names (now, or once that feed connects)."""
        key = (control.symbol_id, control.epoch_ns)
        if any(c is consumer and k == key for c, _, k in self.resumes.values()):
            # one open answer per consumer and feed session: an answer copies up to a whole ring,
            # and a peer repeating RESUME must not make a collector serialize it many times over
            log.warning("RESUME repeated while its answer is open; ignored", extra={"consumer": consumer.name})
            return
        rid = next(self._resume_ids, 0)
        if rid == 0:  # 2**32 requests in one relay's life: start again (long answered by then)
            self._resume_ids = iter(range(1, 1 << 32))
            rid = next(self._resume_ids)
        self.resumes[rid] = (consumer, control.request_id, key)
        request = dataclasses.replace(control, request_id=rid, ts_ns=time.time_ns(), seq=0)
        for path, feed_input in self.inputs.items():
            if self.feeds[path].feed_id == control.symbol_id:
                feed_input.send(request)
                return
        # not connected yet (a relay just started, a collector restarting): ask when it is
        self.pending_resumes.setdefault(control.symbol_id, []).append(request)

    def send_pending(self, feed_id: int, feed_input: _FeedInput) -> None:
        for request in self.pending_resumes.pop(feed_id, []):
            if request.request_id in self.resumes:
                feed_input.send(request)

    def route_answer(self, track: FeedTrack, head: Control, cells: bytes) -> None:
        """A REPLAY piece (header + cells) or REPLAY_END, to the consumer that asked, with its own request id."""
        if head.op == ControlOp.REPLAY_END:
            asked = self.resumes.pop(head.request_id, None)
        else:
            asked = self.resumes.get(head.request_id)
        if asked is None:
            return  # that consumer left, or the request is unknown: drop it
        consumer, request_id, _ = asked
        data = encode(dataclasses.replace(head, request_id=request_id)) + cells
        if head.op == ControlOp.REPLAY_END:
            # one cell, never dropped: the consumer waits for it to close the answer
            if consumer.transport is not None and not consumer.transport.is_closing():
                consumer.transport.write(data)
        else:
            consumer.deliver(track, data)  # a slow consumer drops it whole and gets a SLOW_CONSUMER gap

    def forget_resumes(self, consumer: _Consumer) -> None:
        gone = {rid for rid, (c, _, _) in self.resumes.items() if c is consumer}
        if not gone:
            return
        for rid in gone:
            del self.resumes[rid]
        # requests still waiting for a feed that never came back must not pile up across reconnects
        for fid, waiting in list(self.pending_resumes.items()):
            kept = [r for r in waiting if r.request_id not in gone]
            if kept:
                self.pending_resumes[fid] = kept
            else:
                del self.pending_resumes[fid]

    async def start(self) -> None:
        if not fastpath.COMPILED:
            log.warning(
                "the relay's per-read checks were not built (no C compiler at install): running their "
                "pure-Python equivalents, same results, a few microseconds more per read (docs/architecture.md)"
            )
        loop = asyncio.get_running_loop()
        self.feeds_dir.mkdir(parents=True, exist_ok=True)
        sock = bind_unix_socket(self.socket_path)
        self._servers.append(await loop.create_unix_server(lambda: _Consumer(self, "unix"), sock=sock))
        if self.listen_tcp is not None:
            server = await loop.create_server(lambda: _Consumer(self, "tcp"), *self.listen_tcp, reuse_address=True)
            self.tcp_port = server.sockets[0].getsockname()[1]
            self._servers.append(server)
        log.info("relay serving", extra={"socket": str(self.socket_path), "tcp_port": self.tcp_port})

    async def run(self) -> None:
        """Serve until cancelled; feed sockets are picked up as they appear."""
        if not self._servers:
            await self.start()
        try:
            async with asyncio.TaskGroup() as tg:
                while True:
                    for path in self._scan():
                        if path not in self.inputs and path not in self._watching:
                            self._watching.add(path)
                            tg.create_task(self._follow(path), name=f"relay.feed.{Path(path).stem}")
                    await self.clock.sleep(self.scan_interval_s)
        finally:
            await self.close()

    def _scan(self) -> list[str]:
        try:
            with os.scandir(self.feeds_dir) as it:
                return sorted(e.path for e in it if e.name.endswith(".sock"))
        except FileNotFoundError:
            return []

    async def _follow(self, path: str) -> None:
        """Stay connected to one feed socket while its file exists; reconnect when its collector restarts."""
        loop = asyncio.get_running_loop()
        track = self.feeds.setdefault(path, FeedTrack(source=Path(path).stem))
        delay = 0.02
        try:
            while os.path.exists(path):
                lost: asyncio.Future[None] = loop.create_future()
                proto = _FeedInput(self, track, lost)
                try:
                    await asyncio.wait_for(loop.create_unix_connection(_const(proto), path), 2)
                except (OSError, TimeoutError):
                    await self.clock.sleep(delay)
                    delay = min(delay * 2, 1.0)
                    continue
                delay = 0.02
                self.inputs[path] = proto
                metrics.FEEDS_CONNECTED.set(len(self.inputs))
                log.info("feed connected", extra={"feed": track.source})
                try:
                    await lost
                finally:
                    self.inputs.pop(path, None)
                    metrics.FEEDS_CONNECTED.set(len(self.inputs))
                log.info("feed disconnected", extra={"feed": track.source})
        finally:
            self._watching.discard(path)

    async def close(self) -> None:
        if self._coalesce_timer is not None:
            self._coalesce_timer.cancel()
            self._coalesce_timer = None
        for server in self._servers:
            server.close()
        for consumer in list(self.consumers):
            if consumer.transport is not None:
                consumer.transport.close()
        for feed_input in list(self.inputs.values()):
            if feed_input.transport is not None:
                feed_input.transport.close()
        self._servers.clear()
        self.socket_path.unlink(missing_ok=True)
