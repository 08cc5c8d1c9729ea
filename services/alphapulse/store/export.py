"""Export market data from PostgreSQL to partitioned Parquet, for DuckDB and NautilusTrader.

Layout (Hive partitioning, so DuckDB reads it with ``hive_partitioning=true``)::

    <out>/type=trades/exchange=kraken/symbol=BTC-USD/date=2025-11-25/part-<from_ns>-<to_ns>.parquet

One file per (type, instrument, UTC day) clipped to the requested range; ``from_ns``/``to_ns`` are
that file's half-open time window, so re-running the same export finds every finished file and
skips it (resumable), and a file only appears complete: it is written as ``.tmp`` and renamed
(atomic on one filesystem). Files are zstd-compressed.

Columns keep values exact: prices and quantities as ``decimal128(38, s)`` with ``s`` the largest
scale in that file, times as the exact ``int64`` nanoseconds plus a ``timestamp[us, UTC]`` ``time``.
The instrument (id, exchange, symbol, scales) also travels in the file's key-value metadata, which
is what a NautilusTrader catalog conversion needs (instrument id, price/size precision).

Rows leave PostgreSQL through ``COPY ... TO STDOUT (FORMAT csv)`` into a temporary file and are
parsed by Arrow's C++ CSV reader with an explicit schema: no Python object per row, no float.
"""

import asyncio
import contextlib
import datetime as dt
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import asyncpg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

__all__ = ("TABLES", "ExportReport", "Partition", "export_parquet", "partition_path", "read_query_arrow")

NS_PER_DAY: Final = 86_400 * 1_000_000_000


@dataclass(frozen=True, slots=True)
class _Table:
    name: str  # the database table and the `type=` partition value
    columns: tuple[tuple[str, str], ...]  # (column, kind): kind in int, text, price, qty, price2


TABLES: Final = {
    "trades": _Table(
        "trades",
        (
            ("ts_exchange_ns", "int"), ("ts_recv_ns", "int"), ("trade_id", "int"), ("side", "text"),
            ("price", "price"), ("qty", "qty"), ("seq", "int"),
        ),
    ),
    "quotes": _Table(
        "quotes",
        (
            ("ts_exchange_ns", "int"), ("ts_recv_ns", "int"), ("bid_price", "price"), ("bid_qty", "qty"),
            ("ask_price", "price"), ("ask_qty", "qty"), ("seq", "int"),
        ),
    ),
    "book_updates": _Table(
        "book_updates",
        (
            ("ts_exchange_ns", "int"), ("ts_recv_ns", "int"), ("side", "text"), ("price", "price"),
            ("qty", "qty"), ("flags", "int"), ("seq", "int"),
        ),
    ),
}  # fmt: skip
_ORDER: Final = {
    "trades": "ts_exchange_ns, trade_id",
    "quotes": "ts_recv_ns, seq",
    "book_updates": "ts_recv_ns, seq",
}


@dataclass(frozen=True, slots=True)
class Partition:
    table: str
    instrument_id: int
    exchange: str
    symbol: str
    day: dt.date
    from_ns: int
    to_ns: int
    rows: int
    price_scale: int
    qty_scale: int


@dataclass(slots=True)
class ExportReport:
    files_written: list[Path] = field(default_factory=list)
    files_skipped: list[Path] = field(default_factory=list)
    rows_written: int = 0
    seconds: float = 0.0


def partition_path(out: Path, p: Partition) -> Path:
    return (
        out / f"type={p.table}" / f"exchange={p.exchange}" / f"symbol={p.symbol}" / f"date={p.day.isoformat()}"
        / f"part-{p.from_ns}-{p.to_ns}.parquet"
    )  # fmt: skip


def _ns(t: dt.datetime) -> int:
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    delta = t - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


async def _partitions(conn: asyncpg.Connection, table: str, start: dt.datetime, end: dt.datetime) -> list[Partition]:
    cols = TABLES[table].columns
    price_cols = [c for c, k in cols if k == "price"]
    qty_cols = [c for c, k in cols if k == "qty"]
    pscale = "greatest(" + ", ".join(f"max(scale({c}))" for c in price_cols) + ")"
    qscale = "greatest(" + ", ".join(f"max(scale({c}))" for c in qty_cols) + ")"
    rows = await conn.fetch(
        f"""SELECT t.instrument_id, i.exchange, i.symbol,
                   (date_trunc('day', t.time AT TIME ZONE 'UTC'))::date AS day,
                   count(*) AS n, {pscale} AS ps, {qscale} AS qs
              FROM {table} AS t JOIN instruments AS i USING (instrument_id)
             WHERE t.time >= $1 AND t.time < $2
             GROUP BY 1, 2, 3, 4
             ORDER BY 4, 2, 3""",
        start,
        end,
    )
    lo, hi = _ns(start), _ns(end)
    out: list[Partition] = []
    for r in rows:
        day_ns = _ns(dt.datetime.combine(r["day"], dt.time(), dt.UTC))
        out.append(
            Partition(
                table, r["instrument_id"], r["exchange"], r["symbol"], r["day"],
                max(lo, day_ns), min(hi, day_ns + NS_PER_DAY), r["n"], r["ps"] or 0, r["qs"] or 0,
            )
        )  # fmt: skip
    return out


