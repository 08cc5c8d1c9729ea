"""Export to Parquet and read back with DuckDB: equal to the database, candles equal to SQL's."""

import asyncio
import datetime as dt
from decimal import Decimal
from pathlib import Path

import asyncpg
import numpy as np
import pyarrow.parquet as pq
from test_store_writer import running

from alphapulse.analytics import Analytics
from alphapulse.store import synthetic as syn
from alphapulse.store.export import export_parquet
from alphapulse.store.rows import TRADE_DTYPE, Kind
from alphapulse.store.writer import Writer, WriterConfig

DAY = dt.datetime(2025, 11, 25, tzinfo=dt.UTC)
START, END = DAY - dt.timedelta(days=1), DAY + dt.timedelta(days=2)


async def _load(url: str, spool: Path) -> None:
    # 30,000 trades 3 ms apart from midnight, plus some just before midnight (a second day file).
    trades = syn.trade_rows(30_000, spacing_ns=3_000_000)
    late = syn.trade_rows(
        300, start=50_000, start_ns=int(DAY.timestamp() * 1e9) - 10**9 - 50_000 * 1_000_000, spacing_ns=1_000_000
    )
    odd = np.zeros(1, dtype=TRADE_DTYPE)  # a trade whose scale differs from its instrument's others
    odd[0] = (syn.INSTRUMENTS[0][0], 99_999_999, 1, int(DAY.timestamp() * 1e9) + 5, int(DAY.timestamp() * 1e9) + 9,
              600_000_123, 1, 1, 4, 8)  # fmt: skip
    writer = Writer(WriterConfig(dsn=url, spool_dir=spool))
    async with running(writer):
        for d in syn.instrument_documents():
            writer.submit_document(d)
        writer.submit(Kind.TRADES, trades)
        writer.submit(Kind.TRADES, late)
        writer.submit(Kind.TRADES, odd)
        writer.submit(Kind.QUOTES, syn.quote_rows(5_000))
        writer.submit(Kind.BOOK, syn.book_rows(2_000))
        assert await writer.drained(60)


async def _db(url: str, query: str, *args: object) -> list[tuple[object, ...]]:
    conn = await asyncpg.connect(url)
    try:
        return [tuple(r) for r in await conn.fetch(query, *args)]
    finally:
        await conn.close()


