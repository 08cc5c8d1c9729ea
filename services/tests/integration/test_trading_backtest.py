"""Backtests end to end: a seeded session in the export layout -> catalog -> runs -> DuckDB -> PNG."""

from pathlib import Path

import duckdb
import pytest

from alphapulse.trading.backtest.catalog import convert_export
from alphapulse.trading.backtest.report import render_report
from alphapulse.trading.backtest.results import list_runs, save_run
from alphapulse.trading.backtest.runner import BacktestSpec, run_backtest
from alphapulse.trading.backtest.sample import write_sample_session
from alphapulse.trading.config import StrategySpec

EMA = StrategySpec(
    "alphapulse.trading.strategies.ema_reversion:EmaReversion",
    {"instrument_id": "BTC-USDT.BINANCE", "trade_size": "0.1", "period": 50, "entry_bps": 20.0},
)
SPREAD = StrategySpec(
    "alphapulse.trading.strategies.spread:CrossVenueSpread",
    {"instrument_ids": ["BTC-USDT.BINANCE", "BTC-USD.KRAKEN"], "trade_size": "0.01", "entry_bps": 30.0},
)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("bt")
    export = root / "export"
    write_sample_session(export, quotes=6_000)
    report = convert_export(export, root / "catalog")
    assert report.instruments == ["BTC-USDT.BINANCE", "BTC-USD.KRAKEN"]
    assert (report.quotes, report.trades) == (12_000, 2_400)
    assert report.book_deltas > 2 * 12_000  # a CLEAR and per quote a bid and an ask level, plus deletions
    return export, root / "catalog"


def test_catalog_trades_equal_what_duckdb_reads_from_the_same_parquet(catalog: tuple[Path, Path]) -> None:
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    export, cat = catalog
    ticks = ParquetDataCatalog(str(cat)).trade_ticks(instrument_ids=["BTC-USD.KRAKEN"])
    rows = duckdb.sql(
        f"SELECT ts_exchange_ns, ts_recv_ns, trade_id, side, price::VARCHAR, qty::VARCHAR "
        f"FROM read_parquet('{export}/type=trades/**/*.parquet', hive_partitioning=true) "
        f"WHERE exchange = 'kraken' AND symbol = 'BTC-USD' ORDER BY ts_recv_ns, trade_id"
    ).fetchall()
    side = {"BUYER": "buy", "SELLER": "sell"}
    got = [
        (t.ts_event, t.ts_init, int(t.trade_id.value), side[t.aggressor_side.name], str(t.price), str(t.size))
        for t in ticks
    ]
    assert len(got) == 1_200
    assert got == list(rows)


def test_same_inputs_same_fills_and_pnl_stored_and_reported(catalog: tuple[Path, Path], tmp_path: Path) -> None:
    _, cat = catalog
    spec = BacktestSpec(cat, (EMA, SPREAD), seed=42)
    first, second = run_backtest(spec), run_backtest(spec)
    assert first.fills, "the sample session must make both strategies trade"
    assert {f.instrument_id for f in first.fills} == {"BTC-USDT.BINANCE", "BTC-USD.KRAKEN"}
    assert first.fills == second.fills
    assert first.pnl == second.pnl and first.fingerprint() == second.fingerprint()
    assert all(float(f.fee) > 0 and f.liquidity == "taker" for f in first.fills)  # taker fees charged
    db = tmp_path / "bt.duckdb"
    run_id = save_run(db, first, name="ema+spread")
    (listed,) = list_runs(db)
    assert listed["run_id"] == run_id and listed["fills"] == len(first.fills)
    assert listed["fingerprint"] == first.fingerprint()
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.execute(
            "SELECT ts_ns, instrument_id, side, price::VARCHAR, qty::VARCHAR FROM backtest_fills "
            "WHERE run_id = ? ORDER BY ts_ns, order_id, trade_id",
            [run_id],
        ).fetchall()
    assert [(r[0], r[1], r[2]) for r in stored] == [(f.ts_ns, f.instrument_id, f.side) for f in first.fills]
    assert [float(r[3]) for r in stored] == [float(f.price) for f in first.fills]
    png = render_report(first, tmp_path / "report.png", title="ema+spread")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_l2_backtest_fills_against_the_recorded_book_deterministically(catalog: tuple[Path, Path]) -> None:
    from nautilus_trader.model.enums import BookAction, RecordFlag
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    _, cat = catalog
    deltas = ParquetDataCatalog(str(cat)).order_book_deltas(instrument_ids=["BTC-USDT.BINANCE"])
    assert deltas[0].action == BookAction.CLEAR and deltas[0].flags & RecordFlag.F_SNAPSHOT
    assert deltas[2].flags & RecordFlag.F_LAST  # the snapshot (CLEAR, bid, ask) is one batch
    spec = BacktestSpec(cat, (EMA, SPREAD), book_type="L2_MBP")
    first, second = run_backtest(spec), run_backtest(spec)
    assert first.fills and first.fingerprint() == second.fingerprint()
    assert first.events == 12_000 + 2_400 + len(deltas) + len(
        ParquetDataCatalog(str(cat)).order_book_deltas(instrument_ids=["BTC-USD.KRAKEN"])
    )
