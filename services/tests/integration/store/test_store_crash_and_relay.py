"""The writer as a process: kill -9 mid-stream and restart; and fed by a real relay over sockets."""

import asyncio
import os
import signal
import sys
from decimal import Decimal
from pathlib import Path

import asyncpg
import numpy as np
from relay_harness import Producer, eventually
from test_store_writer import db_trades, expected_trades

from alphapulse.protocol import Exchange, pack_book, pack_quote
from alphapulse.relay import Relay
from alphapulse.store import synthetic as syn
from alphapulse.store.service import RelayWriter
from alphapulse.store.writer import Writer, WriterConfig
from alphapulse.transport import RelayClient

N_ROWS = 30_000
CHILD = """
import asyncio, sys
from alphapulse.store import synthetic as syn
from alphapulse.store.rows import Kind
from alphapulse.store.writer import Writer, WriterConfig

async def main(dsn, spool, n, produce):
    w = Writer(WriterConfig(dsn=dsn, spool_dir=spool, batch_rows=1_000))
    if produce:
        for i in range(0, n, 500):
            w.submit(Kind.TRADES, syn.trade_rows(500, start=i))
            w.flush()  # one spool record per 500 rows, as the flush loop would make them
        print("spooled", flush=True)
    task = asyncio.create_task(w.run())
    ok = await w.drained(120)
    print("drained" if ok else "timeout", flush=True)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    w.close()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "produce"))
"""


async def _spawn(dsn: str, spool: Path, mode: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, dsn, str(spool), str(N_ROWS), mode, stdout=asyncio.subprocess.PIPE, env=env
    )


async def _count(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM trades"))
    finally:
        await conn.close()


async def test_kill_9_mid_stream_then_restart_loses_and_doubles_nothing(migrated_url: str, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    child = await _spawn(migrated_url, spool, "produce")
    assert child.stdout is not None
    assert (await asyncio.wait_for(child.stdout.readline(), 60)).strip() == b"spooled"
    for _ in range(3000):  # kill as soon as the first batches are committed: mid-stream
        if await _count(migrated_url) > 0:
            break
        await asyncio.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    await child.wait()
    partial = await _count(migrated_url)
    assert 0 < partial < N_ROWS

    again = await _spawn(migrated_url, spool, "resume")
    assert again.stdout is not None
    assert (await asyncio.wait_for(again.stdout.readline(), 120)).strip() == b"drained"
    await again.wait()

    got = await db_trades(migrated_url)
    assert len(got) == N_ROWS
    assert set(got) == expected_trades(np.concatenate([syn.trade_rows(500, start=i) for i in range(0, N_ROWS, 500)]))


async def test_frames_through_a_real_relay_land_row_for_row(migrated_url: str, sock_dir: Path, tmp_path: Path) -> None:
    producer = Producer(sock_dir, "kraken-spot", Exchange.KRAKEN, ["BTC-USD", "ETH-USD"])
    await producer.start()
    relay = Relay(sock_dir, scan_interval_s=0.02)
    await relay.start()
    relay_task = asyncio.create_task(relay.run(), name="test.relay")
    writer = Writer(WriterConfig(dsn=migrated_url, spool_dir=tmp_path / "spool", flush_interval_s=0.01))
    source = RelayWriter(writer)
    client = RelayClient([f"unix:{sock_dir / 'relay.sock'}"], source.on_cells, name="test.writer")
    tasks = [
        asyncio.create_task(writer.run(), name="test.writer"),
        asyncio.create_task(client.run(), name="test.writer.client"),
    ]
    try:
        await eventually(lambda: len(source.converter._scales) == 2, what="instruments at the writer")
        sent_trades = 0
        for i in range(20):
            producer.publish_trades(500, symbol_index=i % 2)
            sent_trades += 500
            await asyncio.sleep(0.005)
        sid = producer.sids[0]
        quotes = b"".join(
            pack_quote(sid, producer.seq + 2 * k, 10 + k, 20 + k, 5_000_000, 1, 5_000_100, 2) for k in range(50)
        )
        producer.seq += 100
        book = b"".join(
            pack_book(sid, producer.seq + k, 1 + k % 2, 30 + k, 40 + k, 4_999_000 + k, k) for k in range(60)
        )
        producer.seq += 60
        producer.server.publish(quotes + book)
        await eventually(
            lambda: writer.stats.spooled_rows >= sent_trades + 110, timeout_s=20, what="rows at the writer"
        )
        assert await writer.drained(30)
    finally:
        for t in (*tasks, relay_task):
            t.cancel()
        await asyncio.gather(*tasks, relay_task, return_exceptions=True)
        writer.close()
        await producer.server.close()

    conn = await asyncpg.connect(migrated_url)
    try:
        trades = await conn.fetch("SELECT instrument_id, trade_id, side, price, qty, seq FROM trades ORDER BY seq")
        instruments = await conn.fetch("SELECT exchange, symbol, price_scale, qty_scale FROM instruments ORDER BY 2")
        quote = await conn.fetchrow("SELECT bid_price, bid_qty, ask_price, ask_qty FROM quotes ORDER BY seq LIMIT 1")
        n_quotes = await conn.fetchval("SELECT count(*) FROM quotes")
        levels = await conn.fetch("SELECT side, price, qty FROM book_updates ORDER BY seq")
    finally:
        await conn.close()
    assert [tuple(r) for r in instruments] == [("kraken", "BTC-USD", 2, 8), ("kraken", "ETH-USD", 2, 8)]
    assert len(trades) == sent_trades
    assert {(r["side"], r["price"], r["qty"]) for r in trades} == {("buy", Decimal("90000.01"), Decimal("1.00000000"))}
    assert [r["trade_id"] for r in trades] == [r["seq"] for r in trades]  # the harness uses seq as trade id
    assert len({(r["instrument_id"], r["trade_id"]) for r in trades}) == sent_trades
    assert n_quotes == 50
    assert quote is not None
    assert tuple(quote) == (Decimal("50000.00"), Decimal("1E-8"), Decimal("50001.00"), Decimal("2E-8"))
    assert len(levels) == 60
    assert [(r["side"], r["price"], r["qty"]) for r in levels[:2]] == [
        ("bid", Decimal("49990.00"), Decimal("0E-8")),
        ("ask", Decimal("49990.01"), Decimal("1E-8")),
    ]


async def test_the_writer_command_consumes_a_relay_and_stops_cleanly(
    migrated_url: str, sock_dir: Path, tmp_path: Path
) -> None:
    producer = Producer(sock_dir, "binance-spot", Exchange.BINANCE, ["BTC-USDT"])
    await producer.start()
    relay = Relay(sock_dir, scan_interval_s=0.02)
    await relay.start()
    relay_task = asyncio.create_task(relay.run(), name="test.relay")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p), "DATABASE_URL": migrated_url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "alphapulse", "writer", "--relay", f"unix:{sock_dir / 'relay.sock'}",
        "--spool-dir", str(tmp_path / "spool"), "--port", "0", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await eventually(lambda: bool(relay.consumers), timeout_s=30, what="the writer connected to the relay")
        await asyncio.sleep(0.2)
        for _ in range(10):
            producer.publish_trades(300)
            await asyncio.sleep(0.01)
        for _ in range(300):
            if await _count(migrated_url) == 3_000:
                break
            await asyncio.sleep(0.05)
        assert await _count(migrated_url) == 3_000
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        relay_task.cancel()
        await asyncio.gather(relay_task, return_exceptions=True)
        await producer.server.close()
