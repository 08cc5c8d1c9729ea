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
from alphapulse.store.resume import PROGRESS_FILE, ResumeTracker
from alphapulse.store.rows import Kind
from alphapulse.store.writer import Writer, WriterConfig
from alphapulse.transport import RelayClient

__all__ = ("RelayWriter", "run_writer")

log = logging.getLogger(__name__)


class RelayWriter:
    """Feeds a :class:`Writer` from relay cells; ``on_cells`` is the relay client's callback.

    It also follows each feed session's sequence (``ResumeTracker``): on every relay connection
    it asks the collectors for what it missed (RESUME), so a writer or relay restart loses nothing
    a collector's replay ring still holds."""

    def __init__(self, writer: Writer, *, resume: bool = True) -> None:
        self.writer = writer
        self.converter = FrameConverter()
        self.malformed = 0
        self.resume = ResumeTracker(Path(writer.config.spool_dir) / PROGRESS_FILE, now_ns=writer.clock.now_ns)
        self.resuming = resume
        if resume:
            writer.after_flush = self.resume.save

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
        if not self.resuming:
            return
        # after the rows: the marks it advances are saved only once a flush has spooled them
        try:
            docs = self.resume.observe(data)
        except FrameError as e:
            self.malformed += 1
            log.error("malformed control frame from the relay", extra={"error": str(e)})
            return
        for doc in docs:
            w.submit_document(doc)
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
    # The marks follow one ordered stream per feed: with several relays (their streams interleave
    # in one callback) the writer falls back to recording every reconnection as a gap.
    resume = len(relays) == 1
    source = RelayWriter(writer, resume=resume)
    if not (resume and source.resume.loaded):
        # No marks next to the spool (a first start, or a lost spool volume): sessions that ended
        # before this start are beyond anything we can ask for. Live sessions are resumed from
        # their start, and what their rings no longer hold is recorded precisely.
        writer.submit_document(
            {"table": "gaps", "source": "writer", "reason": "writer_start", "detected_ns": writer.clock.now_ns()}
        )
    # No FEED_LOST gap on a reconnection: the writer asks for what it missed instead (RESUME),
    # and records a gap only for what the collectors no longer hold.
    client = RelayClient(
        list(relays),
        source.on_cells,
        name="writer",
        on_connect=source.resume.on_connect if resume else None,
        reconnect_gap=not resume,
        # The database path is batched anyway (a commit every ~100 ms): reading the relay at most every
        # 20 ms while it keeps up halves the writer's CPU and stops it waking for every frame, which on
        # two vCPUs delayed the live path's processes (docs/performance.md, End to end).
        read_interval_s=0.02,
    )
    source.resume.send = client.send

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
