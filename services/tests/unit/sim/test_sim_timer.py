"""The simulator's alarm clock: a timerfd on Linux, never early, reusable after a cancelled sleep."""

import asyncio
import sys
import time

import pytest
import uvloop

from alphapulse.sim.timer import PreciseTimer


async def _sleeps(timer: PreciseTimer) -> list[float]:
    """How long after its time each of 50 alarms, 50 µs to 2 ms ahead, woke the loop (negative: early)."""
    late = []
    for k in range(50):
        at = time.monotonic() + 50e-6 + (k % 8) * 250e-6
        await timer.arm(at)
        late.append(time.monotonic() - at)
    return late


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="timerfd is Linux's")
def test_on_linux_a_timerfd_keeps_the_time_and_never_wakes_early_on_uvloop() -> None:
    async def main() -> list[float]:
        timer = PreciseTimer()
        try:
            assert timer.precise
            return await _sleeps(timer)
        finally:
            timer.close()

    assert min(uvloop.run(main())) >= 0


async def test_an_alarm_in_the_past_returns_at_once_and_a_cancelled_sleep_leaves_the_timer_usable() -> None:
    timer = PreciseTimer()
    try:
        await timer.arm(time.monotonic() - 1.0)
        sleeper = timer.arm(time.monotonic() + 60.0)
        await asyncio.sleep(0.01)
        sleeper.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sleeper
        assert min(await _sleeps(timer)) >= 0
    finally:
        timer.close()
    timer.close()  # twice is harmless


@pytest.mark.parametrize("precise", [True, False], ids=["timerfd", "asyncio-timer"])
async def test_an_armed_alarm_runs_while_the_caller_works_and_a_new_one_replaces_it(precise: bool) -> None:
    timer = PreciseTimer()
    if not precise:
        timer.close()  # without its timerfd the timer falls back to asyncio's, as on another OS
    try:
        replaced = timer.arm(time.monotonic() + 60.0)
        alarm = timer.arm(time.monotonic() + 0.05)
        busy_until = time.monotonic() + 0.1  # the caller's work, longer than the alarm's delay, the loop held all along
        while time.monotonic() < busy_until:
            pass
        started = time.monotonic()
        await alarm
        assert time.monotonic() - started < 0.05  # it was not started by the await
        assert replaced.cancelled()
    finally:
        timer.close()
