"""Run one service coroutine as a process: uvloop, signal handling, clean shutdown, a frozen heap."""

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Awaitable, Callable

from alphapulse.timeslice import set_time_slice

__all__ = ("FREEZE_AGAIN_AFTER_S", "keep_polling", "run_service")

log = logging.getLogger(__name__)

# Start-up leaves tens of thousands of long-lived objects (modules, classes, tables: ~45-90k per
# service, more with NautilusTrader) that every full collection would walk again: 30-290 ms per
# gen-2 collection measured on the 2-vCPU VMs, a stall of the whole hot path each time it runs.
# gc.freeze() moves them out of the collector's reach (permanently: they live as long as the
# process anyway). Once before the service starts and once more when what it built while starting
# (connections, instrument tables, the trading node, imported lazily) has settled. No collection
# first: on a restart that would walk the whole heap once (100-300 ms of CPU on a loaded VM, taken
# from the processes that kept running); the little cyclic garbage of start-up stays, frozen.
FREEZE_AGAIN_AFTER_S = 10.0


def keep_polling(loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    """Busy-poll: keep a callback always ready, so the loop asks the kernel for its sockets' events with
    a zero timeout on every iteration instead of sleeping until one arrives. Returns the function that
    stops it.

    What it saves per message is the wake-up of a sleeping process (a halted vCPU woken through the
    hypervisor: 24-73 us measured on the 2-vCPU VMs, docs/performance.md) and the cold caches of a
    process that slept; what it costs is the whole CPU it spins on. Only for a process with a core of
    its own (Guaranteed QoS and the kubelet's static CPU manager): on a shared core it takes time from
    everything else.
    """
    spinning = True

    def spin() -> None:
        if spinning:
            loop.call_soon(spin)

    def stop() -> None:
        nonlocal spinning
        spinning = False

    loop.call_soon(spin)
    return stop


def run_service(
    make: Callable[[], Awaitable[int | None]],
    *,
    use_uvloop: bool = True,
    busy_poll: bool = False,
    time_slice_us: int | None = None,
) -> int:
    """Run ``make()`` until it returns or SIGINT/SIGTERM arrives; then cancel it and wait for cleanup.
    ``busy_poll``: the loop never sleeps (:func:`keep_polling`); ``time_slice_us``: the loop's thread asks
    the scheduler for that slice (:mod:`alphapulse.timeslice`), so it preempts longer-sliced work on waking."""

    async def guarded() -> int:
        loop = asyncio.get_running_loop()
        stop_polling = keep_polling(loop) if busy_poll else None
        if busy_poll:
            log.info("busy-polling: this process keeps one CPU busy")
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
            if stop_polling is not None:
                stop_polling()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(sig)

    if time_slice_us is not None:
        set_time_slice(time_slice_us)
        log.info("time slice %d us: this process preempts longer-sliced work when it wakes", time_slice_us)
    gc.freeze()
    if use_uvloop:
        import uvloop

        return uvloop.run(guarded())
    return asyncio.run(guarded())
