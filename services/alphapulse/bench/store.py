"""Storage: sustained trade ingest through the writer (spool + COPY + dedup), its lag, and export rows/s.

Peers on the same table in the same run: asyncpg ``copy_records_to_table`` with Python tuples
(the usual way to COPY from asyncpg, no duplicate safety) and ``executemany`` INSERTs.
Uses DATABASE_URL (or --database-url); without one it starts an embedded PostgreSQL in a temp
folder. Each run works in its own fresh database and drops it.
"""

import argparse
import asyncio
import datetime as dt
import os
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np

from alphapulse.bench.stats import latency_summary, result

__all__ = ("add_arguments", "run")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, default=1_000_000, help="trades through the writer (default 1,000,000)")
    parser.add_argument("--chunk", type=int, default=1_000, help="rows per submit, as relay reads deliver them")
    parser.add_argument("--batch-rows", type=int, default=50_000, help="writer rows per transaction")
    parser.add_argument("--connections", type=int, default=2, help="writer batch transactions in flight")
    parser.add_argument("--peer-rows", type=int, default=200_000, help="rows for the copy_records peer")
    parser.add_argument("--executemany-rows", type=int, default=20_000, help="rows for the executemany peer")
    parser.add_argument("--rate", type=int, default=50_000, help="rows/s offered in the paced lag scenario")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of the paced lag scenario")
    parser.add_argument("--skip-peer", action="store_true", help="measure only alphapulse")
    parser.add_argument("--database-url", default=None, help="server to use (default: env DATABASE_URL or embedded)")
    parser.add_argument(
        "--timescaledb", action="store_true", help="use an embedded server with TimescaleDB preloaded (if installed)"
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    from alphapulse.settings import env
    from alphapulse.store.embedded import embedded_postgres

    async with AsyncExitStack() as stack:
        server = None if args.timescaledb else args.database_url or env("DATABASE_URL")
        notes: list[str] = []
        if not server:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="ap-bench-", dir="/tmp"))
            os.chmod(folder, 0o755)
            settings = {"fsync": "off"}
            if args.timescaledb:
                settings["shared_preload_libraries"] = "timescaledb"
            server = await stack.enter_async_context(embedded_postgres(folder, settings=settings))
            notes.append(f"embedded PostgreSQL with {settings}")
        name = f"ap_bench_store_{uuid.uuid4().hex[:10]}"
        admin = await asyncpg.connect(server)
        await admin.execute(f'CREATE DATABASE "{name}"')
        dsn = server.rsplit("/", 1)[0] + f"/{name}"
        try:
            return await _measure(args, dsn, notes)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
    raise AssertionError("unreachable")  # pragma: no cover


