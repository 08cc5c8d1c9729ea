"""Migrations on a real server: applied once, in order, recorded; a second run changes nothing."""

import asyncio
import shutil
from pathlib import Path

import asyncpg
import pytest

from alphapulse.store.migrate import MIGRATIONS_DIR, MigrationError, discover, migrate, status, timescale_level


async def _schema_snapshot(url: str) -> list[tuple[str, str, str]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            """SELECT table_name, column_name, data_type FROM information_schema.columns
                WHERE table_schema = 'public' ORDER BY 1, 2"""
        )
        return [tuple(r) for r in rows]
    finally:
        await conn.close()


async def test_migrations_apply_in_order_then_a_second_run_is_a_no_op(database_url: str) -> None:
    first = await migrate(database_url)
    assert [m.version for m in first] == [m.version for m in discover()]
    assert [m.version for m in first] == sorted(m.version for m in first)
    before = await _schema_snapshot(database_url)

    second = await migrate(database_url)

    assert second == []
    assert await _schema_snapshot(database_url) == before
    states = await status(database_url)
    assert {s.state for s in states} == {"applied"}
    assert {"trades", "quotes", "book_updates", "gaps", "feed_events", "instruments"} <= {t for t, _, _ in before}


async def test_two_runners_at_once_apply_each_file_once(database_url: str) -> None:
    results = await asyncio.gather(migrate(database_url), migrate(database_url))
    assert sorted(len(r) for r in results) == [0, len(discover())]
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(discover())
    finally:
        await conn.close()


async def test_timescaledb_gives_hypertables_where_present(migrated_url: str, pg_server: str) -> None:
    conn = await asyncpg.connect(migrated_url)
    try:
        level = await timescale_level(conn)
        if "5432" in pg_server:
            assert level == "none"
            assert await conn.fetchval("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'") == 0
        else:
            assert level == "apache"  # the Apache-2 edition: no compression, no continuous aggregates
            tables = await conn.fetch("SELECT hypertable_name FROM timescaledb_information.hypertables")
            assert {r[0] for r in tables} == {"trades", "quotes", "book_updates"}
        # The same candle views exist on both (continuous aggregates only with the Community license).
        for view in ("candles_1s", "candles_1m", "candles_1h"):
            assert await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", view)
    finally:
        await conn.close()


async def test_a_migration_changed_after_it_was_applied_is_refused(database_url: str, tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    await migrate(database_url, directory=directory)
    target = directory / "0002_instruments.sql"
    target.write_text(target.read_text() + "\n-- edited\n")

    with pytest.raises(MigrationError, match="changed after it was applied"):
        await migrate(database_url, directory=directory)
    assert any(s.state == "changed" for s in await status(database_url, directory=directory))


def test_discover_rejects_duplicate_versions_and_bad_names(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0001_b.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="share version"):
        discover(tmp_path)
    (tmp_path / "0001_b.sql").unlink()
    (tmp_path / "1_Bad.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="named"):
        discover(tmp_path)


async def test_exact_decimal_and_time_conversions(migrated_url: str) -> None:
    conn = await asyncpg.connect(migrated_url)
    try:
        row = await conn.fetchrow(
            """SELECT ap_decimal(9223372036854775807, 18::smallint)::text AS big,
                      ap_decimal(-5, 2::smallint)::text AS neg,
                      ap_decimal(6000050, 0::smallint)::text AS whole,
                      ap_ns_to_ts(1764028800123456789) = timestamptz '2025-11-25 00:00:00.123456+00' AS ts"""
        )
        assert row is not None
        assert row["big"] == "9.223372036854775807"
        assert row["neg"] == "-0.05"
        assert row["whole"] == "6000050"
        assert row["ts"] is True
    finally:
        await conn.close()
