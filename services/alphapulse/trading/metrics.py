"""The trading node's Prometheus metrics (names in docs/metrics.md).

Frames handed to NautilusTrader and the per-read latency are touched on every relay read: they are
plain numbers (the translator's counts, a ``PlainHistogram``) read at scrape time by ``PER_READ``
(``alphapulse.plain_metrics``); the rest change on rare events.
"""

import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

from prometheus_client import REGISTRY, Counter
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from alphapulse.plain_metrics import counter_family, histogram_family

if TYPE_CHECKING:
    from alphapulse.trading.live_client import RelayDataClient

__all__ = ("FRAME_TYPES", "GAPS", "LATENCY_BOUNDS_S", "ORDERS", "PER_READ", "REJECTED", "RESYNCS")

FRAME_TYPES: Final = ("trade", "quote", "book", "book_snapshot")
LATENCY_BOUNDS_S: Final = (5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2.5e-2, 0.1, 0.5)
GAPS = Counter("alphapulse_trading_gaps_total", "Gap frames seen by the live data client", ["feed"])
REJECTED = Counter(
    "alphapulse_trading_rejected_frames_total",
    "Frames refused before NautilusTrader (unknown symbol, precision mismatch, out of range)",
    ["reason"],
)
RESYNCS = Counter("alphapulse_trading_book_resyncs_total", "Book snapshots requested after a gap", ["exchange"])
ORDERS = Counter("alphapulse_trading_orders_total", "Order events in the node (every strategy), by event", ["status"])


class _PerRead(Collector):
    def __init__(self) -> None:
        self.clients: weakref.WeakSet[RelayDataClient] = weakref.WeakSet()

    def collect(self) -> Iterator[Metric]:
        clients = list(self.clients)  # one per node; a test process may hold several: summed
        yield counter_family(
            "alphapulse_trading_frames",
            "Frames handed to NautilusTrader, by frame type",
            "type",
            {kind: sum(c.translator.counts.get(kind, 0) for c in clients) for kind in FRAME_TYPES},
        )
        yield histogram_family(
            "alphapulse_trading_latency_seconds",
            "Feed receive time (collector) to hand-off into NautilusTrader's DataEngine, sampled once per relay read",
            LATENCY_BOUNDS_S,
            [c.latency for c in clients],
        )


PER_READ: Final = _PerRead()
REGISTRY.register(PER_READ)
