"""The no-loss database writer: batches in memory, journals to a bounded spool, drains into PostgreSQL.

Data flow, and why each step is where it is::

    submit(kind, rows)           hot path: appends a NumPy array to a list; no I/O, never awaits
        │  every flush_interval_s, or at once when batch_rows are pending
        ▼
    Spool.append                 one write() into the page cache; bounded by spool_max_bytes;
        │                        beyond it rows are dropped, counted and recorded as a gap row
        ▼
    drain loop                   reads records after the committed pointer, one transaction per
        │                        batch: COPY into staging, INSERT ... ON CONFLICT DO NOTHING
        ▼
    Spool.commit                 pointer moves only after the database commit

The database being down, slow or stalled only makes the drain loop back off and retry the same
records; the spool absorbs the backlog. A crash loses nothing already spooled: the restart
replays from the pointer and the natural keys drop what was already committed.
"""

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import asyncpg
import numpy as np
import orjson

from alphapulse.clock import Clock, SystemClock
from alphapulse.store.metrics import WriterMetrics
from alphapulse.store.migrate import migrate
from alphapulse.store.rows import DTYPES, Kind, Rows
from alphapulse.store.sink import TABLE, PostgresSink
from alphapulse.store.spool import Position, Record, Spool

__all__ = ("Writer", "WriterConfig", "WriterStats")

log = logging.getLogger(__name__)

_LOSS_REPORT_NS: Final = 1_000_000_000

# Errors after which the same batch may succeed on a fresh connection: connection loss, server
# shutdown or overload, serialization conflicts, and a schema not there yet (42xxx: someone may be
# running `alphapulse db migrate`). Anything else from the server is a problem with the data.
_RETRYABLE: Final = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.TransactionRollbackError,
    asyncpg.exceptions.SyntaxOrAccessError,
    asyncpg.exceptions.ObjectNotInPrerequisiteStateError,
)


@dataclass(frozen=True, slots=True)
class WriterConfig:
    dsn: str
    spool_dir: Path
    spool_max_bytes: int = 1 << 30
    spool_segment_bytes: int = 64 << 20
    batch_rows: int = 50_000
    connections: int = 2  # batch transactions in flight at once (the server uses a core for each)
    flush_interval_s: float = 0.05
    db_timeout_s: float = 10.0
    retry_initial_s: float = 0.1
    retry_max_s: float = 2.0
    apply_migrations: bool = True


@dataclass(slots=True)
class WriterStats:
    submitted_rows: int = 0
    spooled_rows: int = 0
    written_rows: dict[str, int] = field(default_factory=dict)
    lost_rows: int = 0
    rejected_rows: int = 0
    batches: int = 0
    reconnects: int = 0


@dataclass(slots=True)
class _Loss:
    since_ns: int
    rows: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    ts_start_ns: int | None = None
    ts_end_ns: int | None = None


