"""The relay's Prometheus metrics (names in docs/metrics.md)."""

from prometheus_client import Counter, Gauge, Histogram

FRAMES_IN = Counter("alphapulse_relay_frames_in_total", "Cells received from feed sockets", ["feed"])
FRAMES_OUT = Counter("alphapulse_relay_frames_out_total", "Cells written to consumers", ["consumer"])
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
LATENCY = Histogram(
    "alphapulse_relay_latency_seconds",
    "Time from a chunk's arrival from a feed to its hand-off to every consumer's transport",
    buckets=(2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 5e-3, 0.025, 0.1),
)
