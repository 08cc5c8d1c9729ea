"""The ``picows`` client behind :class:`~alphapulse.collectors.transport.WsClient`.

picows parses frames in C straight out of the socket read and calls :meth:`_Listener.on_ws_frame`
for each. Two ways to hand the messages over:

* *push* (:meth:`PicowsClient.push`, what the collector uses): picows marks the last frame of each
  socket read (``WSFrame.last_in_buffer``); there the listener hands the read's messages to the
  handler synchronously, still inside the read. No future, no task wake-up, no loop iteration
  between the bytes arriving and the frames leaving for the feed socket (the pull path costs one
  task wake-up per read, ~15 µs at 1,000 msg/s on the 2-vCPU VM, where every wake-up finds cold
  caches). So that the end of every read is seen, PINGs are answered here rather than by picows
  (which would swallow a PING that ends a read) and the PONG to our own ping is recognised here too.
* *pull* (:meth:`PicowsClient.recv_batch`): the listener copies payloads into a list and wakes the
  reader once per read; when more than ``max_queue`` messages wait unread the socket stops being
  read until the reader catches up.

Fragmented messages are reassembled (capped at the same size as a single frame); our own pings go
out every ``ping_interval_s`` and a missing PONG within ``ping_timeout_s`` drops the connection,
like the websockets client.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable

from picows import (
    WSAutoPingStrategy,
    WSCloseCode,
    WSError,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    ws_connect,
)

from alphapulse.collectors.transport import ClientOptions, WsClosed, WsConnectError

__all__ = ("PicowsClient", "open_picows")

log = logging.getLogger(__name__)

_TEXT, _BINARY, _CONT, _CLOSE = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION, WSMsgType.CLOSE
_PING, _PONG = WSMsgType.PING, WSMsgType.PONG


class _Listener(WSListener):
    def __init__(self, max_message_bytes: int, max_queue: int) -> None:
        super().__init__()
        self.pending: list[bytes] = []
        self.waiter: asyncio.Future[None] | None = None
        self.closed = False
        self.stopped = False  # a CLOSE was received or sent: deliver nothing more
        self.close_code: int | None = None
        self.paused = False
        self.transport: WSTransport | None = None
        self._fragments: bytearray | None = None
        self._max_bytes = max_message_bytes
        self._max_queue = max_queue
        self.on_batch: Callable[[list[bytes]], None] | None = None  # push mode: called at the end of each read
        self.error: BaseException | None = None  # what the push handler raised (ends the connection)

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if self.stopped:
            return  # closing: what follows our CLOSE (or the peer's) is not delivered
        self._frame(transport, frame)
        if frame.last_in_buffer and self.pending and self.on_batch is not None and not self.stopped:
            self.hand_over()

    def is_user_specific_pong(self, frame: WSFrame) -> bool:
        # picows asks this (while it waits for the PONG to its auto-ping) before on_ws_frame, and
        # swallows the frame when we say yes: a PONG that ends a read must still end the batch
        if frame.msg_type is not _PONG:
            return False
        if frame.last_in_buffer and self.pending and self.on_batch is not None and not self.stopped:
            self.hand_over()
        return True

    def hand_over(self) -> None:
        """Push mode: give the handler every message of this read, now."""
        assert self.on_batch is not None
        batch, self.pending = self.pending, []
        try:
            self.on_batch(batch)
        except Exception as e:  # the pull reader would have raised it: end the connection the same way
            self.error = e
            self.on_batch = None
            if self.transport is not None:  # always set once frames arrive
                self._fail(self.transport, WSCloseCode.INTERNAL_ERROR, b"internal error")
            self._wake()

    def _frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is _TEXT or kind is _BINARY:
            if frame.payload_size > self._max_bytes:
                # picows refuses it too, but still hands over what it had parsed: refuse it here
                self._fail(transport, WSCloseCode.MESSAGE_TOO_BIG, b"message too big")
            elif frame.fin:
                self._deliver(frame.get_payload_as_bytes())
            else:
                self._fragments = bytearray(frame.get_payload_as_memoryview())
        elif kind is _CONT:
            parts = self._fragments
            if parts is None:
                self._fail(transport, WSCloseCode.PROTOCOL_ERROR, b"continuation without a first frame")
                return
            parts += frame.get_payload_as_memoryview()
            if len(parts) > self._max_bytes:
                self._fail(transport, WSCloseCode.MESSAGE_TOO_BIG, b"message too big")
            elif frame.fin:
                self._fragments = None
                self._deliver(bytes(parts))
        elif kind is _PING:
            transport.send_pong(frame.get_payload_as_bytes())
        elif kind is _CLOSE:
            code = frame.get_close_code()
            self.close_code = int(code.value)
            self.stopped = True
            with contextlib.suppress(Exception):
                transport.send_close(code)  # echo it: the close handshake is complete
            transport.disconnect()

    def _deliver(self, data: bytes) -> None:
        pending = self.pending
        pending.append(data)
        if self.on_batch is not None:
            return  # push mode: handed over at the end of the read
        if len(pending) == 1:
            self._wake()
        elif len(pending) > self._max_queue and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.underlying_transport.pause_reading()

    def _fail(self, transport: WSTransport, code: WSCloseCode, why: bytes) -> None:
        self._fragments = None
        self.stopped = True
        transport.send_close(code, why)
        transport.disconnect()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.closed = True
        self._wake()


class PicowsClient:
    def __init__(self, transport: WSTransport, listener: _Listener, close_timeout_s: float) -> None:
        self.transport = transport
        self.listener = listener
        self.close_timeout_s = close_timeout_s
        # picows keeps a local failure (a protocol error, a ping timeout) on this future: collect it,
        # so it is neither lost unlogged nor reported as never retrieved
        self._ended = asyncio.ensure_future(transport.wait_disconnected())
        self._ended.add_done_callback(_log_failure)

    def push(self, handler: Callable[[list[bytes]], None]) -> None:
        """From now on, call ``handler`` with every socket read's messages at the end of that read
        (synchronously, inside the read); messages already waiting go first, now. ``recv_batch``
        then only waits for the end: it raises WsClosed, or what the handler raised."""
        lst = self.listener
        lst.on_batch = handler
        if lst.pending and not lst.stopped:
            lst.hand_over()
        if lst.paused and not lst.closed:
            lst.paused = False
            self.transport.underlying_transport.resume_reading()

    async def recv_batch(self) -> list[bytes]:
        lst = self.listener
        while not lst.pending:
            if lst.error is not None:
                raise lst.error
            if lst.closed:
                raise WsClosed(lst.close_code)
            lst.waiter = asyncio.get_running_loop().create_future()
            try:
                await lst.waiter
            finally:
                lst.waiter = None
        batch, lst.pending = lst.pending, []
        if lst.paused and not lst.closed:
            lst.paused = False
            self.transport.underlying_transport.resume_reading()
        return batch

    async def send(self, message: str) -> None:
        if self.listener.closed:
            raise WsClosed(self.listener.close_code)
        self.transport.send(_TEXT, message.encode())

    async def close(self, code: int = 1000, reason: str = "") -> None:
        transport = self.transport
        if not self.listener.closed:
            self.listener.stopped = True
            with contextlib.suppress(Exception):
                transport.send_close(WSCloseCode(code), reason.encode()[:120])
            # wait for the peer's CLOSE (the listener then disconnects), as long as close_timeout_s
            with contextlib.suppress(Exception):  # a timeout, or the failure that ended it (logged)
                await asyncio.wait_for(asyncio.shield(self._ended), self.close_timeout_s)
        transport.disconnect(graceful=False)


def _log_failure(ended: "asyncio.Future[None]") -> None:
    if not ended.cancelled() and (e := ended.exception()) is not None:
        log.info("picows connection ended on %r", e)


async def open_picows(url: str, options: ClientOptions) -> PicowsClient:
    o = options

    def factory() -> _Listener:
        return _Listener(o.max_message_bytes, o.max_queue)

    ping_s, pong_s = o.ping_interval_s, o.ping_timeout_s
    try:
        transport, listener = await ws_connect(
            factory,
            url,
            websocket_handshake_timeout=o.open_timeout_s,
            enable_auto_ping=ping_s is not None,
            auto_ping_idle_timeout=ping_s if ping_s is not None else 20.0,
            auto_ping_reply_timeout=pong_s if pong_s is not None else 1e9,  # None: never give up (as websockets)
            auto_ping_strategy=WSAutoPingStrategy.PING_PERIODICALLY,
            enable_auto_pong=False,  # the listener answers PINGs: one ending a read must end the batch (push)
            max_frame_size=o.max_message_bytes,
            max_redirects=0,
        )
    except WSError as e:
        raise WsConnectError(repr(e)) from e
    assert isinstance(listener, _Listener)
    return PicowsClient(transport, listener, o.close_timeout_s)
