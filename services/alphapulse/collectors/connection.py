"""The WebSocket life cycle every venue shares: connect, subscribe, read, detect silence, reconnect.

* connect and subscribe timeouts; a connection that never gets its subscription acknowledged is
  dropped and retried;
* idle detection: no message at all for ``idle_timeout_s`` means the connection is dead even if TCP
  says otherwise (Status STALE, then reconnect);
* reconnect with capped exponential backoff and jitter, all waiting through the ``Clock`` seam so the
  schedule is tested on a FakeClock;
* every disconnect publishes Status(DISCONNECTED) and Gap(RECONNECT): whatever the venue sent
  meanwhile is lost, and consumers are told so;
* subscriptions are re-sent on every connection, paced (venues count control messages);
* messages larger than ``max_message_bytes`` close the connection: a server cannot make the
  collector buffer without bound;
* the WebSocket client is a seam (:mod:`alphapulse.collectors.transport`): picows (default) or
  websockets, chosen by ``ALPHAPULSE_WS_CLIENT``; every message that arrived in one socket read is
  parsed, then the frames are flushed to the feed socket once — with picows inside the read itself
  (push mode: no task wake-up, no loop iteration between the bytes arriving and the frames leaving);
* rotation (Binance closes connections after 24 h): open a new connection before the old one
  expires, read both until the new one repeats a message the old one delivered (they overlap), then
  close the old one; the parser drops what it sees twice by id, so nothing is lost or duplicated.
"""

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from alphapulse.clock import Clock
from alphapulse.collectors.metrics import CollectorMetrics
from alphapulse.collectors.output import FrameWriter
from alphapulse.collectors.parsing import Action, VenueParser
from alphapulse.collectors.transport import ClientOptions, Opener, WsClient, WsClosed, WsConnectError, opener_for
from alphapulse.protocol import FeedState, GapReason

__all__ = ("Backoff", "ConnectionSettings", "VenueConnection")

log = logging.getLogger(__name__)

_CONNECT_ERRORS = (OSError, TimeoutError, WsConnectError, asyncio.TimeoutError)
_RECENT_MAX = 4096  # raw messages remembered during a rotation's overlap
_SAMPLE_EVERY = 64  # latency histograms observe one message in this many (prometheus observe ~1 µs)


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    connect_timeout_s: float = 10.0
    subscribe_timeout_s: float = 10.0
    idle_timeout_s: float | None = 10.0  # None: rely on WebSocket pings (Binance: quiet symbols are normal)
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    backoff_factor: float = 2.0
    backoff_jitter: float = 0.2  # +-20 %: reconnecting collectors do not stampede the venue
    max_message_bytes: int = 8 << 20
    max_queue: int = 64  # messages buffered unread before the client stops reading the socket
    ping_interval_s: float | None = 20.0
    ping_timeout_s: float | None = 20.0
    subscribe_interval_s: float = 0.25  # Binance counts control messages (5/s); Coinbase 8/s per IP
    rotate_after_s: float | None = None  # Binance: 23 h (the venue's limit is 24 h)
    overlap_max_s: float = 5.0
    watchdog_interval_s: float = 0.5
    ws_client: str | None = None  # picows | websockets; None: ALPHAPULSE_WS_CLIENT, else picows


class Backoff:
    """Capped exponential delays with multiplicative jitter: initial, ×factor per failure, at most max."""

    def __init__(
        self, initial_s: float, max_s: float, factor: float = 2.0, jitter: float = 0.0, rng: random.Random | None = None
    ) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.factor = factor
        self.jitter = jitter
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_s(self) -> float:
        delay = min(self.max_s, self.initial_s * self.factor**self.attempt)
        self.attempt += 1
        if self.jitter:
            delay = min(self.max_s, delay * (1.0 + self._rng.uniform(-self.jitter, self.jitter)))
        return delay

    def reset(self) -> None:
        self.attempt = 0


