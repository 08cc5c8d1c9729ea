"""The storage verbs as a user runs them: db migrate/status, export parquet, analytics."""

import asyncio
import datetime as dt
from pathlib import Path

import orjson
import pytest
from test_store_writer import running

from alphapulse.cli import main
from alphapulse.store import synthetic as syn
from alphapulse.store.rows import Kind
from alphapulse.store.writer import Writer, WriterConfig


async def _cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def test_db_migrate_then_status(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert await _cli("db", "migrate", "--database-url", database_url) == 0
    assert "schema up to date" in capsys.readouterr().out
    assert await _cli("db", "migrate", "--database-url", database_url) == 0
    assert "(0 applied now)" in capsys.readouterr().out
    assert await _cli("db", "status", "--json", "--database-url", database_url) == 0
    states = orjson.loads(capsys.readouterr().out)["migrations"]
    assert {s["state"] for s in states} == {"applied"}


async def test_export_then_analytics_from_the_command_line(
    migrated_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    writer = Writer(WriterConfig(dsn=migrated_url, spool_dir=tmp_path / "spool"))
    async with running(writer):
        for d in syn.instrument_documents():
            writer.submit_document(d)
        writer.submit(Kind.TRADES, syn.trade_rows(3_000))
        writer.submit(Kind.QUOTES, syn.quote_rows(600))
        assert await writer.drained(30)
    out = tmp_path / "pq"
    args = ("--from", "2025-11-25", "--to", "2025-11-26")
    assert (
        await _cli("export", "parquet", *args, "--out", str(out), "--no-progress", "--database-url", migrated_url) == 0
    )
    assert "exported 3600 rows" in capsys.readouterr().out

    assert await _cli("analytics", "candles", "--parquet", str(out), *args, "--width", "1h", "--symbol", "BTC-USD") == 0
    table = capsys.readouterr().out
    assert "BTC-USD" in table
    assert "(1 rows)" in table
    csv = tmp_path / "spreads.csv"
    assert await _cli("analytics", "spreads", "--database-url", migrated_url, *args, "--out", str(csv)) == 0
    assert csv.read_text().splitlines()[0].startswith("bucket,exchange,symbol,quotes")
    stats = tmp_path / "trades.parquet"
    assert await _cli("analytics", "trades", "--parquet", str(out), *args, "--out", str(stats)) == 0
    assert stats.stat().st_size > 0
    assert dt.date(2025, 11, 25).isoformat() in {p.name.removeprefix("date=") for p in out.rglob("date=*")}
