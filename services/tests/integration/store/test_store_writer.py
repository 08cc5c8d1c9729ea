"""The writer on a real server: exact rows, no duplicates on replay, no loss through an outage."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from alphapulse.chaos.proxy import TcpProxy
from alphapulse.store import synthetic as syn
from alphapulse.store.metrics import WriterMetrics
from alphapulse.store.rows import TRADE_DTYPE, Kind, Rows
from alphapulse.store.writer import Writer, WriterConfig


@contextlib.asynccontextmanager
async def running(writer: Writer) -> AsyncIterator[Writer]:
    task = asyncio.create_task(writer.run(), name="test.writer")
    try:
        yield writer
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        writer.close()


def expected_trades(rows: Rows) -> set[tuple[object, ...]]:
    side = {0: "unknown", 1: "buy", 2: "sell"}
    return {
        (
            int(r["instrument_id"]), int(r["trade_id"]), side[int(r["side"])],
            Decimal(int(r["price_raw"])).scaleb(-int(r["price_scale"])),
            Decimal(int(r["qty_raw"])).scaleb(-int(r["qty_scale"])),
            int(r["seq"]), int(r["ts_exchange_ns"]), int(r["ts_recv_ns"]),
        )
        for r in rows
    }  # fmt: skip


async def db_trades(url: str) -> list[tuple[object, ...]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT instrument_id, trade_id, side, price, qty, seq, ts_exchange_ns, ts_recv_ns FROM trades"
        )
        return [tuple(r) for r in rows]
    finally:
        await conn.close()


def edge_trades() -> Rows:
    """Values at the edges of int64 and of the scales: what a float would get wrong."""
    rows = np.zeros(6, dtype=TRADE_DTYPE)
    rows["instrument_id"] = [1, 1, 2, 2, 3, 4294967295]
    rows["trade_id"] = [1, 2, 1, (1 << 40) - 1, 7, 8]
    rows["seq"] = [0, 1, 2, 4294967295, 5, 6]
    rows["ts_exchange_ns"] = [1_764_028_800_000_000_001, 1_764_028_800_999_999_999, 1, 2, 3, 4]
    rows["ts_recv_ns"] = rows["ts_exchange_ns"] + 1
    rows["price_raw"] = [np.iinfo(np.int64).max, 1, -42, 123456789012345678, 0, 10**18]
    rows["qty_raw"] = [1, np.iinfo(np.int64).max, 99, 5, 1, 10**17]
    rows["side"] = [1, 2, 0, 1, 2, 1]
    rows["price_scale"] = [18, 0, 2, 9, 8, 18]
    rows["qty_scale"] = [8, 18, 0, 10, 3, 17]
    return rows


async def test_rows_arrive_exactly_once_each(migrated_url: str, tmp_path: Path) -> None:
    trades = np.concatenate([syn.trade_rows(20_000), edge_trades()])
    writer = Writer(WriterConfig(dsn=migrated_url, spool_dir=tmp_path / "spool", batch_rows=7_000))
    async with running(writer):
        for d in syn.instrument_documents():
            writer.submit_document(d)
        for chunk in np.array_split(trades, 37):
            writer.submit(Kind.TRADES, chunk)
        writer.submit(Kind.QUOTES, syn.quote_rows(3_000))
        writer.submit(Kind.BOOK, syn.book_rows(3_000))
        assert await writer.drained(60)

    got = await db_trades(migrated_url)
    assert len(got) == len(trades)
    assert set(got) == expected_trades(trades)
    conn = await asyncpg.connect(migrated_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM quotes") == 3_000
        assert await conn.fetchval("SELECT count(*) FROM book_updates") == 3_000
        assert await conn.fetchval("SELECT count(*) FROM instruments") == len(syn.INSTRUMENTS)
        q = syn.quote_rows(3_000)[5]
        row = await conn.fetchrow("SELECT bid_price, ask_qty FROM quotes WHERE seq = $1", int(q["seq"]))
        assert row is not None
        assert row["bid_price"] == Decimal(int(q["bid_price_raw"])).scaleb(-int(q["price_scale"]))
        assert row["ask_qty"] == Decimal(int(q["ask_qty_raw"])).scaleb(-int(q["qty_scale"]))
    finally:
        await conn.close()
    assert writer.stats.written_rows["trades"] == len(trades)


async def test_replaying_the_same_frames_never_doubles_a_row(migrated_url: str, tmp_path: Path) -> None:
    trades = syn.trade_rows(5_000)
    writer = Writer(WriterConfig(dsn=migrated_url, spool_dir=tmp_path / "spool"))
    async with running(writer):
        writer.submit(Kind.TRADES, trades)
        writer.submit(Kind.TRADES, trades[1000:3000])  # a replay overlapping the first batch
        writer.submit(Kind.QUOTES, syn.quote_rows(100))
        assert await writer.drained(60)
        writer.submit(Kind.TRADES, trades)  # and again, in a later transaction
        writer.submit(Kind.QUOTES, syn.quote_rows(100))
        assert await writer.drained(60)

    got = await db_trades(migrated_url)
    assert len(got) == len(trades)
    assert set(got) == expected_trades(trades)
    assert writer.stats.written_rows["trades"] == len(trades)  # duplicates are not counted as written


def _via(url: str, port: int) -> str:
    parts = urlsplit(url)
    user = parts.username or "postgres"
    return urlunsplit((parts.scheme, f"{user}@127.0.0.1:{port}", parts.path, parts.query, ""))


@pytest.mark.parametrize("outage_s", [0.3, pytest.param(30.0, marks=pytest.mark.slow)])
async def test_database_outage_spools_then_catches_up_without_loss(
    migrated_url: str, tmp_path: Path, outage_s: float
) -> None:
    target = urlsplit(migrated_url)
    proxy = TcpProxy("127.0.0.1", target.port or 5432)
    await proxy.start()
    registry = CollectorRegistry()
    writer = Writer(
        WriterConfig(
            dsn=_via(migrated_url, proxy.port), spool_dir=tmp_path / "spool", batch_rows=2_000,
            db_timeout_s=2.0, retry_initial_s=0.05, retry_max_s=0.2,
        ),
        metrics=WriterMetrics.create(registry),
    )  # fmt: skip
    sent: list[Rows] = []
    try:
        async with running(writer):
            for i in range(10):
                sent.append(syn.trade_rows(1_000, start=i * 1_000))
                writer.submit(Kind.TRADES, sent[-1])
                await asyncio.sleep(0.01)
            assert await writer.drained(30)
            await proxy.cut()  # the database disappears mid-stream; the stream goes on
            loop = asyncio.get_running_loop()
            until, i = loop.time() + outage_s, 10
            while i < 40 or loop.time() < until:
                sent.append(syn.trade_rows(1_000, start=i * 1_000))
                writer.submit(Kind.TRADES, sent[-1])
                i += 1
                await asyncio.sleep(0.01 if outage_s < 1 else 0.25)
            writer.flush()
            await asyncio.sleep(0.3)
            assert not writer.connected
            assert writer.spool.backlog_bytes > 20_000 * TRADE_DTYPE.itemsize
            assert registry.get_sample_value("alphapulse_writer_spool_bytes") == writer.spool.backlog_bytes
            await proxy.restore()
            assert await writer.drained(60)
    finally:
        await proxy.close()

    all_sent = np.concatenate(sent)
    got = await db_trades(migrated_url)
    assert len(got) == len(all_sent)
    assert set(got) == expected_trades(all_sent)
    assert writer.spool.backlog_bytes == 0
    assert writer.stats.lost_rows == 0
    assert registry.get_sample_value("alphapulse_writer_rows_total", {"table": "trades"}) == len(all_sent)


async def test_a_stalled_database_times_out_and_catches_up(migrated_url: str, tmp_path: Path) -> None:
    target = urlsplit(migrated_url)
    proxy = TcpProxy("127.0.0.1", target.port or 5432)
    await proxy.start()
    writer = Writer(
        WriterConfig(
            dsn=_via(migrated_url, proxy.port), spool_dir=tmp_path / "spool", db_timeout_s=0.5,
            retry_initial_s=0.05, retry_max_s=0.1,
        )
    )  # fmt: skip
    trades = syn.trade_rows(3_000)
    try:
        async with running(writer):
            writer.submit(Kind.TRADES, trades[:1000])
            assert await writer.drained(30)
            proxy.stalled = True  # packets vanish: no error, just silence
            writer.submit(Kind.TRADES, trades[1000:])
            await asyncio.sleep(1.0)
            assert not await writer.drained(0.1)
            await proxy.cut()
            await proxy.restore()
            assert await writer.drained(30)
    finally:
        await proxy.close()
    assert set(await db_trades(migrated_url)) == expected_trades(trades)


async def test_a_full_spool_drops_counts_and_records_a_gap(migrated_url: str, tmp_path: Path) -> None:
    registry = CollectorRegistry()
    dead = _via(migrated_url, 1)  # nothing listens on port 1: the database is "down"
    max_bytes = 10 * 1_000 * TRADE_DTYPE.itemsize
    writer = Writer(
        WriterConfig(dsn=dead, spool_dir=tmp_path / "spool", spool_max_bytes=max_bytes, retry_max_s=0.05),
        metrics=WriterMetrics.create(registry),
    )
    kept = [syn.trade_rows(1_000, start=i * 1_000) for i in range(9)]
    dropped = [syn.trade_rows(1_000, start=i * 1_000) for i in range(9, 14)]
    for rows in kept + dropped:
        writer.submit(Kind.TRADES, rows)
        writer.flush()
    assert writer.stats.lost_rows == 5_000
    assert registry.get_sample_value("alphapulse_writer_lost_rows_total") == 5_000
    writer.close()  # the process stops: the loss is spooled as a gap document on the way out

    # The database comes back (a new writer process, same spool): kept rows and the gap land.
    writer = Writer(WriterConfig(dsn=migrated_url, spool_dir=tmp_path / "spool"))
    async with running(writer):
        assert await writer.drained(30)
    got = await db_trades(migrated_url)
    assert set(got) == expected_trades(np.concatenate(kept))
    conn = await asyncpg.connect(migrated_url)
    try:
        gap = await conn.fetchrow("SELECT source, reason, missed, ts_start_ns, ts_end_ns, detail FROM gaps")
    finally:
        await conn.close()
    assert gap is not None
    lost = np.concatenate(dropped)
    assert (gap["source"], gap["reason"], gap["missed"]) == ("writer", "spool_full", 5_000)
    assert (gap["ts_start_ns"], gap["ts_end_ns"]) == (int(lost["ts_recv_ns"].min()), int(lost["ts_recv_ns"].max()))


async def test_spool_damage_is_skipped_and_recorded_as_a_gap(migrated_url: str, tmp_path: Path) -> None:
    segment = 3 * 500 * TRADE_DTYPE.itemsize
    config = WriterConfig(dsn=_via(migrated_url, 1), spool_dir=tmp_path / "spool", spool_segment_bytes=segment)
    writer = Writer(config)  # the database is down: everything stays in the spool
    batches = [syn.trade_rows(500, start=i * 500) for i in range(8)]
    for rows in batches:
        writer.submit(Kind.TRADES, rows)
        writer.flush()
    writer.close()
    first = sorted((tmp_path / "spool").glob("*.seg"))[0]
    data = bytearray(first.read_bytes())
    data[100] ^= 0xFF  # disk damage inside the first record of the first segment
    first.write_bytes(bytes(data))

    writer = Writer(WriterConfig(dsn=migrated_url, spool_dir=tmp_path / "spool", spool_segment_bytes=segment))
    async with running(writer):
        assert await writer.drained(30)
        assert await writer.drained(30)  # the gap document found while draining is written too

    got = set(await db_trades(migrated_url))
    lost = [b for b in batches if not expected_trades(b) <= got]
    assert 0 < len(lost) <= 3  # at most the damaged segment's records
    assert got == expected_trades(np.concatenate([b for b in batches if expected_trades(b) <= got]))
    conn = await asyncpg.connect(migrated_url)
    try:
        gap = await conn.fetchrow("SELECT source, reason, detail FROM gaps")
    finally:
        await conn.close()
    assert gap is not None
    assert (gap["source"], gap["reason"]) == ("writer", "spool_corrupt")
