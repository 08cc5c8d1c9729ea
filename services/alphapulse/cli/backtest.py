"""``alphapulse backtest``: Parquet export -> NautilusTrader catalog -> run -> DuckDB results + PNG report."""

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from alphapulse.errors import ConfigError


def _ns(text: str | None) -> int | None:
    if not text:
        return None
    if text.isdigit():
        return int(text)
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as e:
        raise ConfigError(f"bad time {text!r}: expected ISO 8601 (2025-11-25T10:00:00Z) or integer ns") from e
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1000


def _range_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--start", help="first time (ISO 8601 UTC or ns since the epoch), inclusive")
    p.add_argument("--end", help="last time, exclusive")
    p.add_argument("--instrument", action="append", dest="instruments", metavar="SYMBOL.VENUE",
                   help="only this instrument, e.g. BTC-USDT.BINANCE (repeatable; default all)")  # fmt: skip


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "backtest",
        help="backtest strategies on recorded data",
        description="convert: our Parquet export into a NautilusTrader catalog; run: strategies from a "
        "strategy file over the catalog (fees, L1 fills, seeded), results into a DuckDB file and a PNG "
        "report; list: the stored runs; sample: write a small synthetic session in the export layout.",
    )
    sub = p.add_subparsers(dest="backtest_cmd", required=True)
    c = sub.add_parser("convert", help="Parquet export -> NautilusTrader catalog (rebuilt)")
    c.add_argument("--export", required=True, type=Path, help="export directory (type=/exchange=/symbol=/date=)")
    c.add_argument("--catalog", required=True, type=Path, help="catalog directory (replaced)")
    _range_flags(c)
    r = sub.add_parser("run", help="run a strategy file over a catalog")
    r.add_argument("-f", "--file", required=True, type=Path, help="strategy file (the same YAML as `trade`)")
    r.add_argument("--catalog", required=True, type=Path)
    _range_flags(r)
    r.add_argument(
        "--book", default="L1_MBP", choices=["L1_MBP", "L2_MBP"], help="fill against quotes (L1) or the book (L2)"
    )
    r.add_argument("--seed", type=int, default=42, help="fill model seed (default 42)")
    r.add_argument(
        "--results", type=Path, default=None, help="DuckDB results file (default <data-dir>/backtests.duckdb)"
    )
    r.add_argument("--report", type=Path, default=None, help="write a PNG report here")
    r.add_argument("--name", default="", help="a label stored with the run")
    ls = sub.add_parser("list", help="list stored runs as JSON lines")
    ls.add_argument("--results", type=Path, default=None)
    s = sub.add_parser("sample", help="write a synthetic two-venue session in the export layout")
    s.add_argument("--out", required=True, type=Path)
    s.add_argument("--quotes", type=int, default=20_000)
    s.add_argument("--seed", type=int, default=7)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import orjson

    from alphapulse.settings import data_dir

    results = getattr(args, "results", None) or data_dir() / "backtests.duckdb"
    if args.backtest_cmd == "sample":
        from alphapulse.trading.backtest.sample import write_sample_session

        for path in write_sample_session(args.out, quotes=args.quotes, seed=args.seed):
            print(path)
        return 0
    if args.backtest_cmd == "list":
        from alphapulse.trading.backtest.results import list_runs

        for row in list_runs(results):
            sys.stdout.write(orjson.dumps(row).decode() + "\n")
        return 0
    if args.backtest_cmd == "convert":
        from alphapulse.trading.backtest.catalog import convert_export

        rep = convert_export(
            args.export, args.catalog, start_ns=_ns(args.start), end_ns=_ns(args.end),
            instruments=set(args.instruments or ()) or None,
        )  # fmt: skip
        doc = {
            "instruments": rep.instruments,
            "trades": rep.trades,
            "quotes": rep.quotes,
            "book_deltas": rep.book_deltas,
        }
        print(orjson.dumps(doc).decode())
        return 0
    from alphapulse.trading.backtest.results import save_run
    from alphapulse.trading.backtest.runner import BacktestSpec, run_backtest
    from alphapulse.trading.config import load_trade_spec

    spec = load_trade_spec(args.file)
    outcome = run_backtest(
        BacktestSpec(
            args.catalog, spec.strategies, spec.venues, tuple(args.instruments or ()),
            _ns(args.start), _ns(args.end), args.book, args.seed,
        )
    )  # fmt: skip
    run_id = save_run(results, outcome, name=args.name or args.file.stem)
    if args.report:
        try:
            from alphapulse.trading.backtest.report import render_report
        except ImportError as e:
            raise ConfigError("--report needs matplotlib (pip install matplotlib)") from e
        render_report(outcome, args.report, title=args.name or args.file.stem)
    doc = {"run_id": run_id, "results": str(results), "fingerprint": outcome.fingerprint(), **outcome.stats}
    print(orjson.dumps(doc).decode())
    return 0
