"""Run one service coroutine as a process: uvloop, signal handling, clean shutdown."""

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable

__all__ = ("run_service",)


def run_service(make: Callable[[], Awaitable[int | None]], *, use_uvloop: bool = True) -> int:
    """Run ``make()`` until it returns or SIGINT/SIGTERM arrives; then cancel it and wait for cleanup."""

    async def guarded() -> int:
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(make())
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            return int(await task or 0)
        except asyncio.CancelledError:
            return 0
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(sig)

    if use_uvloop:
        import uvloop

        return uvloop.run(guarded())
    return asyncio.run(guarded())
