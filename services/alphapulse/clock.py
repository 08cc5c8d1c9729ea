"""Time through one seam, so reconnect, heartbeat and backoff logic is testable without sleeping."""

import asyncio
import time
from typing import Protocol

__all__ = ("Clock", "FakeClock", "SystemClock")


class Clock(Protocol):
    def now_ns(self) -> int:
        """Wall-clock time, integer nanoseconds since the Unix epoch."""

    def monotonic_s(self) -> float:
        """Monotonic seconds, for timeouts and rates."""

    async def sleep(self, seconds: float) -> None:
        """Suspend the calling task."""


class SystemClock:
    # the functions themselves, not methods that call them: read on every socket read of the hot
    # path, where a Python frame more costs more than the clock read
    now_ns = staticmethod(time.time_ns)
    monotonic_s = staticmethod(time.monotonic)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class FakeClock:
    """A clock that only moves when told to; ``sleep`` records the request and returns at once."""

    def __init__(self, start_ns: int = 1_772_461_800_000_000_000) -> None:
        self._ns = start_ns
        self._mono_s = 0.0
        self.slept_s: list[float] = []

    def now_ns(self) -> int:
        return self._ns

    def monotonic_s(self) -> float:
        return self._mono_s

    def advance(self, seconds: float) -> None:
        self._ns += int(seconds * 1_000_000_000)
        self._mono_s += seconds

    async def sleep(self, seconds: float) -> None:
        self.slept_s.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)
