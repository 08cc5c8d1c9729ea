"""``alphapulse export parquet``: market data from PostgreSQL to partitioned Parquet files."""

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("export", help="export market data (parquet)")
    sub = p.add_subparsers(dest="export_format", metavar="FORMAT", required=True)
    pq = sub.add_parser(
        "parquet",
        help="write type/exchange/symbol/date partitioned Parquet (zstd) for a time range",
        description="Exports [--from, --to) of trades, quotes and book updates into OUT as Hive-partitioned "
        "Parquet (type=/exchange=/symbol=/date=), one zstd file per instrument and day, written atomically. "
        "Re-running the same command resumes: finished files are kept.",
    )
    pq.add_argument("--from", dest="start", required=True, help="start, ISO 8601 (UTC unless an offset is given)")
    pq.add_argument("--to", dest="end", required=True, help="end (exclusive), ISO 8601")
    pq.add_argument("--out", required=True, help="output folder")
    pq.add_argument(
        "--type", dest="tables", action="append", choices=["trades", "quotes", "book_updates"],
        help="data type, repeatable (default: all)",
    )  # fmt: skip
    pq.add_argument("--database-url", default=None, help="PostgreSQL URL (default: env DATABASE_URL)")
    pq.add_argument("--no-progress", action="store_true", help="no progress bar")
    pq.set_defaults(handler=run)
    nt = sub.add_parser(
        "nautilus",
        help="convert an exported Parquet folder into a NautilusTrader data catalog",
        description="Reads an `alphapulse export parquet` folder and writes instruments, trade ticks and quote "
        "ticks into a NautilusTrader ParquetDataCatalog (for backtests).",
    )
    nt.add_argument("--parquet", required=True, help="an `alphapulse export parquet` folder")
    nt.add_argument("--out", required=True, help="catalog folder")
    nt.set_defaults(handler=run_nautilus)


def parse_time(text: str) -> Any:
    import datetime as dt

    from alphapulse.errors import ConfigError

    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError as e:
        raise ConfigError(f"time {text!r} is not ISO 8601 (e.g. 2025-11-25 or 2025-11-25T12:00:00Z)") from e
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def run(args: argparse.Namespace) -> int:
    import asyncio
    from pathlib import Path

    from alphapulse.errors import ConfigError
    from alphapulse.settings import env
    from alphapulse.store.export import export_parquet

    dsn = args.database_url or env("DATABASE_URL")
    if not dsn:
        raise ConfigError("DATABASE_URL is not set (or pass --database-url)")
    start, end = parse_time(args.start), parse_time(args.end)
    if end <= start:
        raise ConfigError("--to must be after --from")
    report = asyncio.run(
        export_parquet(
            dsn, start, end, Path(args.out), tables=tuple(args.tables or ("trades", "quotes", "book_updates")),
            progress=not args.no_progress,
        )
    )  # fmt: skip
    rate = report.rows_written / report.seconds if report.seconds else 0.0
    print(
        f"exported {report.rows_written} rows into {len(report.files_written)} files "
        f"({len(report.files_skipped)} already there) in {report.seconds:.1f}s ({rate:,.0f} rows/s)"
    )
    return 0


def run_nautilus(args: argparse.Namespace) -> int:
    from alphapulse.store.nautilus_catalog import to_catalog

    report = to_catalog(args.parquet, args.out)
    print(
        f"catalog {args.out}: {len(report.instruments)} instruments, {report.trades} trade ticks, "
        f"{report.quotes} quote ticks, {report.book_deltas} book deltas"
    )
    return 0
