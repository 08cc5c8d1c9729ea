"""Run one service coroutine as a process: uvloop, signal handling, clean shutdown, a frozen heap."""

import asyncio
import contextlib
import gc
import signal
from collections.abc import Awaitable, Callable

__all__ = ("FREEZE_AGAIN_AFTER_S", "run_service")

# Start-up leaves tens of thousands of long-lived objects (modules, classes, tables: ~45-90k per
# service, more with NautilusTrader) that every full collection would walk again: 30-290 ms per
# gen-2 collection measured on the 2-vCPU VMs, a stall of the whole hot path each time it runs.
# gc.freeze() moves them out of the collector's reach (permanently: they live as long as the
# process anyway). Once before the service starts and once more when what it built while starting
# (connections, instrument tables, the trading node, imported lazily) has settled. No collection
# first: on a restart that would walk the whole heap once (100-300 ms of CPU on a loaded VM, taken
# from the processes that kept running); the little cyclic garbage of start-up stays, frozen.
FREEZE_AGAIN_AFTER_S = 10.0


def run_service(make: Callable[[], Awaitable[int | None]], *, use_uvloop: bool = True) -> int:
    """Run ``make()`` until it returns or SIGINT/SIGTERM arrives; then cancel it and wait for cleanup."""

    async def guarded() -> int:
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(make())
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        refreeze = loop.call_later(FREEZE_AGAIN_AFTER_S, gc.freeze)
        try:
            return int(await task or 0)
        except asyncio.CancelledError:
            return 0
        finally:
            refreeze.cancel()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(sig)

    gc.freeze()
    if use_uvloop:
        import uvloop

        return uvloop.run(guarded())
    return asyncio.run(guarded())
