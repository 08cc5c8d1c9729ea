"""The writer's database side: staging, the duplicate-safe move, and the staging table emptied after each move."""

import asyncpg
import numpy as np
import pytest

from alphapulse.store.rows import TRADE_DTYPE, Kind, Rows
from alphapulse.store.sink import MOVE_AND_EMPTY_MAX_ROWS, PostgresSink


def trades(first_id: int, n: int) -> Rows:
    rows = np.zeros(n, dtype=TRADE_DTYPE)
    rows["instrument_id"] = 7
    rows["trade_id"] = np.arange(first_id, first_id + n)
    rows["seq"] = rows["trade_id"]
    rows["ts_exchange_ns"] = 1_764_028_800_000_000_000 + rows["trade_id"] * 1_000
    rows["ts_recv_ns"] = rows["ts_exchange_ns"] + 5
    rows["price_raw"], rows["qty_raw"], rows["side"] = 5_000_000, 1_000, 1
    rows["price_scale"], rows["qty_scale"] = 2, 8
    return rows


# small batches are moved and emptied in one statement, large ones moved then truncated: both must
# leave the staging table empty for the next batch of the same transaction
@pytest.mark.parametrize("n", [3, MOVE_AND_EMPTY_MAX_ROWS, MOVE_AND_EMPTY_MAX_ROWS + 1, 5_000])
async def test_batches_in_one_transaction_each_insert_only_their_own_new_rows(migrated_url: str, n: int) -> None:
    sink = await PostgresSink.connect(migrated_url)
    try:
        async with sink.conn.transaction():
            assert await sink.write_rows(Kind.TRADES, trades(0, n)) == n
            # the second batch overlaps the first by half: only its new half goes in, nothing of the first again
            assert await sink.write_rows(Kind.TRADES, trades(n // 2, n)) == n // 2
            assert await sink.conn.fetchval("SELECT count(*) FROM ap_stage_trades") == 0
        # a replay of both in a later transaction inserts nothing
        async with sink.conn.transaction():
            assert await sink.write_rows(Kind.TRADES, trades(0, n + n // 2)) == 0
    finally:
        await sink.close()
    conn = await asyncpg.connect(migrated_url)
    try:
        ids = [r["trade_id"] for r in await conn.fetch("SELECT trade_id FROM trades ORDER BY trade_id")]
    finally:
        await conn.close()
    assert ids == list(range(n + n // 2))