def _rounded(rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """Float statistics summed in another order differ in the last bits."""
    return [tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in rows]


async def test_export_reads_back_equal_and_candles_agree(migrated_url: str, tmp_path: Path) -> None:
    await _load(migrated_url, tmp_path / "spool")
    out = tmp_path / "parquet"

    report = await export_parquet(migrated_url, START, END, out)

    assert report.rows_written == 30_000 + 300 + 1 + 5_000 + 2_000
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.parquet"))
    assert "type=trades/exchange=kraken/symbol=BTC-USD/date=2025-11-24" in {f.rsplit("/", 1)[0] for f in files}
    assert not list(out.rglob("*.tmp"))
    meta = pq.read_schema(next(out.rglob("*.parquet"))).metadata
    assert meta[b"alphapulse.instrument_id"].isdigit()

    an = Analytics.from_parquet(out)
    exported = an.con.sql(
        "SELECT exchange, symbol, trade_id, side, price, qty, seq, ts_exchange_ns, ts_recv_ns FROM trades ORDER BY ALL"
    ).fetchall()
    stored = await _db(
        migrated_url,
        """SELECT i.exchange, i.symbol, t.trade_id, t.side, t.price, t.qty, t.seq, t.ts_exchange_ns, t.ts_recv_ns
             FROM trades t JOIN instruments i USING (instrument_id) ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9""",
    )
    assert exported == stored
    assert Decimal("60000.0123") in {r[4] for r in exported}  # the odd scale survived, unrounded
    q_exported = an.con.sql("SELECT symbol, seq, bid_price, ask_qty FROM quotes ORDER BY ALL").fetchall()
    q_stored = await _db(
        migrated_url,
        "SELECT i.symbol, q.seq, q.bid_price, q.ask_qty FROM quotes q JOIN instruments i USING (instrument_id) "
        "ORDER BY 1, 2, 3, 4",
    )
    assert q_exported == q_stored
    assert an.con.sql("SELECT count(*) FROM book_updates").fetchall() == [(2_000,)]

    for width, interval in (
        ("1s", dt.timedelta(seconds=1)),
        ("1m", dt.timedelta(minutes=1)),
        ("1h", dt.timedelta(hours=1)),
    ):
        duck = [tuple(r) for r in an.candles(width, START, END).fetchall()]
        sql = await _db(
            migrated_url,
            """SELECT c.bucket, i.exchange, i.symbol, c.open, c.high, c.low, c.close, c.volume, c.trades
                 FROM ap_candles($1, $2, $3) c JOIN instruments i USING (instrument_id)
                ORDER BY 2, 3, 1""",
            interval, START, END,
        )  # fmt: skip
        assert len(duck) == len(sql) > 0
        assert duck == sql, width

    direct = await Analytics.from_postgres(migrated_url, START, END)
    assert direct.candles("1m", START, END).fetchall() == an.candles("1m", START, END).fetchall()
    assert _rounded(direct.trade_stats(START, END).fetchall()) == _rounded(an.trade_stats(START, END).fetchall())
    assert len(an.vwap("1m", START, END).fetchall()) > 0
    assert len(an.spreads("1m", START, END).fetchall()) > 0


async def test_export_is_resumable_and_skips_finished_files(migrated_url: str, tmp_path: Path) -> None:
    await _load(migrated_url, tmp_path / "spool")
    out = tmp_path / "parquet"
    first = await export_parquet(migrated_url, START, END, out, tables=("trades",))
    victim = first.files_written[0]
    victim.unlink()  # as if the first run died before this file
    (victim.parent / (victim.name + ".tmp")).write_bytes(b"half a file")  # and left a partial temp

    second = await export_parquet(migrated_url, START, END, out, tables=("trades",))

    assert second.files_written == [victim]
    assert len(second.files_skipped) == len(first.files_written) - 1
    assert pq.read_table(victim).num_rows > 0
    assert not list(out.rglob("*.tmp"))


async def test_export_converts_into_a_nautilus_trader_catalog(migrated_url: str, tmp_path: Path) -> None:
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    from alphapulse.store.nautilus_catalog import to_catalog

    writer = Writer(WriterConfig(dsn=migrated_url, spool_dir=tmp_path / "spool"))
    trades = syn.trade_rows(900)
    async with running(writer):
        for d in syn.instrument_documents():
            writer.submit_document(d)
        writer.submit(Kind.TRADES, trades)
        writer.submit(Kind.QUOTES, syn.quote_rows(300))
        writer.submit(Kind.BOOK, syn.book_rows(600))
        assert await writer.drained(30)
    await export_parquet(migrated_url, START, END, tmp_path / "pq")

    report = await asyncio.to_thread(to_catalog, tmp_path / "pq", tmp_path / "catalog")

    assert (report.trades, report.quotes) == (900, 300)
    # 600 levels plus a CLEAR where a snapshot starts: the synthetic book flags every 50th level
    # as a (one-level) snapshot, so 12 of them
    assert report.book_deltas == 600 + 12
    catalog = ParquetDataCatalog(str(tmp_path / "catalog"))
    ticks = catalog.trade_ticks(instrument_ids=["BTC/USD.KRAKEN"])
    assert len(ticks) == 300
    first = trades[trades["instrument_id"] == syn.INSTRUMENTS[0][0]][0]
    assert ticks[0].price.as_decimal() == Decimal(int(first["price_raw"])).scaleb(-1)
    assert ticks[0].size.as_decimal() == Decimal(int(first["qty_raw"])).scaleb(-8)
    assert ticks[0].ts_event == int(first["ts_exchange_ns"])
    assert str(ticks[0].trade_id) == str(int(first["trade_id"]))
    assert len(catalog.quote_ticks(instrument_ids=["SOL/USDT.BINANCE"])) == 100
    deltas = catalog.order_book_deltas(instrument_ids=["BTC/USD.KRAKEN"])
    assert len(deltas) >= 200
    assert any(d.action.name == "CLEAR" for d in deltas)
    assert {str(i.id) for i in catalog.instruments()} == {"BTC/USD.KRAKEN", "ETH/USD.COINBASE", "SOL/USDT.BINANCE"}