async def _measure(args: argparse.Namespace, dsn: str, notes: list[str]) -> dict[str, Any]:
    from alphapulse.store import synthetic as syn
    from alphapulse.store.export import export_parquet
    from alphapulse.store.migrate import migrate, timescale_level
    from alphapulse.store.rows import Kind
    from alphapulse.store.writer import Writer, WriterConfig

    conn = await asyncpg.connect(dsn)
    await migrate(conn)
    level = await timescale_level(conn)
    results: list[dict[str, Any]] = []

    # -- the writer: submit as fast as the loop allows, measure until everything is committed ----
    chunks = [syn.trade_rows(args.chunk, start=i) for i in range(0, args.rows, args.chunk)]
    with tempfile.TemporaryDirectory(prefix="ap-bench-spool-") as spool:
        writer = Writer(
            WriterConfig(dsn=dsn, spool_dir=Path(spool), batch_rows=args.batch_rows, connections=args.connections)
        )
        for d in syn.instrument_documents():
            writer.submit_document(d)
        task = asyncio.create_task(writer.run(), name="bench.writer")
        lag_ns: list[int] = []
        submit_ns: list[int] = []

        def sample_lag() -> None:
            committed = writer.spool.read(writer.spool.committed, 1, max_records=1)
            lag_ns.append(time.time_ns() - committed[0].appended_ns if committed else 0)

        began = time.perf_counter()
        for i, chunk in enumerate(chunks):
            t0 = time.perf_counter_ns()
            writer.submit(Kind.TRADES, chunk)
            submit_ns.append(time.perf_counter_ns() - t0)
            if i % 20 == 19:
                sample_lag()
                await asyncio.sleep(0)  # let the flush and drain tasks run, as a relay read loop would
        while not await writer.drained(0.02):
            sample_lag()
        elapsed = time.perf_counter() - began
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        writer.close()
    written = writer.stats.written_rows.get("trades", 0)
    results.append(
        result(
            "alphapulse", written / elapsed, latency_summary(lag_ns), scenario="writer-ingest",
            rows=written, seconds=round(elapsed, 3), batches=writer.stats.batches,
            lag="latency_ns is the writer's lag: age of the oldest spooled batch not yet committed",
            submit_ns=latency_summary(submit_ns), timescaledb=level,
        )
    )  # fmt: skip

    # -- paced: a steady offered rate below capacity; the lag is what a dashboard would see -----
    with tempfile.TemporaryDirectory(prefix="ap-bench-spool-") as spool:
        writer = Writer(
            WriterConfig(dsn=dsn, spool_dir=Path(spool), batch_rows=args.batch_rows, connections=args.connections)
        )
        task = asyncio.create_task(writer.run(), name="bench.writer.paced")
        lag_ns = []
        per_tick = max(1, args.rate // 100)  # 100 submits per second, like a relay read loop
        start_i = args.rows + 10_000_000
        began = time.perf_counter()
        sent = 0
        while (now := time.perf_counter()) - began < args.seconds:
            due = int((now - began) * args.rate)
            while sent < due:
                writer.submit(Kind.TRADES, syn.trade_rows(per_tick, start=start_i + sent))
                sent += per_tick
            committed = writer.spool.read(writer.spool.committed, 1, max_records=1)
            lag_ns.append(time.time_ns() - committed[0].appended_ns if committed else 0)
            await asyncio.sleep(0.01)
        await writer.drained(600)
        elapsed = time.perf_counter() - began
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        writer.close()
    results.append(
        result(
            "alphapulse", sent / elapsed, latency_summary(lag_ns), scenario="writer-paced-lag",
            offered_rows_per_s=args.rate, rows=sent,
            lag="latency_ns is the writer's lag sampled every 10 ms (0 when caught up)",
        )
    )  # fmt: skip

    # -- replay of the same rows: everything is a duplicate ------------------------------------
    with tempfile.TemporaryDirectory(prefix="ap-bench-spool-") as spool:
        replay_rows = chunks[: max(1, len(chunks) // 5)]
        writer = Writer(
            WriterConfig(dsn=dsn, spool_dir=Path(spool), batch_rows=args.batch_rows, connections=args.connections)
        )
        task = asyncio.create_task(writer.run(), name="bench.writer.replay")
        began = time.perf_counter()
        for chunk in replay_rows:
            writer.submit(Kind.TRADES, chunk)
        await writer.drained(600)
        elapsed = time.perf_counter() - began
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        writer.close()
    n_replayed = sum(len(c) for c in replay_rows)
    results.append(
        result(
            "alphapulse", n_replayed / elapsed, latency_summary([]), scenario="writer-replay-duplicates",
            rows=n_replayed, inserted=writer.stats.written_rows.get("trades", 0),
        )
    )  # fmt: skip

    # -- export ----------------------------------------------------------------------------
    with tempfile.TemporaryDirectory(prefix="ap-bench-export-") as out:
        start, end = dt.datetime(2025, 11, 24, tzinfo=dt.UTC), dt.datetime(2025, 12, 31, tzinfo=dt.UTC)
        report = await export_parquet(dsn, start, end, Path(out), tables=("trades",))
        size = sum(p.stat().st_size for p in Path(out).rglob("*.parquet"))
    results.append(
        result(
            "alphapulse", report.rows_written / report.seconds, latency_summary([]), scenario="export-parquet",
            rows=report.rows_written, files=len(report.files_written), parquet_bytes=size,
        )
    )  # fmt: skip

    # -- peers -----------------------------------------------------------------------------
    if not args.skip_peer:
        await conn.execute("TRUNCATE trades")
        peer = np.concatenate(chunks)[: args.peer_rows]
        began = time.perf_counter()
        records = _records(peer)
        for i in range(0, len(records), args.batch_rows):
            await conn.copy_records_to_table("trades", records=records[i : i + args.batch_rows], columns=_COLUMNS)
        elapsed = time.perf_counter() - began
        results.append(
            result(
                "asyncpg copy_records_to_table", len(peer) / elapsed, latency_summary([]), scenario="writer-ingest",
                rows=len(peer), duplicate_safe=False,
            )
        )  # fmt: skip
        await conn.execute("TRUNCATE trades")
        peer = peer[: args.executemany_rows]
        began = time.perf_counter()
        records = _records(peer)
        placeholders = ", ".join(f"${i + 1}" for i in range(len(_COLUMNS)))
        await conn.executemany(
            f"INSERT INTO trades ({', '.join(_COLUMNS)}) VALUES ({placeholders}) ON CONFLICT DO NOTHING", records
        )
        elapsed = time.perf_counter() - began
        results.append(
            result(
                "asyncpg executemany", len(peer) / elapsed, latency_summary([]), scenario="writer-ingest",
                rows=len(peer), duplicate_safe=True,
            )
        )  # fmt: skip
    await conn.close()
    notes.append(f"timescaledb: {level}; cores: {os.cpu_count()}")
    return {"bench": "store", "results": results, "notes": notes}


_COLUMNS = ["time", "instrument_id", "trade_id", "side", "price", "qty", "seq", "ts_exchange_ns", "ts_recv_ns"]
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _records(rows: np.ndarray) -> list[tuple[Any, ...]]:
    """What a Python consumer would build per trade to COPY it: datetime, Decimal, text."""
    side = {0: "unknown", 1: "buy", 2: "sell"}
    return [
        (
            _EPOCH + dt.timedelta(microseconds=int(r["ts_exchange_ns"]) // 1000), int(r["instrument_id"]),
            int(r["trade_id"]), side[int(r["side"])],
            Decimal(int(r["price_raw"])).scaleb(-int(r["price_scale"])),
            Decimal(int(r["qty_raw"])).scaleb(-int(r["qty_scale"])),
            int(r["seq"]), int(r["ts_exchange_ns"]), int(r["ts_recv_ns"]),
        )
        for r in rows
    ]  # fmt: skip
