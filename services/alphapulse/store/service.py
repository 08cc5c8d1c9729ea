"""``alphapulse writer``: relay frames in, rows in PostgreSQL out, metrics on ``/metrics``.

Why a process beside the bridge rather than inside it: the writer's failure modes (a database
outage, a full disk, a slow COPY) and its scaling (one per cluster, near the database) are not
the bridge's (one per node, near browsers). As its own relay consumer it gets the same loss
accounting (gap frames) as any consumer, and a writer restart never drops a browser connection.
"""

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry

from alphapulse.observability import MetricsServer
from alphapulse.protocol import FrameError
from alphapulse.store.frames_to_rows import FrameConverter
from alphapulse.store.metrics import WriterMetrics
from alphapulse.store.rows import Kind
from alphapulse.store.writer import Writer, WriterConfig
from alphapulse.transport import RelayClient

__all__ = ("RelayWriter", "run_writer")

log = logging.getLogger(__name__)


class RelayWriter:
    """Feeds a :class:`Writer` from relay cells; ``on_cells`` is the relay client's callback."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self.converter = FrameConverter()
        self.malformed = 0

    def on_cells(self, data: bytes) -> None:
        try:
            out = self.converter.convert(data)
        except FrameError as e:
            self.malformed += 1
            log.error("malformed frames from the relay", extra={"error": str(e), "bytes": len(data)})
            return
        w = self.writer
        for doc in out.documents:
            w.submit_document(doc)
        w.submit(Kind.TRADES, out.trades)
        w.submit(Kind.QUOTES, out.quotes)
        w.submit(Kind.BOOK, out.book)
        if out.unknown_instrument_rows:
            w.submit_document(
                {
                    "table": "gaps", "source": "writer", "reason": "unknown_instrument",
                    "missed": out.unknown_instrument_rows, "detected_ns": w.clock.now_ns(),
                }
            )  # fmt: skip


async def run_writer(
    relays: Sequence[str],
    *,
    dsn: str,
    spool_dir: Path,
    host: str,
    port: int,
    spool_max_bytes: int = 1 << 30,
    batch_rows: int = 50_000,
    registry: CollectorRegistry = REGISTRY,
) -> None:
    writer = Writer(
        WriterConfig(dsn=dsn, spool_dir=spool_dir, spool_max_bytes=spool_max_bytes, batch_rows=batch_rows),
        metrics=WriterMetrics.create(registry),
    )
    source = RelayWriter(writer)
    # Whatever the relay sent while no writer was running (a crash, a restart, a first start) never
    # reached us, and a fresh process cannot know what it missed: record that explicitly, as the
    # relay client does for a reconnect, so a hole in the trades is never silent.
    writer.submit_document(
        {"table": "gaps", "source": "writer", "reason": "writer_start", "detected_ns": writer.clock.now_ns()}
    )
    client = RelayClient(list(relays), source.on_cells, name="writer")

    def health() -> tuple[bool, str]:
        # Spooling through a database outage is the writer doing its job, not a failure: a
        # liveness probe that restarted it then would only lose what is in memory. Outages show in
        # the text here and in alphapulse_writer_lag_seconds / _spool_bytes (alerts).
        if not writer.connected:
            return True, f"ok; database unavailable ({writer.last_error}); spooling {writer.spool.backlog_bytes} bytes"
        return True, f"ok; spool {writer.spool.backlog_bytes} bytes"

    metrics = MetricsServer(host, port, registry=registry, health=health)
    await metrics.start()
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(writer.run(), name="writer.core")
            tg.create_task(client.run(), name="writer.relay-client")
    finally:
        await metrics.close()
        writer.close()
