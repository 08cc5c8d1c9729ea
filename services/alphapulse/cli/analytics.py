"""``alphapulse analytics candles|vwap|spreads|trades``: DuckDB over Parquet or PostgreSQL."""

import argparse
from typing import Any

_QUERIES = {
    "candles": "OHLCV candles from trades",
    "vwap": "volume-weighted average price per bucket",
    "spreads": "quoted spread statistics per bucket (absolute and bps)",
    "trades": "trade-size and inter-arrival statistics per instrument",
}


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("analytics", help="candles, VWAP, spreads, trade statistics (DuckDB)")
    sub = p.add_subparsers(dest="analysis", metavar="ANALYSIS", required=True)
    for name, text in _QUERIES.items():
        q = sub.add_parser(name, help=text, description=f"{text}. Source: --parquet DIR or the database.")
        src = q.add_mutually_exclusive_group()
        src.add_argument("--parquet", metavar="DIR", help="an `alphapulse export parquet` folder")
        src.add_argument("--database-url", default=None, help="PostgreSQL URL (default: env DATABASE_URL)")
        q.add_argument("--from", dest="start", required=True, help="start, ISO 8601 (UTC unless an offset)")
        q.add_argument("--to", dest="end", required=True, help="end (exclusive), ISO 8601")
        q.add_argument("--exchange", help="only this exchange")
        q.add_argument("--symbol", help="only this symbol (BASE-QUOTE)")
        if name != "trades":
            q.add_argument("--width", default="1m", help="bucket width: 1s, 5m, 1h, 1d ... (default 1m)")
        q.add_argument("--out", help="write to FILE.csv or FILE.parquet instead of printing a table")
        q.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from alphapulse.analytics import Analytics
    from alphapulse.cli.export import parse_time
    from alphapulse.errors import ConfigError
    from alphapulse.settings import env

    start, end = parse_time(args.start), parse_time(args.end)
    if args.parquet:
        an = Analytics.from_parquet(args.parquet)
    else:
        dsn = args.database_url or env("DATABASE_URL")
        if not dsn:
            raise ConfigError("pass --parquet DIR, or set DATABASE_URL (or --database-url)")
        an = asyncio.run(Analytics.from_postgres(dsn, start, end))
    filters = {"exchange": args.exchange, "symbol": args.symbol}
    if args.analysis == "candles":
        rel = an.candles(args.width, start, end, **filters)
    elif args.analysis == "vwap":
        rel = an.vwap(args.width, start, end, **filters)
    elif args.analysis == "spreads":
        rel = an.spreads(args.width, start, end, **filters)
    else:
        rel = an.trade_stats(start, end, **filters)
    if args.out:
        if args.out.endswith(".parquet"):
            rel.write_parquet(args.out, compression="zstd")
        elif args.out.endswith(".csv"):
            rel.write_csv(args.out)
        else:
            raise ConfigError("--out must end in .csv or .parquet")
        print(f"wrote {args.out}")
    else:
        _print_table(rel.columns, rel.fetchall())
    return 0


def _print_table(columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.6g}"
        if hasattr(v, "isoformat"):
            return str(v.isoformat())
        return str(v)

    cells = [[fmt(v) for v in r] for r in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print(
            "  ".join(
                v.rjust(w) if v[:1].isdigit() or v[:1] == "-" else v.ljust(w) for v, w in zip(r, widths, strict=True)
            )
        )
    print(f"({len(rows)} rows)")
