"""A tiny HTTP/1.1 server for the venues' REST endpoints (GET/HEAD, keep-alive, JSON bodies).

The venues serve REST on a different host than their WebSocket, so the simulator serves it on
its own port (``rest_url``); collectors then use one base URL per concern, as in production.
Only what the market-data clients call is implemented; anything else answers 404.
"""

import asyncio
import contextlib
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

__all__ = ("RestHandler", "RestResponse", "RestServer")

RestResponse = tuple[int, bytes]
RestHandler = Callable[[str, dict[str, list[str]]], RestResponse]

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
_MAX_HEAD_BYTES = 16 * 1024
_IDLE_TIMEOUT_S = 30.0


class RestServer:
    """Serves ``handler(path, query) -> (status, body)`` on ``host:port``."""

    def __init__(self, handler: RestHandler, host: str, port: int) -> None:
        self._handler = handler
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.requests = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._host, self._port, limit=_MAX_HEAD_BYTES)

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for w in list(self._writers):
            w.close()
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; return whether the connection stays open."""
        async with asyncio.timeout(_IDLE_TIMEOUT_S):
            head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            await self._reply(writer, 400, b'{"code":-1,"msg":"bad request"}', close=True)
            return False
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        if length:
            await reader.readexactly(length)
        close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
        self.requests += 1
        if method not in ("GET", "HEAD"):
            status, body = 405, b'{"code":-1,"msg":"method not allowed"}'
        else:
            url = urlsplit(target)
            status, body = self._handler(url.path, parse_qs(url.query))
        await self._reply(writer, status, body, close=close, head_only=method == "HEAD")
        return not close

    @staticmethod
    async def _reply(
        writer: asyncio.StreamWriter, status: int, body: bytes, *, close: bool, head_only: bool = False
    ) -> None:
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            "Content-Type: application/json;charset=UTF-8\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n"
        )
        writer.write(head.encode("latin-1") + (b"" if head_only else body))
        await writer.drain()
