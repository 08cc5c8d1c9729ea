"""The writer's Prometheus metrics (names fixed by docs/metrics.md)."""

from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

__all__ = ("WriterMetrics",)

_BATCH_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True, slots=True)
class WriterMetrics:
    rows: Counter
    batch_seconds: Histogram
    lag_seconds: Gauge
    spool_bytes: Gauge
    lost_rows: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry = REGISTRY) -> "WriterMetrics":
        return cls(
            rows=Counter(
                "alphapulse_writer_rows_total",
                "Rows inserted into PostgreSQL (duplicates not counted)",
                ["table"],
                registry=registry,
            ),
            batch_seconds=Histogram(
                "alphapulse_writer_batch_seconds",
                "Time to write and commit one batch transaction",
                buckets=_BATCH_BUCKETS_S,
                registry=registry,
            ),
            lag_seconds=Gauge(
                "alphapulse_writer_lag_seconds",
                "Age of the oldest spooled batch not yet in the database",
                registry=registry,
            ),
            spool_bytes=Gauge(
                "alphapulse_writer_spool_bytes",
                "Bytes in the on-disk spool not yet written to the database",
                registry=registry,
            ),
            lost_rows=Counter(
                "alphapulse_writer_lost_rows_total",
                "Rows dropped because the spool was full (recorded as gaps)",
                registry=registry,
            ),
        )
