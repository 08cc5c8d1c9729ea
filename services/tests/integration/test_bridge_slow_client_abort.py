"""Regression (found by e2e/test_faults_dependencies.py): a client that stopped reading was
"disconnected" with 4008 but its TCP connection stayed open forever, the close handshake stuck
draining a socket nobody reads (megabytes of buffers and a task per frozen client)."""

import asyncio
import socket
import time
from pathlib import Path

from bridge_harness import Listener, eventually_true, running_bridge
from relay_harness import Producer, running_relay
from test_bridge_pipeline import closing, publish_round

from alphapulse.protocol import Exchange


async def test_a_stalled_client_is_really_disconnected(sock_dir: Path) -> None:
    feed = Producer(sock_dir, "binance-spot", Exchange.BINANCE, ["BTC-USDT"])
    await feed.start()
    async with (
        closing(feed),
        running_relay(sock_dir),
        running_bridge(
            [f"unix:{sock_dir / 'relay.sock'}"], max_queue_events=100, high_water_bytes=16 * 1024,
            slow_client_timeout_s=0.5,
        ) as bridge,
    ):  # fmt: skip
        await eventually_true(lambda: bridge.core.instruments == 1, what="instruments")
        stalled = Listener(bridge.url, name="stalled", read=False, rcvbuf_bytes=4096)
        await stalled.open()
        await stalled.send(op="subscribe", exchange="binance", symbols=feed.symbols, channels=["trades", "quotes"])
        bridge.shrink_send_buffer("stalled")
        assert stalled.ws is not None
        deadline = time.monotonic() + 30
        while stalled.ws.transport.get_extra_info("socket") is not None and not stalled.ws.transport.is_closing():
            for _ in range(20):
                publish_round(feed, time.time_ns())
            await asyncio.sleep(0.005)
            if (
                bridge.metric("alphapulse_bridge_rejected_total", reason="slow_client") >= 1
                or time.monotonic() > deadline
            ):
                break
        assert bridge.metric("alphapulse_bridge_rejected_total", reason="slow_client") == 1
        # the close handshake cannot complete (the client reads nothing): the bridge must abort
        server = bridge.server._server
        assert server is not None
        await eventually_true(lambda: not bridge.server._tasks, timeout_s=15, what="the close task to finish")
        await eventually_true(lambda: not server.connections, timeout_s=15, what="the connection to be gone")
        stalled.ws.transport.abort()  # our side: it never reads, so it would never notice the reset


async def test_an_idle_bridge_does_not_wake_to_service_a_backlog() -> None:
    """With no client behind there is no backlog to service: the ticker sleeps until the next second's token
    expiry check (it used to wake every 10 ms, on a core the hot path shares)."""
    async with running_bridge() as bridge:
        await asyncio.sleep(0.05)  # past the first pass, which runs at once
        calls = 0
        service = bridge.core.service_backlog

        def counting() -> None:
            nonlocal calls
            calls += 1
            service()

        bridge.core.service_backlog = counting  # type: ignore[method-assign]
        await asyncio.sleep(0.5)
        assert calls <= 1  # at most the once-a-second pass (fifty before)


async def test_each_client_gets_a_capped_kernel_send_buffer() -> None:
    """A client that stops reading pins at most the capped send buffer in the kernel (the default autotuning lets
    it grow to megabytes before the bridge sees anything unsent); 0 leaves the kernel's autotuning alone."""

    async def send_buffer_of_a_client(**limits: int) -> int:
        async with running_bridge(**limits) as bridge:
            client = Listener(bridge.url, name="capped")
            await client.open()
            try:
                (c,) = bridge.core.clients
                sock = c.sink._conn.transport.get_extra_info("socket")  # type: ignore[attr-defined]
                return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF))
            finally:
                await client.close()

    assert await send_buffer_of_a_client(client_send_buffer_bytes=64 * 1024) == 2 * 64 * 1024  # the kernel doubles it
    # 0: not the default cap (256 KiB, doubled) but whatever the kernel's autotuning made of it
    assert await send_buffer_of_a_client(client_send_buffer_bytes=0) != 2 * 256 * 1024
    assert await send_buffer_of_a_client() == 2 * 256 * 1024
