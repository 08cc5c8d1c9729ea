"""/readyz's dependency check believes an answer only when it is the one the dependency gives."""

import asyncio

import redis.asyncio as aioredis

from alphapulse.api.routes.system import _check


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(1024):
        writer.write(data)
    writer.close()


async def test_redis_check_needs_a_pong_not_just_an_answer() -> None:
    # a socket that echoes is what a client connected to itself sees (the port of a Redis that went away)
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    impostor = aioredis.from_url(f"redis://127.0.0.1:{port}/0")
    real = aioredis.from_url("redis://127.0.0.1:6379/0")
    try:
        assert await impostor.ping() is False  # redis-py turns any reply into `reply == "PONG"`
        assert await _check("redis", impostor.ping(), True) == ("redis", "down: UnexpectedReplyError")
        assert await _check("redis", real.ping(), True) == ("redis", "ok")
    finally:
        await impostor.aclose()
        await real.aclose()
        server.close()
        await server.wait_closed()


async def test_a_check_that_raises_or_hangs_is_down() -> None:
    async def refuse() -> object:
        raise ConnectionRefusedError

    async def hang() -> object:
        await asyncio.sleep(3600)
        return None

    assert await _check("database", refuse(), 1) == ("database", "down: ConnectionRefusedError")
    assert await _check("database", hang(), 1) == ("database", "down: TimeoutError")
