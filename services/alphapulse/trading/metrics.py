"""The trading node's Prometheus metrics (names in docs/metrics.md)."""

from prometheus_client import Counter, Histogram

__all__ = ("FRAMES", "GAPS", "LATENCY", "ORDERS", "REJECTED", "RESYNCS")

FRAMES = Counter("alphapulse_trading_frames_total", "Frames handed to NautilusTrader, by frame type", ["type"])
GAPS = Counter("alphapulse_trading_gaps_total", "Gap frames seen by the live data client", ["feed"])
REJECTED = Counter(
    "alphapulse_trading_rejected_frames_total",
    "Frames refused before NautilusTrader (unknown symbol, precision mismatch, out of range)",
    ["reason"],
)
RESYNCS = Counter("alphapulse_trading_book_resyncs_total", "Book snapshots requested after a gap", ["exchange"])
ORDERS = Counter("alphapulse_trading_orders_total", "Order events in the node (every strategy), by event", ["status"])
LATENCY = Histogram(
    "alphapulse_trading_latency_seconds",
    "Feed receive time (collector) to hand-off into NautilusTrader's DataEngine, sampled once per relay read",
    buckets=(5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2.5e-2, 0.1, 0.5),
)