def _arrow_schema(table: str, price_scale: int, qty_scale: int) -> pa.Schema:
    fields = []
    for name, kind in TABLES[table].columns:
        if kind == "int":
            fields.append(pa.field(name, pa.int64(), nullable=False))
        elif kind == "text":
            fields.append(pa.field(name, pa.string(), nullable=False))
        elif kind == "price":
            fields.append(pa.field(name, pa.decimal128(38, price_scale), nullable=False))
        else:
            fields.append(pa.field(name, pa.decimal128(38, qty_scale), nullable=False))
    return pa.schema(fields)


async def read_query_arrow(
    conn: asyncpg.Connection, query: str, args: Sequence[Any], schema: pa.Schema, tmp_dir: Path | None = None
) -> pa.Table:
    """Run ``query`` (its columns in ``schema``'s order) through COPY CSV into an Arrow table."""
    fd, name = tempfile.mkstemp(suffix=".csv", dir=tmp_dir)
    os.close(fd)
    path = Path(name)
    try:
        await conn.copy_from_query(query, *args, output=path, format="csv", header=True)
        return await asyncio.to_thread(_read_csv, path, schema)
    finally:
        path.unlink(missing_ok=True)


def _read_csv(path: Path, schema: pa.Schema) -> pa.Table:
    return pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=8 << 20),
        convert_options=pacsv.ConvertOptions(
            column_types={f.name: f.type for f in schema}, strings_can_be_null=False, quoted_strings_can_be_null=False
        ),
    ).select(schema.names)


def _with_time(table: pa.Table) -> pa.Table:
    us = pc.divide(table["ts_exchange_ns"], 1000)  # int division: truncates, like ap_ns_to_ts
    return table.append_column(
        pa.field("time", pa.timestamp("us", tz="UTC"), nullable=False), us.cast(pa.timestamp("us", tz="UTC"))
    )


def _write_atomic(table: pa.Table, path: Path, metadata: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    pq.write_table(table, tmp, compression="zstd", row_group_size=1 << 20)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    tmp.replace(path)


async def export_parquet(
    dsn: str,
    start: dt.datetime,
    end: dt.datetime,
    out: Path,
    *,
    tables: Sequence[str] = ("trades", "quotes", "book_updates"),
    progress: bool = False,
    on_file: Callable[[Path, int], None] | None = None,
) -> ExportReport:
    """Export ``[start, end)`` of ``tables`` into ``out``; finished files from earlier runs are kept."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    report = ExportReport()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET TimeZone = 'UTC'")
        parts: list[Partition] = []
        for table in tables:
            parts += await _partitions(conn, table, start, end)
        bar = _progress(sum(p.rows for p in parts), progress)
        try:
            for p in parts:
                target = partition_path(out, p)
                if target.exists():
                    report.files_skipped.append(target)
                    bar.update(p.rows)
                    continue
                schema = _arrow_schema(p.table, p.price_scale, p.qty_scale)
                cols = ", ".join(f"{c}::text" if k in ("price", "qty") else c for c, k in TABLES[p.table].columns)
                query = (
                    f"SELECT {cols} FROM {p.table} WHERE instrument_id = $1 AND time >= ap_ns_to_ts($2) "
                    f"AND time < ap_ns_to_ts($3) ORDER BY {_ORDER[p.table]}"
                )
                data = await read_query_arrow(conn, query, (p.instrument_id, p.from_ns, p.to_ns), schema)
                data = _with_time(data)
                meta = {
                    "alphapulse.type": p.table, "alphapulse.instrument_id": str(p.instrument_id),
                    "alphapulse.exchange": p.exchange, "alphapulse.symbol": p.symbol,
                    "alphapulse.price_scale": str(p.price_scale), "alphapulse.qty_scale": str(p.qty_scale),
                    "alphapulse.from_ns": str(p.from_ns), "alphapulse.to_ns": str(p.to_ns),
                }  # fmt: skip
                await asyncio.to_thread(_write_atomic, data, target, meta)
                report.files_written.append(target)
                report.rows_written += data.num_rows
                bar.update(p.rows)
                if on_file is not None:
                    on_file(target, data.num_rows)
        finally:
            bar.close()
    finally:
        await conn.close()
    report.seconds = loop.time() - began
    return report


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    with contextlib.suppress(ImportError):
        from tqdm import tqdm  # noqa: PLC0415 - only the CLI shows a bar

        return tqdm(total=total, unit="rows", unit_scale=True, desc="export")
    return _NoBar()
