"""The chaos harness's TCP proxy in front of the real Redis: a cut leaves no working connection behind."""

import asyncio

from alphapulse.chaos.proxy import TcpProxy

REDIS = ("127.0.0.1", 6379)


async def _ping(port: int) -> bytes:
    """PING through a fresh connection; what came back (b"" when the connection was closed)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"PING\r\n")
        return await asyncio.wait_for(reader.read(64), 5)
    except ConnectionError:
        return b""
    finally:
        writer.close()


async def test_a_connection_made_just_before_a_cut_does_not_outlive_it() -> None:
    # the client's connect completes in the kernel before the proxy's accept callback runs; a cut in between
    # once left a connection that answered PONG through the whole outage (and made cut() wait on it forever)
    proxy = TcpProxy(*REDIS)
    await proxy.start()
    try:
        for _ in range(20):
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            await asyncio.wait_for(proxy.cut(), 5)
            writer.write(b"PING\r\n")
            try:
                answer = await asyncio.wait_for(reader.read(64), 5)
            except ConnectionError:
                answer = b""
            writer.close()
            assert answer == b"", f"a connection accepted before the cut still reached Redis: {answer!r}"
            await proxy.restore()
    finally:
        await proxy.close()


async def test_cut_refuses_new_connections_and_restore_serves_the_same_port() -> None:
    proxy = TcpProxy(*REDIS)
    await proxy.start()
    port = proxy.port
    try:
        assert await _ping(port) == b"+PONG\r\n"
        await proxy.cut()
        try:
            answer = await _ping(port)
        except ConnectionRefusedError:
            answer = b"refused"
        assert answer in {b"refused", b""}, answer
        await proxy.restore()
        assert proxy.port == port
        assert await _ping(port) == b"+PONG\r\n"
    finally:
        await proxy.close()
