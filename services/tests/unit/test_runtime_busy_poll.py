"""run_service(busy_poll=True): the loop never sleeps while the service runs, and still serves its sockets."""

import asyncio
import gc
import socket
import time

import pytest

from alphapulse.cli._runtime import run_service

WINDOW_S = 0.3


def _cpu_over_window(busy_poll: bool) -> float:
    async def service() -> int:
        await asyncio.sleep(0.05)  # let start-up settle
        t0 = time.process_time_ns()
        await asyncio.sleep(WINDOW_S)
        return (time.process_time_ns() - t0) // 1000  # run_service returns an int: microseconds

    try:
        return run_service(service, busy_poll=busy_poll) / 1e6
    finally:
        gc.unfreeze()  # this test process is not a service: give its heap back to the collector


def test_a_busy_polling_service_spins_where_a_plain_one_sleeps() -> None:
    # CPU time, not latency: a sleeping loop uses next to none of the window, a spinning one most of a core
    # (at least a third of it even when a 2-core machine is shared with another test worker)
    assert _cpu_over_window(False) < 0.05 * WINDOW_S
    assert _cpu_over_window(True) > 0.33 * WINDOW_S


@pytest.mark.parametrize("use_uvloop", [True, False], ids=["uvloop", "asyncio"])
def test_busy_polling_still_reads_sockets(use_uvloop: bool) -> None:
    a, b = socket.socketpair()

    async def service() -> int:
        loop = asyncio.get_running_loop()
        got: asyncio.Future[bytes] = loop.create_future()
        loop.add_reader(b.fileno(), lambda: got.done() or got.set_result(b.recv(64)))
        loop.call_later(0.05, a.send, b"tick")
        data = await asyncio.wait_for(got, 5)
        loop.remove_reader(b.fileno())
        return len(data)

    try:
        assert run_service(service, use_uvloop=use_uvloop, busy_poll=True) == 4
    finally:
        gc.unfreeze()
        a.close()
        b.close()
