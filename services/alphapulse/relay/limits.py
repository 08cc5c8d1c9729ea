"""What relay consumers may make the relay and the collectors do: bounds on snapshot requests and on connections.

A consumer's ``SNAPSHOT`` control, and a ``SUBSCRIBE`` with the book bit, make the relay ask every
matching feed for a full book snapshot, which the collector serializes and publishes to every
consumer subscribed to that book. Without a bound one peer could keep every collector
serializing books in a loop (docs/security.md). Two bounds, one per consumer and one relay-wide:

* ``SnapshotGate``, per consumer connection: a token bucket. Excess requests are dropped — the
  filter change a ``SUBSCRIBE`` carries still applies — counted in
  ``alphapulse_relay_snapshot_requests_dropped_total`` and logged at most once per consumer per
  ``LOG_INTERVAL_S``. Consumers of ours re-ask for a book still missing its snapshot (the trading
  node after ``resync_retry_s``), so a drop delays a legitimate snapshot, never loses it for good.
* ``SnapshotCoalescer``, relay-wide: at most one request per (feed, book) per interval reaches a
  collector, however many consumers and connections ask. One published snapshot serves every
  consumer subscribed to the book, so a request inside the interval is deferred, not dropped: one
  request goes when the interval ends and answers every request merged into it.

Each consumer connection also costs the relay a write per forwarded chunk, so ``ConsumerLimit``
bounds how many there are, in all and per peer address.
"""

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Final

from prometheus_client import Counter

from alphapulse.protocol import Control
from alphapulse.ratelimit import TokenBucket
from alphapulse.relay import metrics

__all__ = ("ConsumerLimit", "SnapshotCoalescer", "SnapshotGate", "SnapshotLimit", "refusal")

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


class SnapshotCoalescer:
    """Relay-wide: one snapshot request per (feed, book) per ``interval_s`` goes to the collector.

    Book 0 means every book of the feed. A request for one book counts as answered recently when
    either that book or every book was asked for within the interval: a snapshot published since
    covers it — unless the consumer subscribed after that snapshot went by, which is why a request
    inside the interval is deferred (its latest version kept) rather than dropped. ``interval_s <= 0``
    turns coalescing off. Pure: the caller sends what ``offer`` and ``due`` hand back, and calls ``due``
    at ``next_due_s``.
    """

    __slots__ = ("_deferred", "_now_s", "_sent", "interval_s")

    def __init__(self, interval_s: float, now_s: Callable[[], float]) -> None:
        self.interval_s = interval_s
        self._now_s = now_s
        self._sent: dict[tuple[str, int], float] = {}  # (feed, book) -> when a request last went
        self._deferred: dict[tuple[str, int], tuple[float, Control]] = {}  # -> (due, the latest request)

    def offer(self, feed: str, request: Control) -> bool:
        """True: send ``request`` to ``feed`` now. False: it is merged into one deferred request."""
        if self.interval_s <= 0:
            return True
        now = self._now_s()
        key = (feed, request.symbol_id)
        held = self._deferred.get(key)
        if held is not None:
            self._deferred[key] = (held[0], request)
            metrics.SNAPSHOT_REQUESTS_COALESCED.inc()  # one request fewer reaches the collector
            return False
        last = self._last_sent(feed, request.symbol_id)
        if last is None or now - last >= self.interval_s:
            self._record(key, now)
            return True
        self._deferred[key] = (last + self.interval_s, request)  # sent later as itself (or as a later one)
        return False

    def due(self) -> list[tuple[str, Control]]:
        """The deferred requests whose interval has passed (recorded as sent): send each to its feed."""
        now = self._now_s()
        ready = [key for key, (at, _) in self._deferred.items() if at <= now]
        out = []
        for key in ready:
            _, request = self._deferred.pop(key)
            self._record(key, now)
            out.append((key[0], request))
        return out

    def next_due_s(self) -> float | None:
        """When the earliest deferred request is due (``now_s``'s clock), or None."""
        return min((at for at, _ in self._deferred.values()), default=None)

    def _last_sent(self, feed: str, book: int) -> float | None:
        mine = self._sent.get((feed, book))
        every = self._sent.get((feed, 0)) if book else None
        return max((t for t in (mine, every) if t is not None), default=None)

    def _record(self, key: tuple[str, int], now: float) -> None:
        self._sent[key] = now
        if len(self._sent) > 4096:  # keys are real (feed, book) pairs, but feeds come and go over a relay's life
            self._sent = {k: t for k, t in self._sent.items() if now - t < self.interval_s}


@dataclass(frozen=True, slots=True)
class ConsumerLimit:
    """Consumer connections the relay serves: ``total`` in all, ``per_address`` from one TCP peer address
    (Unix-socket consumers share the node and count toward ``total`` only). 0: no limit."""

    total: int = 64
    per_address: int = 16


def refusal(limit: ConsumerLimit, address: str | None, connected: Collection[str | None]) -> str | None:
    """Why a new consumer from ``address`` (None: a Unix socket) is refused, given the addresses of those
    connected; None when it is served."""
    if limit.total and len(connected) >= limit.total:
        return "max_consumers"
    if limit.per_address and address is not None and sum(1 for a in connected if a == address) >= limit.per_address:
        return "max_per_address"
    return None
