"""The bridge's Prometheus metrics (names from docs/metrics.md), updated once per tick, not per event.

The two a tick touches (events out, the tick's send latency) are plain numbers read at scrape time
(``alphapulse.plain_metrics``); the rest change on connections and refusals only.
"""

from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from alphapulse.plain_metrics import PlainHistogram, histogram_family

__all__ = ("DROP_REASONS", "REJECT_REASONS", "BridgeMetrics")

# Why an event did not reach a client.
DROP_REASONS = ("slow_client", "coalesced", "unknown_instrument", "malformed_frame")
# Why a connection or request was refused.
REJECT_REASONS = (
    "origin",
    "token",
    "auth_timeout",
    "auth_required",
    "malformed",
    "binary",
    "oversized",
    "subscription_limit",
    "client_limit",
    "pending_limit",
    "address_pending_limit",
    "slow_client",
    "rate_limited",
)
# Send latency spans tens of µs (a tick to a live client) up to seconds (a backlog being flushed).
_LATENCY_BUCKETS_S = (
    25e-6,
    50e-6,
    100e-6,
    200e-6,
    400e-6,
    800e-6,
    1.6e-3,
    3.2e-3,
    6.4e-3,
    12.8e-3,
    25.6e-3,
    0.1,
    0.5,
    2.0,
)


class BridgeMetrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.clients = Gauge(
            "alphapulse_bridge_clients", "WebSocket clients authenticated and connected", registry=registry
        )
        self.pending = Gauge(
            "alphapulse_bridge_pending_connections",
            "WebSocket connections open and not authenticated yet",
            registry=registry,
        )
        self.messages_out = 0  # alphapulse_bridge_messages_out_total
        self.dropped = Counter(
            "alphapulse_bridge_dropped_total", "Events not delivered to a client", ["reason"], registry=registry
        )
        self.rejected = Counter(
            "alphapulse_bridge_rejected_total", "Connections or requests refused", ["reason"], registry=registry
        )
        self.send_latency = PlainHistogram(_LATENCY_BUCKETS_S)  # alphapulse_bridge_send_latency_seconds
        registry.register(_PerTick(self))
        # Pre-create every label so dashboards see zeros, not missing series.
        self._dropped = {r: self.dropped.labels(reason=r) for r in DROP_REASONS}
        self._rejected = {r: self.rejected.labels(reason=r) for r in REJECT_REASONS}

    def drop(self, reason: str, count: int = 1) -> None:
        if count:
            self._dropped[reason].inc(count)

    def reject(self, reason: str) -> None:
        self._rejected[reason].inc()


class _PerTick(Collector):
    def __init__(self, metrics: BridgeMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "alphapulse_bridge_messages_out",
            "Events written to clients (one per event per client)",
            value=self.metrics.messages_out,
        )
        yield histogram_family(
            "alphapulse_bridge_send_latency_seconds",
            "From a relay read (tick) to the last client write of that tick",
            _LATENCY_BUCKETS_S,
            [self.metrics.send_latency],
        )
