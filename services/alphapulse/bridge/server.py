"""The WebSocket shell around :class:`BridgeCore`: ``/ws`` for browsers, ``/metrics`` and
``/healthz`` on the same port (answered in websockets' ``process_request``, before any upgrade).

websockets does the handshake, reading, pings and closing. Data frames take a shorter path: the
core hands one UTF-8 JSON payload per client per tick to :class:`WebSocketSink`, which writes a
complete, unmasked text frame straight to the transport — what ``broadcast()`` does minus the
per-client frame object, and with the write buffer checked so a stalled client is noticed.
"""

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import Final

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from alphapulse.bridge.clients import Client
from alphapulse.bridge.core import BridgeCore
from alphapulse.bridge.messages import (
    Auth,
    ClientMessageError,
    CloseCode,
    Ping,
    Subscribe,
    Unsubscribe,
    parse_client_message,
)
from alphapulse.bridge.render import render_reply
from alphapulse.proxies import TrustedProxies
from alphapulse.ratelimit import TokenBucket
from alphapulse.tokens import TokenError, verify_token

__all__ = ("BridgeServer", "WebSocketSink", "origin_allowed", "text_frame")

log = logging.getLogger(__name__)
# websockets logs every connection and every /healthz probe at INFO: keep its warnings and errors only
_ws_log = logging.getLogger("alphapulse.bridge.websockets")
_ws_log.setLevel(logging.WARNING)

HealthCheck = Callable[[], tuple[bool, str]]
WS_PATH: Final = "/ws"
_BACKLOG_INTERVAL_S: Final = 0.01
_CLOSE_TIMEOUT_S: Final = 2.0  # a closing handshake longer than this: the peer is gone or not reading
_EXPIRY_INTERVAL_S: Final = 1.0
_PENDING_FULL: Final = "too many connections waiting to authenticate (at most {}); try again later"
_ADDRESS_PENDING_FULL: Final = "too many connections from {} waiting to authenticate (at most {}); try again later"
_CLOSE_REASON_MAX_BYTES: Final = 123  # a close frame's payload is at most 125 bytes, 2 of them the code
_H1 = struct.Struct("!BB")
_H2 = struct.Struct("!BBH")
_H8 = struct.Struct("!BBQ")
_FIN_TEXT: Final = 0x81


def text_frame(payload: bytes) -> bytes:
    """One final, unmasked (server → client) WebSocket text frame, RFC 6455 §5.2."""
    n = len(payload)
    if n < 126:
        return _H1.pack(_FIN_TEXT, n) + payload
    if n < 65536:
        return _H2.pack(_FIN_TEXT, 126, n) + payload
    return _H8.pack(_FIN_TEXT, 127, n) + payload


def origin_allowed(origin: str | None, allowed: Sequence[str], host: str | None = None) -> bool:
    """Browsers always send Origin; tools (curl, tests, servers) usually do not and are let through.

    Allowed: a listed origin, anything with ``*``, and the same origin as the request's ``Host``
    (a dashboard served from the host that also routes ``/ws``, the usual single-ingress setup).
    """
    if origin is None or "*" in allowed or origin in allowed:
        return True
    _, sep, netloc = origin.partition("://")
    return bool(sep) and host is not None and netloc.lower() == host.lower()


def _reason(text: str) -> str:
    raw = text.encode()[:_CLOSE_REASON_MAX_BYTES]
    return raw.decode(errors="ignore")


class WebSocketSink:
    __slots__ = ("_conn", "_server")

    def __init__(self, conn: ServerConnection, server: "BridgeServer") -> None:
        self._conn = conn
        self._server = server

    def write(self, data: bytes) -> None:
        conn = self._conn
        # Only in OPEN: once a close frame is queued, nothing may follow it. Our frames are whole
        # and written synchronously, so they never interleave with websockets' own frames.
        if conn.protocol.state is State.OPEN:
            server = self._server
            last_payload, frame = server.last_frame
            if last_payload is not data:  # the same payload goes to a whole group: frame it once
                frame = text_frame(data)
                server.last_frame = (data, frame)
            conn.transport.write(frame)

    def buffered_bytes(self) -> int:
        return self._conn.transport.get_write_buffer_size()

    def close(self, code: int, reason: str) -> None:
        self._server.spawn_close(self._conn, code, reason)


