"""The collector's metrics (names per docs/metrics.md), read from plain counters at scrape time.

The hot path only increments integers on the parser and the frame writer; this collector turns them
into Prometheus families when ``/metrics`` is scraped. The two latency histograms are observed on a
sample of messages (one in 64): an observation costs about a microsecond, a message a few.
"""

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from alphapulse.collectors.output import FrameWriter
    from alphapulse.collectors.parsing import VenueParser
    from alphapulse.transport import FeedServer

__all__ = ("CollectorMetrics",)

_LATENCY_BUCKETS_S = (
    0.00001,
    0.000025,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)


class CollectorMetrics(Collector):
    def __init__(self, feed: str, exchange: str, registry: CollectorRegistry) -> None:
        self.feed = feed
        self.exchange = exchange
        self.parser: VenueParser | None = None
        self.writer: FrameWriter | None = None
        self.server: FeedServer | None = None
        self.reconnects = 0
        self.connected = False
        self.flushes = 0
        self.exchange_latency = Histogram(
            "alphapulse_collector_exchange_latency_seconds",
            "Exchange time to receive time (sampled)",
            ["feed"],
            registry=registry,
            buckets=_LATENCY_BUCKETS_S,
        ).labels(feed)
        self.socket_latency = Histogram(
            "alphapulse_collector_socket_latency_seconds",
            "Receive time to the frames' hand-off to the feed socket (sampled)",
            ["feed"],
            registry=registry,
            buckets=_LATENCY_BUCKETS_S,
        ).labels(feed)
        registry.register(self)

    def observe(self, writer: "FrameWriter", recv_ns: int, now_ns: int) -> None:
        self.socket_latency.observe(max(0, now_ns - writer.first_recv_ns) / 1e9)
        if writer.last_ts_exchange_ns:
            self.exchange_latency.observe(max(0, recv_ns - writer.last_ts_exchange_ns) / 1e9)

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        feed, exchange = self.feed, self.exchange
        messages = CounterMetricFamily(
            "alphapulse_collector_messages", "Venue messages received, by kind", labels=["feed", "exchange", "kind"]
        )
        errors = CounterMetricFamily(
            "alphapulse_collector_parse_errors", "Venue messages rejected, by reason", labels=["feed", "reason"]
        )
        frames = CounterMetricFamily(
            "alphapulse_collector_frames", "Frames published, by type", labels=["feed", "type"]
        )
        gaps = CounterMetricFamily(
            "alphapulse_collector_gaps", "Gap frames published, by reason", labels=["feed", "reason"]
        )
        checksum = CounterMetricFamily(
            "alphapulse_collector_checksum_failures", "Book checksum mismatches", labels=["feed"]
        )
        reconnects = CounterMetricFamily("alphapulse_collector_reconnects", "Venue reconnects", labels=["feed"])
        connected = GaugeMetricFamily(
            "alphapulse_collector_connected", "1 while the venue connection is up", labels=["feed"]
        )
        p, w = self.parser, self.writer
        if p is not None:
            for kind, n in sorted(p.stats.messages.items()):
                messages.add_metric([feed, exchange, kind], n)
            for reason, n in sorted(p.stats.errors.items()):
                errors.add_metric([feed, reason], n)
            checksum.add_metric([feed], p.stats.checksum_failures)
        if w is not None:
            for kind, n in (("trade", w.trades), ("quote", w.quotes), ("book", w.book_levels), ("status", w.statuses)):
                frames.add_metric([feed, kind], n)
            for reason, n in sorted(w.gaps.items()):
                gaps.add_metric([feed, reason], n)
        reconnects.add_metric([feed], self.reconnects)
        connected.add_metric([feed], 1.0 if self.connected else 0.0)
        yield from (messages, errors, frames, gaps, checksum, reconnects, connected)
        if self.server is not None:
            ring = self.server.ring
            held = GaugeMetricFamily(
                "alphapulse_collector_replay_ring_bytes", "Bytes of recent cells held to answer RESUME", labels=["feed"]
            )
            held.add_metric([feed], ring.held_bytes)
            cells = GaugeMetricFamily(
                "alphapulse_collector_replay_ring_cells", "Cells held in the replay ring", labels=["feed"]
            )
            cells.add_metric([feed], ring.held_cells)
            resumes = CounterMetricFamily(
                "alphapulse_collector_resumes", "RESUME requests answered (a consumer recovering)", labels=["feed"]
            )
            resumes.add_metric([feed], self.server.resumes)
            yield from (held, cells, resumes)
