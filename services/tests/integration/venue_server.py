"""A real WebSocket (and REST) server that speaks a venue's session, for the collector tests.

Per connection it waits for the client's first message (its subscribe) and for ``gate`` (so a test
can attach its feed-socket reader first), then sends ``lines`` paced by ``delay_s``, then idles
sending ``idle_line`` every ``idle_every_s`` (a venue's heartbeat). ``on_message`` sees every later
client message and may answer (a resubscribe's fresh snapshot). ``kill()`` drops every connection
without a close frame, as a crashed venue would.
"""

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

Reply = Callable[["Conn", str], list[bytes]]
RestRoute = Callable[[str], bytes]


class Conn:
    def __init__(self, index: int, ws: ServerConnection) -> None:
        self.index = index
        self.ws = ws
        self.sent = 0  # lines of the session sent so far
        self.received: list[str] = []


class VenueServer:
    def __init__(
        self,
        lines: list[bytes],
        *,
        delay_s: float = 0.0,
        idle_line: bytes | None = None,
        idle_every_s: float = 0.2,
        on_message: Reply | None = None,
        rest: dict[str, RestRoute] | None = None,
        lines_for: Callable[[int], list[bytes]] | None = None,
    ) -> None:
        self.lines = lines
        self.lines_for = lines_for or (lambda _i: self.lines)
        self.delay_s = delay_s
        self.idle_line = idle_line
        self.idle_every_s = idle_every_s
        self.on_message = on_message
        self.rest = rest or {}
        self.gate = asyncio.Event()
        self.conns: list[Conn] = []
        self.done = asyncio.Event()  # set when a connection has sent all of its lines
        self.rest_requests: list[str] = []
        self._server: Server | None = None
        self._rest_server: asyncio.Server | None = None
        self.port = 0
        self.rest_port = 0

    async def __aenter__(self) -> "VenueServer":
        self._server = await serve(self._handler, "127.0.0.1", 0, compression=None, max_size=1 << 24)
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        if self.rest:
            self._rest_server = await asyncio.start_server(self._rest, "127.0.0.1", 0)
            self.rest_port = self._rest_server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        if self._rest_server is not None:
            self._rest_server.close()

    def url(self, path: str = "/") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def kill(self) -> None:
        for c in self.conns:
            c.ws.transport.abort()

    async def _handler(self, ws: ServerConnection) -> None:
        conn = Conn(len(self.conns), ws)
        self.conns.append(conn)
        reader = None
        try:
            first = await ws.recv()
            conn.received.append(str(first))
            await self.gate.wait()
            reader = asyncio.create_task(self._read(conn))
            for line in self.lines_for(conn.index):
                await ws.send(line.decode())
                conn.sent += 1
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                elif conn.sent % 32 == 0:
                    await asyncio.sleep(0)
            self.done.set()
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ws.wait_closed(), self.idle_every_s)
                    return
                if self.idle_line is not None:
                    await ws.send(self.idle_line.decode())
        except ConnectionClosed:
            pass
        finally:
            if reader is not None:
                reader.cancel()

    async def _read(self, conn: Conn) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for msg in conn.ws:
                conn.received.append(str(msg))
                if self.on_message is not None:
                    for reply in self.on_message(conn, str(msg)):
                        await conn.ws.send(reply.decode())

    async def _rest(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                target = head.split(b" ", 2)[1].decode()
                self.rest_requests.append(target)
                route = self.rest.get(target.split("?", 1)[0])
                body, status = (route(target), b"200 OK") if route else (b'{"code":-1}', b"404 Not Found")
                writer.write(
                    b"HTTP/1.1 "
                    + status
                    + b"\r\nContent-Type: application/json\r\nContent-Length: "
                    + str(len(body)).encode()
                    + b"\r\n\r\n"
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()