class Writer:
    """Owns a spool directory and one database connection; run it with ``await writer.run()``."""

    def __init__(
        self, config: WriterConfig, *, metrics: WriterMetrics | None = None, clock: Clock | None = None
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.clock = clock or SystemClock()
        self.stats = WriterStats()
        self.spool = Spool(config.spool_dir, max_bytes=config.spool_max_bytes, segment_bytes=config.spool_segment_bytes)
        if self.spool.truncated_bytes:
            log.warning("spool: cut a torn record tail", extra={"bytes": self.spool.truncated_bytes})
        self._pending: dict[Kind, list[Rows]] = {k: [] for k in DTYPES}
        self._pending_rows = 0
        self._docs: list[dict[str, Any]] = []
        self._loss: _Loss | None = None
        self._sinks: dict[int, PostgresSink] = {}
        self._migrated = False
        self._migrate_lock = asyncio.Lock()
        self._damage_reported = 0
        self._flush_now = asyncio.Event()
        self._appended = asyncio.Event()
        self._drained = asyncio.Event()
        self.connected = False
        self.last_error: str | None = None
        # called after every flush, once the spool holds what was pending (the RESUME marks are saved there)
        self.after_flush: Callable[[], None] | None = None
        self._update_gauges()

    # -- hot path --------------------------------------------------------------------------

    def submit(self, kind: Kind, rows: Rows) -> None:
        """Queue rows of ``kind`` (an array of ``DTYPES[kind]``). Never blocks, never does I/O."""
        n = len(rows)
        if n == 0:
            return
        self._pending[kind].append(rows)
        self._pending_rows += n
        self.stats.submitted_rows += n
        if self._pending_rows >= self.config.batch_rows:
            self._flush_now.set()

    def submit_document(self, doc: dict[str, Any]) -> None:
        """Queue an instrument, gap or feed event (``{"table": "instruments"|"gaps"|"feed_events", ...}``)."""
        self._docs.append(doc)
        self.stats.submitted_rows += 1

    # -- memory to spool -------------------------------------------------------------------

    def flush(self, *, final: bool = False) -> None:
        """Move everything pending into the spool (or count it lost when the spool is full)."""
        now_ns = self.clock.now_ns()
        appended = False
        if self._docs:
            # Documents are tiny and carry instruments and gaps: spooled even past the limit.
            self.spool.append(Kind.JSON, len(self._docs), orjson.dumps(self._docs), now_ns)
            self.stats.spooled_rows += len(self._docs)
            self._docs = []
            appended = True
        dropped = False
        for kind, parts in self._pending.items():
            if not parts:
                continue
            rows = parts[0] if len(parts) == 1 else np.concatenate(parts)
            parts.clear()
            payload = rows.tobytes()
            if self.spool.has_room(len(payload)):
                self.spool.append(kind, len(rows), payload, now_ns)
                self.stats.spooled_rows += len(rows)
                appended = True
            else:
                self._record_loss(kind, rows, now_ns)
                dropped = True
        self._pending_rows = 0
        loss = self._loss
        # A loss is recorded once it ends (this flush dropped nothing), after at most
        # _LOSS_REPORT_NS while it lasts (so a crash forgets at most that much of it), and on the
        # way out. Gap documents are tiny and spooled even past the limit.
        if loss is not None and (final or not dropped or now_ns - loss.since_ns >= _LOSS_REPORT_NS):
            self.spool.append(Kind.JSON, 1, orjson.dumps([self._gap_document(loss, now_ns)]), now_ns)
            self._loss = None
            appended = True
        if appended:
            self._appended.set()
            self._drained.clear()
        if self.after_flush is not None:
            self.after_flush()
        self._update_gauges()

    def _record_loss(self, kind: Kind, rows: Rows, now_ns: int) -> None:
        loss = self._loss or _Loss(since_ns=now_ns)
        n = len(rows)
        loss.rows += n
        loss.by_kind[TABLE[kind]] = loss.by_kind.get(TABLE[kind], 0) + n
        lo, hi = int(rows["ts_recv_ns"].min()), int(rows["ts_recv_ns"].max())
        loss.ts_start_ns = lo if loss.ts_start_ns is None else min(loss.ts_start_ns, lo)
        loss.ts_end_ns = hi if loss.ts_end_ns is None else max(loss.ts_end_ns, hi)
        self._loss = loss
        self.stats.lost_rows += n
        if self.metrics is not None:
            self.metrics.lost_rows.inc(n)
        if loss.rows == n:
            log.error("spool full: dropping rows", extra={"spool_bytes": self.spool.backlog_bytes})

    @staticmethod
    def _gap_document(loss: _Loss, now_ns: int) -> dict[str, Any]:
        return {
            "table": "gaps",
            "source": "writer",
            "reason": "spool_full",
            "missed": loss.rows,
            "ts_start_ns": loss.ts_start_ns,
            "ts_end_ns": loss.ts_end_ns,
            "detected_ns": now_ns,
            "detail": {"rows_by_table": loss.by_kind},
        }

    # -- spool to database -----------------------------------------------------------------

    async def run(self) -> None:
        """Flush and drain until cancelled; on the way out, pending rows go to the spool."""
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._flush_loop(), name="writer.flush")
                tg.create_task(self._drain_loop(), name="writer.drain")
        finally:
            self.flush(final=True)
            sinks, self._sinks = list(self._sinks.values()), {}
            for sink in sinks:
                await sink.close()
            self.connected = False

    async def drained(self, timeout_s: float) -> bool:
        """Flush now and wait until the spool is empty (everything is in the database)."""
        self.flush()
        try:
            await asyncio.wait_for(self._drained.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        """Spool whatever is pending (and any loss not yet recorded), then close the spool."""
        self.flush(final=True)
        self.spool.close()

    async def _flush_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flush_now.wait(), self.config.flush_interval_s)
            self._flush_now.clear()
            self.flush()

    async def _drain_loop(self) -> None:
        """Keep up to ``connections`` batch transactions in flight; commit the pointer in order.

        Batches run concurrently on separate connections (the server converts and indexes on as
        many cores), but the spool pointer only moves past a batch once it and every batch before
        it have committed. After a failure, whatever was in flight is awaited, the pointer stays
        behind the first failed batch, and everything after it is read again (committed batches
        among them are then duplicates, which the natural keys drop).
        """
        inflight: collections.deque[tuple[Position, int, asyncio.Task[None]]] = collections.deque()
        try:
            await self._drain(inflight)
        finally:
            for _, _, task in inflight:
                task.cancel()
            await asyncio.gather(*(t for _, _, t in inflight), return_exceptions=True)

    async def _drain(self, inflight: collections.deque[tuple[Position, int, asyncio.Task[None]]]) -> None:
        delay_s = self.config.retry_initial_s
        pos = self.spool.committed
        free = list(range(self.config.connections))
        # Connect (and migrate) at start-up, not at the first row: health and schema are ready early.
        while not self.connected:
            try:
                await self._ensure_sink(free[-1])
            except _RETRYABLE as e:
                await self._on_db_error(free[-1], e)
                await self.clock.sleep(delay_s)
                delay_s = min(delay_s * 2, self.config.retry_max_s)
        delay_s = self.config.retry_initial_s
        while True:
            failure: BaseException | None = None
            while inflight and inflight[0][2].done():
                end, slot, task = inflight.popleft()
                free.append(slot)
                failure = task.exception()
                if failure is not None:
                    break
                self.spool.commit(end)
                delay_s = self.config.retry_initial_s
                self._update_gauges()
            if failure is not None:
                await asyncio.gather(*(t for _, _, t in inflight), return_exceptions=True)
                free.extend(slot for _, slot, _ in inflight)
                inflight.clear()
                if not isinstance(failure, _RETRYABLE):
                    raise failure
                await self.clock.sleep(delay_s)
                delay_s = min(delay_s * 2, self.config.retry_max_s)
                pos = self.spool.committed
                continue
            records = self.spool.read(pos, self.config.batch_rows) if free else []
            self._report_spool_damage()
            if records:
                self._update_gauges(lag_s=max(0.0, (self.clock.now_ns() - records[0].appended_ns) / 1e9))
                slot = free.pop()
                task = asyncio.create_task(self._write_batch(slot, records), name=f"writer.batch.{slot}")
                inflight.append((records[-1].end, slot, task))
                pos = records[-1].end
                continue
            if inflight:
                await asyncio.wait([t for _, _, t in inflight], return_when=asyncio.FIRST_COMPLETED)
                continue
            self._drained.set()
            self._update_gauges(lag_s=0.0)
            self._appended.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._appended.wait(), max(self.config.flush_interval_s, 0.01) * 4)

    async def _write_batch(self, slot: int, records: Sequence[Record]) -> None:
        try:
            await self._write(await self._ensure_sink(slot), records)
        except _RETRYABLE as e:
            await self._on_db_error(slot, e)
            raise
        except (asyncpg.exceptions.DataError, asyncpg.exceptions.IntegrityConstraintViolationError) as e:
            log.error("batch rejected by the database; retrying record by record", extra={"error": str(e)})
            await self._write_one_by_one(slot, records)

    async def _ensure_sink(self, slot: int) -> PostgresSink:
        sink = self._sinks.get(slot)
        if sink is None:
            sink = await PostgresSink.connect(self.config.dsn, timeout_s=self.config.db_timeout_s)
            self._sinks[slot] = sink
            if self.config.apply_migrations and not self._migrated:
                async with self._migrate_lock:
                    if not self._migrated:
                        await migrate(sink.conn)
                        self._migrated = True
            if not self.connected and (self.stats.batches or self.last_error):
                self.stats.reconnects += 1
                log.info("database connection restored", extra={"spool_bytes": self.spool.backlog_bytes})
            self.connected = True
            self.last_error = None
        return sink

    async def _on_db_error(self, slot: int, e: BaseException) -> None:
        if self.connected or self.last_error is None:
            log.warning("database unavailable; spooling", extra={"error": repr(e)})
        self.connected = False
        self.last_error = repr(e)
        sink = self._sinks.pop(slot, None)
        if sink is not None:
            sink.conn.terminate()  # a stalled peer would make a polite close hang

    async def _write(self, sink: PostgresSink, records: Sequence[Record]) -> None:
        by_kind: dict[Kind, list[Rows]] = {}
        docs: list[dict[str, Any]] = []
        for rec in records:
            if rec.kind == Kind.JSON:
                docs.extend(orjson.loads(rec.payload))
            else:
                kind = Kind(rec.kind)
                by_kind.setdefault(kind, []).append(np.frombuffer(rec.payload, dtype=DTYPES[kind]))
        started = self.clock.monotonic_s()
        written: dict[str, int] = {}
        async with sink.conn.transaction():
            if docs:
                written["documents"] = await sink.write_documents(docs)
            for kind, parts in by_kind.items():
                rows = parts[0] if len(parts) == 1 else np.concatenate(parts)
                written[TABLE[kind]] = await sink.write_rows(kind, rows)
        self.stats.batches += 1
        for table, n in written.items():
            self.stats.written_rows[table] = self.stats.written_rows.get(table, 0) + n
        if self.metrics is not None:
            self.metrics.batch_seconds.observe(self.clock.monotonic_s() - started)
            for table, n in written.items():
                self.metrics.rows.labels(table=table).inc(n)

    async def _write_one_by_one(self, slot: int, records: Sequence[Record]) -> None:
        """Isolate records the database rejects for their content; keep them on disk, count them."""
        for rec in records:
            while True:
                try:
                    await self._write(await self._ensure_sink(slot), [rec])
                    break
                except _RETRYABLE as e:
                    await self._on_db_error(slot, e)
                    await self.clock.sleep(self.config.retry_max_s)
                except (
                    asyncpg.exceptions.DataError,
                    asyncpg.exceptions.IntegrityConstraintViolationError,
                ) as e:
                    self._reject(rec, e)
                    break

    def _report_spool_damage(self) -> None:
        events = self.spool.corrupt_events
        for where in events[self._damage_reported :]:
            log.error("spool damage skipped", extra={"where": where})
            self.submit_document(
                {
                    "table": "gaps", "source": "writer", "reason": "spool_corrupt", "missed": None,
                    "detected_ns": self.clock.now_ns(), "detail": {"where": where},
                }
            )  # fmt: skip
        self._damage_reported = len(events)

    def _reject(self, rec: Record, error: BaseException) -> None:
        rejected = Path(self.config.spool_dir) / "rejected"
        rejected.mkdir(exist_ok=True)
        name = f"{rec.start.segment:016d}-{rec.start.offset:012d}-kind{rec.kind}"
        (rejected / f"{name}.bin").write_bytes(rec.payload)
        (rejected / f"{name}.txt").write_text(f"{error!r}\n")
        self.stats.rejected_rows += rec.rows
        if self.metrics is not None:
            self.metrics.lost_rows.inc(rec.rows)
        self._docs.append(
            {
                "table": "gaps",
                "source": "writer",
                "reason": "rejected",
                "missed": rec.rows,
                "detected_ns": self.clock.now_ns(),
                "detail": {"error": str(error)[:500], "file": name},
            }
        )
        log.error("record rejected by the database", extra={"file": name, "rows": rec.rows, "error": str(error)})

    def _update_gauges(self, lag_s: float | None = None) -> None:
        if self.metrics is None:
            return
        self.metrics.spool_bytes.set(self.spool.backlog_bytes)
        if lag_s is not None:
            self.metrics.lag_seconds.set(lag_s)
