"""The relay's Prometheus metrics (names in docs/metrics.md).

The three the hot path touches on every read — cells in per feed, cells out per consumer, the
per-read latency histogram — are plain ints kept by the relay and read at scrape time by
``HOT_PATH`` (a collector): a prometheus_client counter increment takes a lock and several
Python calls, and those increments were a quarter of the relay's instructions per read (3 cells to
4 consumers: 129k instructions with them, 96k without, callgrind).
"""

import bisect
import weakref
from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from alphapulse.relay.server import Relay

DROPPED = Counter("alphapulse_relay_dropped_frames_total", "Cells dropped for a slow consumer", ["consumer"])
GAPS = Counter("alphapulse_relay_gaps_total", "Gap frames the relay emitted", ["feed", "reason"])
MALFORMED = Counter("alphapulse_relay_malformed_total", "Connections closed for invalid input", ["source", "reason"])
SNAPSHOT_REQUESTS_DROPPED = Counter(
    "alphapulse_relay_snapshot_requests_dropped_total",
    "Snapshot requests of a consumer dropped by its rate limit (relay.limits)",
    ["consumer"],
)
SNAPSHOT_REQUESTS_COALESCED = Counter(
    "alphapulse_relay_snapshot_requests_coalesced_total",
    "Snapshot requests merged into a deferred one for the same feed and book: one fewer to a collector (relay.limits)",
)
CONSUMERS_REFUSED = Counter(
    "alphapulse_relay_consumers_refused_total",
    "Consumer connections closed on arrival: too many in all or from one address (relay.limits)",
    ["reason"],
)
FEEDS_CONNECTED = Gauge("alphapulse_relay_feeds_connected", "Feed sockets currently connected")
CONSUMERS = Gauge("alphapulse_relay_consumers", "Consumers currently connected")
QUEUE_BYTES = Gauge("alphapulse_relay_consumer_queue_bytes", "Bytes waiting to be written to a consumer", ["consumer"])

LATENCY_BOUNDS_S: Final = (2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 5e-3, 0.025, 0.1)


class ReadLatency:
    """A histogram of seconds kept as plain counts: ``observe`` is one C bisect and two additions."""

    __slots__ = ("counts", "sum_s")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BOUNDS_S) + 1)  # the last: above every bound
        self.sum_s = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BOUNDS_S, seconds)] += 1  # le: a value on a bound counts in it
        self.sum_s += seconds


class _HotPath(Collector):
    def __init__(self) -> None:
        self.relays: weakref.WeakSet[Relay] = weakref.WeakSet()

    def collect(self) -> Iterator[Metric]:
        # one relay per process in a deployment; several in a test process are summed per label
        cells_in: defaultdict[str, int] = defaultdict(int)
        cells_out: defaultdict[str, int] = defaultdict(int)
        counts = [0] * (len(LATENCY_BOUNDS_S) + 1)
        sum_s = 0.0
        for relay in list(self.relays):
            for track in list(relay.feeds.values()):
                cells_in[track.name or track.source] += track.cells_in
            for consumer in list(relay.consumers):
                cells_out[consumer.name] += consumer.cells_out
            counts = [a + b for a, b in zip(counts, relay.latency.counts, strict=True)]
            sum_s += relay.latency.sum_s
        frames_in = CounterMetricFamily(
            "alphapulse_relay_frames_in", "Cells received from feed sockets", labels=["feed"]
        )
        for feed, n in cells_in.items():
            frames_in.add_metric([feed], n)
        frames_out = CounterMetricFamily(
            "alphapulse_relay_frames_out", "Cells written to consumers", labels=["consumer"]
        )
        for consumer_name, n in cells_out.items():
            frames_out.add_metric([consumer_name], n)
        cumulative, total = [], 0
        for bound, n in zip((*LATENCY_BOUNDS_S, float("inf")), counts, strict=True):
            total += n
            cumulative.append(("+Inf" if bound == float("inf") else repr(bound), total))  # as prometheus_client
        yield frames_in
        yield frames_out
        yield HistogramMetricFamily(
            "alphapulse_relay_latency_seconds",
            "Time from a chunk's arrival from a feed to its hand-off to every consumer's transport",
            buckets=cumulative,
            sum_value=sum_s,
        )


HOT_PATH: Final = _HotPath()
REGISTRY.register(HOT_PATH)
