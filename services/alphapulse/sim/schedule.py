"""When a synthetic venue's events fall due: each venue a Poisson process of its own, as independent exchanges are.

Until 2026-11-27 every venue's generator woke once a millisecond on asyncio's timer and emitted what its share of the
rate had accumulated. The venues of one process then woke in the same loop iteration, and below one event per venue
per millisecond they emitted on the same ticks: at 1,000 events/s over three venues two thirds of the emissions left
within 100 µs of another venue's, where three independent exchanges would do so about one time in eight. Now, while
a venue has fewer events than one a tick, each event leaves at its own time, drawn from the venue's seeded random
stream; from one a tick up, the venue wakes once a tick (its ticks at a phase of its own) and emits what fell due in
one batch, as before and as venues batch their busy streams.
"""

import math
import random

__all__ = ("Arrivals",)

# While events are sparse the generator wakes for each one, and otherwise only this often: for what a venue does on a
# timer (Binance's depth streams, every 100 ms or 1 s) and to notice a rate changed from 0, without waking a process
# that serves three venues four times as often as it has events to send.
QUIET_TICK_S = 0.01

# Beyond this many events owed at one wake, count them by the rate instead of drawing each gap: a batch that large is
# a venue flat out (``bench e2e --rate max``), where the spread of a Poisson count is noise.
_DRAW_LIMIT = 256


def _check(rate: float) -> None:
    if not rate >= 0:  # NaN too
        raise ValueError(f"rate must be >= 0, not {rate}")


class Arrivals:
    """A Poisson process at ``rate`` events per second on the monotonic clock, and the generator's wake-up times."""

    __slots__ = ("_next", "_rate", "_rng", "_tick_at", "quiet_tick_s", "tick_s")

    def __init__(
        self, rate: float, rng: random.Random, now: float, tick_s: float = 0.001, quiet_tick_s: float = QUIET_TICK_S
    ) -> None:
        _check(rate)
        if not tick_s > 0:
            raise ValueError(f"tick_s must be > 0, not {tick_s}")
        self._rng = rng
        self._rate = rate
        self.tick_s = tick_s
        self.quiet_tick_s = max(tick_s, quiet_tick_s)
        self._next = self._after(now)
        self._tick_at = now + rng.uniform(0.0, tick_s)  # each venue ticks at a phase of its own

    def _after(self, t: float) -> float:
        return t + self._rng.expovariate(self._rate) if self._rate > 0 else math.inf

    @property
    def sparse(self) -> bool:
        """Fewer than one event a tick: each event is worth a wake of its own."""
        return self._rate * self.tick_s < 1.0

    @property
    def next_event_at(self) -> float:
        return self._next

    def wake_at(self) -> float:
        """When the generator should look next: the next event or the next quiet tick while events are sparse, else
        the next tick."""
        return min(self._next, self._tick_at) if self.sparse else self._tick_at

    def due(self, now: float, rate: float) -> int:
        """The events due by ``now`` since the last call, at ``rate`` (which may have changed since)."""
        if now >= self._tick_at:
            period = self.quiet_tick_s if self.sparse else self.tick_s
            self._tick_at += period
            if self._tick_at <= now:  # woken late: the next tick a whole period from now, as a sleep would be
                self._tick_at = now + period
        if rate != self._rate:
            _check(rate)
            self._rate = rate
            self._next = self._after(now)  # memoryless: a fresh draw from now is the same process at the new rate
            return 0
        if now < self._next:
            return 0
        owed = (now - self._next) * rate
        if owed > _DRAW_LIMIT:
            self._next = self._after(now)
            return 1 + int(owed)
        n = 0
        while self._next <= now:
            n += 1
            self._next += self._rng.expovariate(rate)
        return n
