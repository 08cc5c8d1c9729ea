"""Both WebSocket clients behind the collectors' transport seam, against a real websockets server:
fragments, the size cap, pings, close codes both ways, sends, and a refused handshake."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from alphapulse.collectors.transport import CLIENTS, ClientOptions, WsClient, WsClosed, WsConnectError, opener_for

OPTIONS = ClientOptions(
    open_timeout_s=3, max_message_bytes=1000, max_queue=64, ping_interval_s=None, ping_timeout_s=None
)
Handler = Callable[[ServerConnection], Awaitable[None]]


@asynccontextmanager
async def server(handler: Handler, *, refuse: bool = False) -> AsyncIterator[str]:
    def process_request(_conn: ServerConnection, _req: Request) -> Response | None:
        return _conn.respond(404, "no such stream\n") if refuse else None

    async with serve(handler, "127.0.0.1", 0, process_request=process_request, compression=None) as srv:
        port = next(iter(srv.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ws"


async def drain(ws: WsClient) -> tuple[list[bytes], int | None]:
    """Every message until the connection closes, and the close code."""
    got: list[bytes] = []
    try:
        while True:
            got += await asyncio.wait_for(ws.recv_batch(), 5)
    except WsClosed as e:
        return got, e.code


@pytest.fixture(params=CLIENTS)
def client(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


async def test_messages_fragments_and_the_peers_close_code(client: str) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send("one")
        await ws.send(b"\x00binary")
        await ws.send(["frag", "mented"])  # one message in three frames
        await ws.close(4001, "bye")

    async with server(handler) as url:
        ws = await opener_for(client)(url, OPTIONS)
        got, code = await drain(ws)
    assert got == [b"one", b"\x00binary", b"fragmented"]
    assert code == 4001


async def test_a_message_over_the_cap_closes_the_connection(client: str) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send("small")
        await ws.send("x" * 2000)
        await ws.send("never delivered")
        await ws.wait_closed()

    async with server(handler) as url:
        ws = await opener_for(client)(url, OPTIONS)
        got, _code = await drain(ws)
    assert got == [b"small"]


async def test_a_fragmented_message_over_the_cap_closes_the_connection(client: str) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(["x" * 600, "y" * 600])
        await ws.wait_closed()

    async with server(handler) as url:
        ws = await opener_for(client)(url, OPTIONS)
        got, _code = await drain(ws)
    assert got == []


async def test_pings_are_answered_and_sends_arrive(client: str) -> None:
    received: list[str | bytes] = []
    pong_ok = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        received.append(await ws.recv())
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 3)
        pong_ok.set()
        await ws.send("done")
        await ws.wait_closed()

    async with server(handler) as url:
        ws = await opener_for(client)(url, OPTIONS)
        await ws.send('{"method":"subscribe"}')
        assert await asyncio.wait_for(ws.recv_batch(), 5) == [b"done"]
        await ws.close()
    assert received == ['{"method":"subscribe"}']
    assert pong_ok.is_set()


async def test_our_close_sends_the_code_and_ends_reading(client: str) -> None:
    seen: list[int | None] = []

    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()
        seen.append(ws.close_code)

    async with server(handler) as url:
        ws = await opener_for(client)(url, OPTIONS)
        await ws.close(1000, "idle")
        with pytest.raises(WsClosed):
            await asyncio.wait_for(ws.recv_batch(), 5)
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
    assert seen == [1000]


async def test_a_refused_handshake_is_a_connect_error(client: str) -> None:
    async def handler(ws: ServerConnection) -> None:  # pragma: no cover - never upgraded
        await ws.wait_closed()

    async with server(handler, refuse=True) as url:
        with pytest.raises(WsConnectError):
            await opener_for(client)(url, OPTIONS)


def _server_frame(opcode: int, payload: bytes) -> bytes:
    assert len(payload) < 126
    return bytes((0x80 | opcode, len(payload))) + payload


async def test_picows_push_hands_each_read_over_even_when_a_ping_ends_it() -> None:
    """Push mode: the messages of one socket read reach the handler within that read, also when the
    read ends with a PING (which the listener answers itself: picows would swallow it unseen)."""
    acked = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        assert await asyncio.wait_for(ws.recv(), 5) == "pushing"
        # one write: two messages and a PING, so one read on the client ends with the PING
        ws.transport.write(_server_frame(0x1, b"m1") + _server_frame(0x1, b"m2") + _server_frame(0x9, b"hi"))
        # the client answers from inside its handler; nothing else arrives to end the read for it
        assert await asyncio.wait_for(ws.recv(), 5) == "got 2"
        acked.set()
        await ws.close(1000)

    batches: list[list[bytes]] = []
    sends: list[asyncio.Future[None]] = []
    async with server(handler) as url:
        ws = await opener_for("picows")(url, OPTIONS)

        def on_batch(batch: list[bytes]) -> None:
            batches.append(batch)
            if sum(map(len, batches)) == 2:
                sends.append(asyncio.ensure_future(ws.send("got 2")))

        ws.push(on_batch)  # type: ignore[attr-defined]  # picows only
        await ws.send("pushing")
        with pytest.raises(WsClosed):
            await asyncio.wait_for(ws.recv_batch(), 5)  # push mode: returns only at the end
    assert acked.is_set()
    assert [m for b in batches for m in b] == [b"m1", b"m2"]


async def test_picows_push_handler_failure_ends_the_connection() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send("boom")
        await ws.wait_closed()

    def on_batch(_batch: list[bytes]) -> None:
        raise ValueError("parser bug")

    async with server(handler) as url:
        ws = await opener_for("picows")(url, OPTIONS)
        ws.push(on_batch)  # type: ignore[attr-defined]  # picows only
        with pytest.raises(ValueError, match="parser bug"):
            await asyncio.wait_for(ws.recv_batch(), 5)
        await ws.close()
