"""What one relay consumer may make the collectors do: book snapshot requests, per consumer, rate-limited.

A consumer's ``SNAPSHOT`` control, and a ``SUBSCRIBE`` with the book bit, make the relay ask every
matching feed for a full book snapshot, which the collector serializes and publishes to every
consumer subscribed to that book. Without a bound one peer could keep every collector
serializing books in a loop (docs/security.md). Excess requests are dropped — the filter change a
``SUBSCRIBE`` carries still applies — counted in ``alphapulse_relay_snapshot_requests_dropped_total``
and logged at most once per consumer per ``LOG_INTERVAL_S``. Consumers of ours re-ask for a
book still missing its snapshot (the trading node after ``resync_retry_s``), so a drop delays a
legitimate snapshot, never loses it for good.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from prometheus_client import Counter

from alphapulse.ratelimit import TokenBucket
from alphapulse.relay import metrics

__all__ = ("SnapshotGate", "SnapshotLimit")

log = logging.getLogger(__name__)

LOG_INTERVAL_S: Final = 60.0


@dataclass(frozen=True, slots=True)
class SnapshotLimit:
    """Per consumer: ``burst`` requests at once, ``rate_per_s`` sustained. ``rate_per_s <= 0``: no limit."""

    burst: int = 20
    rate_per_s: float = 5.0

    def __post_init__(self) -> None:
        if self.rate_per_s > 0 and self.burst < 1:
            raise ValueError(f"snapshot burst must be at least 1, got {self.burst}")


class SnapshotGate:
    """One per consumer connection: ``allow()`` says whether a snapshot request goes on to the feeds."""

    __slots__ = ("_bucket", "_consumer", "_dropped", "_next_log_s", "_now_s", "_unlogged")

    def __init__(self, limit: SnapshotLimit, consumer: str, now_s: Callable[[], float]) -> None:
        self._bucket = TokenBucket(limit.rate_per_s, limit.burst, now_s) if limit.rate_per_s > 0 else None
        self._consumer = consumer
        self._now_s = now_s
        self._dropped: Counter | None = None  # the labelled child, made on the first drop
        self._next_log_s = 0.0
        self._unlogged = 0

    def allow(self) -> bool:
        if self._bucket is None or self._bucket.take():
            return True
        if self._dropped is None:
            self._dropped = metrics.SNAPSHOT_REQUESTS_DROPPED.labels(self._consumer)
        self._dropped.inc()
        self._unlogged += 1
        now = self._now_s()
        if now >= self._next_log_s:
            self._next_log_s = now + LOG_INTERVAL_S
            log.warning(
                "consumer exceeds its snapshot request rate; requests dropped",
                extra={
                    "consumer": self._consumer,
                    "dropped": self._unlogged,
                    "burst": self._bucket.burst,
                    "rate_per_s": self._bucket.rate_per_s,
                },
            )
            self._unlogged = 0
        return False
