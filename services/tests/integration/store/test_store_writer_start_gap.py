"""Regression (found by e2e/test_faults_processes.py): a writer killed with -9 and restarted lost
what the relay sent while it was down with no gap row anywhere. A restarted writer now resumes
every feed session from its saved marks (``store.resume``); a start with no marks (a first start,
a lost spool volume) records a ``writer_start`` gap for the sessions that ended before it."""

import asyncio
from pathlib import Path

import asyncpg
from prometheus_client import CollectorRegistry

from alphapulse.store.resume import PROGRESS_FILE
from alphapulse.store.service import run_writer


async def test_a_writer_start_records_a_gap_for_what_it_cannot_have_seen(migrated_url: str, tmp_path: Path) -> None:
    task = asyncio.create_task(
        run_writer(
            [f"unix:{tmp_path / 'no-relay.sock'}"], dsn=migrated_url, spool_dir=tmp_path / "spool",
            host="127.0.0.1", port=0, registry=CollectorRegistry(),
        )
    )  # fmt: skip
    conn = await asyncpg.connect(migrated_url)
    try:
        rows: list[asyncpg.Record] = []
        for _ in range(200):
            rows = await conn.fetch("SELECT source, reason, detected_ns FROM gaps")
            if rows:
                break
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [(r["source"], r["reason"]) for r in rows] == [("writer", "writer_start")]
    assert rows[0]["detected_ns"] > 0
    # the marks file exists from the first flush on: the next start of this spool resumes instead
    assert (tmp_path / "spool" / PROGRESS_FILE).exists()
