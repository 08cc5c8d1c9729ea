"""A token bucket: ``burst`` requests at once, then ``rate_per_s`` sustained; time through an injected clock.

Used where one peer could make a service do unbounded work on its behalf: the relay's snapshot
requests per consumer (``relay.limits``) and the bridge's messages per WebSocket client.
"""

import time
from collections.abc import Callable

__all__ = ("TokenBucket",)


class TokenBucket:
    """``take()`` spends one token if there is one. Tokens refill continuously at ``rate_per_s`` up to ``burst``;
    the bucket starts full, so a new peer's first ``burst`` requests always pass."""

    __slots__ = ("_last_s", "_now_s", "_tokens", "burst", "rate_per_s")

    def __init__(self, rate_per_s: float, burst: int, now_s: Callable[[], float] = time.monotonic) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError(f"a token bucket needs rate_per_s > 0 and burst >= 1, got {rate_per_s} and {burst}")
        self.rate_per_s = float(rate_per_s)
        self.burst = burst
        self._now_s = now_s
        self._tokens = float(burst)
        self._last_s = now_s()

    @property
    def tokens(self) -> float:
        """Tokens available now (refilled up to this instant)."""
        self._refill()
        return self._tokens

    def take(self) -> bool:
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def _refill(self) -> None:
        now = self._now_s()
        elapsed = now - self._last_s
        self._last_s = now
        if elapsed > 0:  # a clock that steps back never drains the bucket
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate_per_s)