class VenueConnection:
    def __init__(
        self,
        parser: VenueParser,
        url: str,
        writer: FrameWriter,
        clock: Clock,
        settings: ConnectionSettings,
        *,
        metrics: CollectorMetrics | None = None,
        on_action: Callable[[Action], None] | None = None,
        max_failures: int | None = None,
        rng: random.Random | None = None,
        connector: Opener | None = None,
    ) -> None:
        self.parser = parser
        self.url = url
        self.writer = writer
        self.clock = clock
        self.settings = settings
        self.metrics = metrics
        self.on_action = on_action or (lambda _a: None)
        self.max_failures = max_failures
        s = settings
        self.backoff = Backoff(s.backoff_initial_s, s.backoff_max_s, s.backoff_factor, s.backoff_jitter, rng)
        self._connector = connector or opener_for(settings.ws_client)
        self._ws: WsClient | None = None
        self._last_recv_s = 0.0
        self._opened_s = 0.0
        self._recent: set[bytes] | None = None
        self._recent_order: deque[bytes] = deque()
        self._rotate_now = asyncio.Event()
        self._handover: tuple[WsClient, list[tuple[bytes, int]]] | None = None
        self.connections = 0
        self.rotations = 0

    @property
    def connected(self) -> bool:
        return self._ws is not None

    # -- the outer loop ---------------------------------------------------------------------------
    async def run(self) -> None:
        failures = 0
        while True:
            self._status(FeedState.CONNECTING)
            try:
                ws = await self._open()
            except _CONNECT_ERRORS as e:
                failures += 1
                log.warning("connect to %s failed (%s): %r", self.url, failures, e)
                if self.max_failures is not None and failures >= self.max_failures:
                    raise
                await self.clock.sleep(self.backoff.next_s())
                continue
            failures = 0
            if self.metrics is not None:
                self.metrics.connected = True
            reason = await self._session(ws)
            self._ws = None
            if self.metrics is not None:
                self.metrics.connected = False
            self.writer.reconnects += 1
            if self.metrics is not None:
                self.metrics.reconnects += 1
            self.parser.on_disconnect()
            now = self.clock.now_ns()
            self.writer.status(FeedState.DISCONNECTED, now)
            self.writer.gap(GapReason.RECONNECT, now)
            self.writer.flush()
            log.warning("disconnected from %s: %s; reconnecting", self.url, reason)
            await self.clock.sleep(self.backoff.next_s())

    def _status(self, state: FeedState, detail: int = 0) -> None:
        if self.writer.state is not state:
            self.writer.status(state, self.clock.now_ns(), detail)
            self.writer.flush()

    async def _open(self) -> WsClient:
        s = self.settings
        options = ClientOptions(
            open_timeout_s=s.connect_timeout_s,
            max_message_bytes=s.max_message_bytes,
            max_queue=s.max_queue,
            ping_interval_s=s.ping_interval_s,
            ping_timeout_s=s.ping_timeout_s,
        )
        ws = await asyncio.wait_for(self._connector(self.url, options), s.connect_timeout_s)
        self.connections += 1
        self._opened_s = self._last_recv_s = self.clock.monotonic_s()
        return ws

    async def _subscribe(self, ws: WsClient) -> None:
        for i, msg in enumerate(self.parser.subscribe_messages()):
            if i:
                await self.clock.sleep(self.settings.subscribe_interval_s)
            await ws.send(msg)

    # -- one connection (and its rotations) ---------------------------------------------------------
    async def _session(self, ws: WsClient) -> str:
        self.parser.on_connect()
        self._ws = ws
        self._status(FeedState.CONNECTED)
        subscribing = asyncio.create_task(self._subscribe(ws), name="collector.subscribe")
        reason = "closed"
        try:
            while True:
                reader = asyncio.create_task(self._read(ws), name="collector.read")
                watchdog = asyncio.create_task(self._watch(ws), name="collector.watchdog")
                rotation = None
                if self.settings.rotate_after_s is not None:
                    rotation = asyncio.create_task(self._rotate(ws), name="collector.rotate")
                try:
                    reason = await reader
                finally:
                    for t in (watchdog, rotation):
                        if t is not None:
                            t.cancel()
                            with contextlib.suppress(asyncio.CancelledError, Exception):
                                await t
                if self._handover is None:
                    return reason
                ws, buffered = self._handover
                self._handover = None
                self._ws = ws
                self.rotations += 1
                for data, recv_ns in buffered:
                    self._process(ws, (data,), recv_ns)
                log.info("rotated the connection to %s (%d messages overlapped)", self.url, len(buffered))
        finally:
            subscribing.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await subscribing
            if self._ws is not None:
                with contextlib.suppress(Exception):
                    await self._ws.close()

    async def _read(self, ws: WsClient) -> str:
        def on_batch(batch: list[bytes]) -> None:
            self._last_recv_s = mono()
            recent = self._recent
            if recent is not None:
                for data in batch:
                    self._remember(recent, data)
            # one receive time per socket read: the messages arrived together
            self._process(ws, batch, now_ns())

        now_ns, mono = self.clock.now_ns, self.clock.monotonic_s
        push: Callable[[Callable[[list[bytes]], None]], None] | None = getattr(ws, "push", None)
        if push is not None:
            # picows: each read is parsed and flushed inside the read itself (no task wake-up per
            # read); recv_batch then only reports the end of the connection
            push(on_batch)
        try:
            while True:
                on_batch(await ws.recv_batch())
        except WsClosed as e:
            return f"connection closed ({'no close frame' if e.code is None else e.code})"

    def _process(self, ws: WsClient, batch: "list[bytes] | tuple[bytes]", recv_ns: int) -> None:
        parser, writer = self.parser, self.writer
        feed = parser.feed
        for data in batch:
            feed(data, recv_ns)
        if parser.actions:
            self._actions(ws)
        if writer.buf:
            metrics = self.metrics
            if metrics is not None:
                metrics.flushes += 1
                if metrics.flushes % _SAMPLE_EVERY == 0:
                    metrics.observe(writer, recv_ns, time.time_ns())
            writer.flush()
        if not parser.subscribed or writer.state is FeedState.SUBSCRIBED:
            return
        if writer.state is FeedState.CONNECTED:
            self._status(FeedState.SUBSCRIBED)
            self.backoff.reset()  # the connection works: the next failure starts the schedule over

    def _actions(self, ws: WsClient) -> None:
        actions, self.parser.actions = self.parser.actions, []
        for action in actions:
            if action.kind == "resubscribe_book":
                for msg in self.parser.resubscribe_book_messages(action.natives):
                    task = asyncio.ensure_future(ws.send(msg))
                    task.add_done_callback(_ignore_result)
            elif action.kind == "rotate":
                self._rotate_now.set()
            else:
                self.on_action(action)

    async def _watch(self, ws: WsClient) -> None:
        s, mono = self.settings, self.clock.monotonic_s
        while True:
            await self.clock.sleep(s.watchdog_interval_s)
            now = mono()
            if not self.parser.subscribed and now - self._opened_s > s.subscribe_timeout_s:
                log.warning("no subscription acknowledged within %.1f s: reconnecting", s.subscribe_timeout_s)
                await ws.close(1000, "subscribe timeout")
                return
            if s.idle_timeout_s is not None and now - self._last_recv_s > s.idle_timeout_s:
                log.warning("nothing received for %.1f s: the connection is stale; reconnecting", s.idle_timeout_s)
                self._status(FeedState.STALE)
                await ws.close(1000, "idle")
                return

    # -- rotation ----------------------------------------------------------------------------------
    def _remember(self, recent: set[bytes], data: bytes) -> None:
        order = self._recent_order
        recent.add(data)
        order.append(data)
        if len(order) > _RECENT_MAX:
            recent.discard(order.popleft())

    async def _rotate(self, old: WsClient) -> None:
        s = self.settings
        assert s.rotate_after_s is not None
        self._rotate_now.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._rotate_now.wait(), s.rotate_after_s)
        backoff = Backoff(s.backoff_initial_s, s.backoff_max_s, s.backoff_factor, s.backoff_jitter)
        while True:
            self._recent, self._recent_order = set(), deque()
            try:
                new = await self._open()
            except _CONNECT_ERRORS as e:
                log.warning("rotation: opening the new connection failed: %r", e)
                self._recent = None
                await self.clock.sleep(backoff.next_s())
                continue
            break
        buffered: list[tuple[bytes, int]] = []
        try:
            await self._subscribe(new)
            deadline = self.clock.monotonic_s() + s.overlap_max_s
            while True:
                remaining = deadline - self.clock.monotonic_s()
                if remaining <= 0:
                    break
                try:
                    batch = await asyncio.wait_for(new.recv_batch(), remaining)
                except TimeoutError:
                    break
                recv_ns = self.clock.now_ns()
                buffered += [(data, recv_ns) for data in batch]
                recent: set[bytes] | None = self._recent  # the old reader keeps adding to it
                if recent is not None and any(d in recent and not self.parser.is_control(d) for d in batch):
                    break  # the new connection repeats what the old one delivered: they overlap
                if len(buffered) >= _RECENT_MAX:
                    break
        except WsClosed as e:
            log.warning("rotation: the new connection closed during the overlap: %r", e)
            self._recent = None
            return
        self._recent = None
        self._handover = (new, buffered)
        await old.close(1000, "rotated")


def _ignore_result(task: "asyncio.Future[None]") -> None:
    if not task.cancelled():
        task.exception()
