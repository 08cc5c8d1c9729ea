"""The relay's Prometheus metrics (names in docs/metrics.md).

The three the hot path touches on every read — cells in per feed, cells out per consumer, the
per-read latency histogram — are plain numbers kept by the relay and read at scrape time by
``HOT_PATH`` (``alphapulse.plain_metrics``): as prometheus_client metrics they were a quarter of the
relay's instructions per read (3 cells to 4 consumers: 129k instructions with them, 96k without).
"""

import weakref
from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from alphapulse.plain_metrics import counter_family, histogram_family

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


class _HotPath(Collector):
    def __init__(self) -> None:
        self.relays: weakref.WeakSet[Relay] = weakref.WeakSet()

    def collect(self) -> Iterator[Metric]:
        # one relay per process in a deployment; several in a test process are summed per label
        relays = list(self.relays)
        cells_in: defaultdict[str, int] = defaultdict(int)
        cells_out: defaultdict[str, int] = defaultdict(int)
        for relay in relays:
            for track in list(relay.feeds.values()):
                cells_in[track.name or track.source] += track.cells_in
            for consumer in list(relay.consumers):
                cells_out[consumer.name] += consumer.cells_out
        yield counter_family("alphapulse_relay_frames_in", "Cells received from feed sockets", "feed", cells_in)
        yield counter_family("alphapulse_relay_frames_out", "Cells written to consumers", "consumer", cells_out)
        yield histogram_family(
            "alphapulse_relay_latency_seconds",
            "Time from a chunk's arrival from a feed to its hand-off to every consumer's transport",
            LATENCY_BOUNDS_S,
            [r.latency for r in relays],
        )


HOT_PATH: Final = _HotPath()
REGISTRY.register(HOT_PATH)
