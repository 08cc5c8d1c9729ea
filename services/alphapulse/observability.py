"""``/metrics`` and ``/healthz`` over HTTP for every long-running service.

A deliberately tiny asyncio HTTP/1.1 responder: two GET routes, no keep-alive, bounded request
size. It runs on the service's own loop so health reflects whether that loop is alive.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

__all__ = ("HealthCheck", "MetricsServer")

log = logging.getLogger(__name__)

HealthCheck = Callable[[], tuple[bool, str]]
_MAX_REQUEST_BYTES = 8192


class MetricsServer:
    """Serves ``/metrics`` (Prometheus text format) and ``/healthz`` (200 ok / 503 with a reason)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        registry: CollectorRegistry = REGISTRY,
        health: HealthCheck | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._registry = registry
        self._health = health or (lambda: (True, "ok"))
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]
        log.info("metrics listening", extra={"url": f"http://{self.host}:{self.port}/metrics"})

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            writer.close()
            return
        if len(head) > _MAX_REQUEST_BYTES:
            writer.close()
            return
        parts = head.split(b" ", 2)
        method, path = (parts[0], parts[1].split(b"?", 1)[0]) if len(parts) >= 2 else (b"", b"")
        if method not in {b"GET", b"HEAD"}:
            status, ctype, body = b"405 Method Not Allowed", b"text/plain", b"method not allowed\n"
        elif path == b"/metrics":
            status, ctype, body = b"200 OK", CONTENT_TYPE_LATEST.encode(), generate_latest(self._registry)
        elif path in {b"/healthz", b"/readyz"}:
            ok, reason = self._health()
            status = b"200 OK" if ok else b"503 Service Unavailable"
            ctype, body = b"text/plain", reason.encode() + b"\n"
        else:
            status, ctype, body = b"404 Not Found", b"text/plain", b"not found\n"
        writer.write(
            b"HTTP/1.1 "
            + status
            + b"\r\nContent-Type: "
            + ctype
            + b"\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\nConnection: close\r\n\r\n"
            + (body if method != b"HEAD" else b"")
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()