class BridgeServer:
    def __init__(
        self,
        core: BridgeCore,
        key: bytes,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        allowed_origins: Sequence[str] = (),
        registry: CollectorRegistry = REGISTRY,
        health: HealthCheck | None = None,
        trusted_proxies: TrustedProxies | None = None,
    ) -> None:
        self.core = core
        self.host = host
        self.port = port
        self._key = key
        self._allowed_origins = tuple(allowed_origins)
        self._registry = registry
        self._health = health or (lambda: (True, "ok"))
        self._server: Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.last_frame: tuple[bytes, bytes] = (b"", b"")  # (payload, its WebSocket frame)
        self._ticker: asyncio.Task[None] | None = None
        self._someone_behind = asyncio.Event()
        core.on_behind = self._someone_behind.set
        self._pending = 0  # connections upgraded and not authenticated yet
        self._pending_by_address: dict[str, int] = {}  # the same, per client address
        self._proxies = trusted_proxies or TrustedProxies(())

    async def start(self) -> None:
        limits = self.core.limits
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._process_request,
            compression=None,  # market data: deflate costs more CPU than it saves on a LAN/loopback
            max_size=limits.max_message_bytes,
            max_queue=16,
            ping_interval=20,
            ping_timeout=20,
            close_timeout=_CLOSE_TIMEOUT_S,
            server_header=None,
            logger=_ws_log,
        )
        sock = next(iter(self._server.sockets))
        self.port = sock.getsockname()[1]
        self._ticker = asyncio.create_task(self._tick_backlog(), name="bridge.backlog")
        log.info("bridge listening", extra={"url": f"ws://{self.host}:{self.port}{WS_PATH}"})
        if self._proxies.entries == ("*",):
            log.warning(
                "trusting X-Forwarded-For from every peer: any client that reaches the bridge directly can pick the "
                "address its connections are counted under (docs/security.md)"
            )
        elif self._proxies:
            log.info("client address from X-Forwarded-For of %s", ", ".join(self._proxies.entries))

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._server is not None:
            self._server.close()  # closes every connection with 1001 going away
            await self._server.wait_closed()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def spawn_close(self, conn: ServerConnection, code: int, reason: str) -> None:
        task = asyncio.create_task(self._close_or_abort(conn, code, _reason(reason)), name="bridge.close")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_or_abort(self, conn: ServerConnection, code: int, reason: str) -> None:
        # websockets' close() drains the socket before its close timeout starts, with no limit: a
        # peer that stopped reading (the very client a 4008 is for) would keep the connection, its
        # task and megabytes of buffers forever. Past the timeout the transport is aborted.
        try:
            async with asyncio.timeout(_CLOSE_TIMEOUT_S * 2):
                await conn.close(code, reason)
        except TimeoutError:
            conn.transport.abort()

    async def _tick_backlog(self) -> None:
        """Every few ms while a client is behind, its backlog; every second, token expiry and snapshot
        retries. With nobody behind it sleeps until the next second or until someone falls behind."""
        core = self.core
        next_expiry_s = 0.0
        while True:
            if not core.behind_clients:
                self._someone_behind.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, next_expiry_s - time.monotonic())):
                        await self._someone_behind.wait()
            await asyncio.sleep(_BACKLOG_INTERVAL_S)
            core.service_backlog()
            now = time.monotonic()
            if now >= next_expiry_s:
                next_expiry_s = now + _EXPIRY_INTERVAL_S
                core.expire_tokens(time.time())
                core.retry_snapshots()

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/metrics":
            headers = Headers([("Content-Type", CONTENT_TYPE_LATEST)])
            return Response(200, "OK", headers, generate_latest(self._registry))
        if path in {"/healthz", "/readyz"}:
            ok, reason = self._health()
            return conn.respond(HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE, reason + "\n")
        if path == "/livez":
            # the loop answered: alive. Not tied to the relay, so a relay outage (which /healthz
            # reports) does not get every bridge restarted and every browser disconnected.
            return conn.respond(HTTPStatus.OK, "alive\n")
        if path != WS_PATH:
            return conn.respond(HTTPStatus.NOT_FOUND, f"not found: the bridge's WebSocket endpoint is {WS_PATH}\n")
        origin = request.headers.get("Origin")
        if not origin_allowed(origin, self._allowed_origins, request.headers.get("Host")):
            self.core.metrics.reject("origin")
            return conn.respond(HTTPStatus.FORBIDDEN, f"origin {origin} is not allowed (see --allowed-origin)\n")
        full = self._pending_full(self._address(conn, request))
        if full is not None:
            # before the upgrade, the cheapest refusal; _handle keeps the exact bounds for handshakes in flight
            self.core.metrics.reject(full[0])
            response = conn.respond(HTTPStatus.SERVICE_UNAVAILABLE, full[1])
            response.headers["Retry-After"] = "1"
            return response
        return None

    def _address(self, conn: ServerConnection, request: Request | None) -> str:
        """The client's address: the TCP peer's, or the one a trusted proxy forwarded for it."""
        peer = conn.remote_address
        host = str(peer[0]) if isinstance(peer, tuple) and peer else "unix"
        if not self._proxies or request is None:
            return host
        return self._proxies.client(host, request.headers.get_all("X-Forwarded-For"))

    def _pending_full(self, address: str) -> tuple[str, str] | None:
        """(metric label, reason) when a connection from ``address`` may not wait to authenticate now."""
        limits = self.core.limits
        if self._pending >= limits.max_pending:
            return "pending_limit", _PENDING_FULL.format(limits.max_pending)
        if self._pending_by_address.get(address, 0) >= limits.max_pending_per_address:
            return "address_pending_limit", _ADDRESS_PENDING_FULL.format(address, limits.max_pending_per_address)
        return None

    async def _refuse(self, conn: ServerConnection, reason_label: str, code: int, reason: str) -> None:
        self.core.metrics.reject(reason_label)
        await conn.close(code, _reason(reason))

    async def _handle(self, conn: ServerConnection) -> None:
        limits, metrics = self.core.limits, self.core.metrics
        timeout_s = limits.auth_timeout_s
        address = self._address(conn, conn.request)
        full = self._pending_full(address)
        if full is not None:
            await self._refuse(conn, full[0], CloseCode.TRY_AGAIN_LATER, full[1])
            return
        if limits.client_send_buffer_bytes:
            sock = conn.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, limits.client_send_buffer_bytes)
        # counted only where the finally below is sure to uncount it
        self._pending += 1
        by_address = self._pending_by_address
        by_address[address] = by_address.get(address, 0) + 1
        metrics.pending.set(self._pending)
        try:
            first = await asyncio.wait_for(conn.recv(), timeout_s)
        except TimeoutError:
            msg = f'auth required: send {{"op":"auth","token":...}} within {timeout_s:g} s of connecting'
            await self._refuse(conn, "auth_timeout", CloseCode.AUTH_REQUIRED, msg)
            return
        except ConnectionClosed:
            self._count_oversized(conn)
            return
        finally:
            self._pending -= 1
            if by_address[address] == 1:
                del by_address[address]  # an address with none waiting costs nothing
            else:
                by_address[address] -= 1
            metrics.pending.set(self._pending)
        try:
            message = parse_client_message(first)
        except ClientMessageError as e:
            await self._refuse(conn, _label(e.code), e.code, e.reason)
            return
        if not isinstance(message, Auth):
            msg = 'auth required: the first message must be {"op":"auth","token":...}'
            await self._refuse(conn, "auth_required", CloseCode.AUTH_REQUIRED, msg)
            return
        try:
            principal = verify_token(self._key, message.token)
        except TokenError as e:
            await self._refuse(conn, "token", CloseCode.UNAUTHORIZED, str(e))
            return
        client = self.core.add_client(WebSocketSink(conn, self), principal, message.id)
        if client is None:
            await conn.wait_closed()
            return
        try:
            await self._serve_client(conn, client)
        except ConnectionClosed:
            self._count_oversized(conn)
        finally:
            self.core.remove_client(client)

    async def _serve_client(self, conn: ServerConnection, client: Client) -> None:
        limits = self.core.limits
        rate = limits.client_messages_per_s
        bucket = TokenBucket(rate, limits.client_messages_burst) if rate > 0 else None
        async for raw in conn:
            if bucket is not None and not bucket.take():
                self.core.remove_client(client)
                reason = f"too many messages: at most {limits.client_messages_burst} at once, {rate:g}/s"
                await self._refuse(conn, "rate_limited", CloseCode.RATE_LIMITED, reason)
                return
            try:
                self._dispatch(client, parse_client_message(raw))
            except ClientMessageError as e:
                self.core.remove_client(client)
                await self._refuse(conn, _label(e.code), e.code, e.reason)
                return
        self._count_oversized(conn)

    def _dispatch(self, client: Client, message: Auth | Subscribe | Unsubscribe | Ping) -> None:
        core = self.core
        match message:
            case Subscribe():
                core.subscribe(client, message.exchange, message.symbols, message.channels, message.id)
            case Unsubscribe():
                core.unsubscribe(client, message.exchange, message.symbols, message.channels, message.id)
            case Ping():
                core.reply(client, render_reply("pong", message.id))
            case Auth():
                try:
                    principal = verify_token(self._key, message.token)
                except TokenError as e:
                    raise ClientMessageError(CloseCode.UNAUTHORIZED, str(e)) from e
                if principal.sub != client.principal.sub:
                    raise ClientMessageError(CloseCode.UNAUTHORIZED, "a refreshed token must have the same sub")
                core.reauthenticate(client, principal, message.id)

    def _count_oversized(self, conn: ServerConnection) -> None:
        sent = conn.protocol.close_sent
        if sent is not None and sent.code == CloseCode.MESSAGE_TOO_BIG:
            self.core.metrics.reject("oversized")


def _label(code: int) -> str:
    return {
        CloseCode.UNSUPPORTED_DATA: "binary",
        CloseCode.UNAUTHORIZED: "token",
        CloseCode.AUTH_REQUIRED: "auth_required",
    }.get(code, "malformed")
