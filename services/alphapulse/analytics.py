"""Market-data analytics with DuckDB: candles, VWAP, spreads, trade-size and inter-arrival statistics.

Two sources, one set of queries: exported Parquet (``Analytics.from_parquet(dir)``, read in place
with Hive partitioning) or PostgreSQL directly (``await Analytics.from_postgres(dsn, start, end)``).
DuckDB's own PostgreSQL scanner is an extension downloaded at run time, which an offline machine
cannot do, so the PostgreSQL source copies the range out with ``COPY`` into Arrow tables (exact
decimals, no Python object per row) and DuckDB queries those in memory.

Every query sees the same views: ``trades`` and ``quotes`` with ``exchange``, ``symbol``,
``time`` (UTC), the exact ``ts_*_ns`` and decimal prices/quantities. Open and close are the
first/last trade by (exchange time in ns, trade id), as in ``ap_candles`` in SQL, so both agree.
"""

import datetime as dt
import re
from pathlib import Path
from typing import Final

import asyncpg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from alphapulse.errors import ConfigError

__all__ = ("Analytics", "parse_width")

_WIDTH = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_UNITS: Final = {"s": "second", "m": "minute", "h": "hour", "d": "day"}


def parse_width(text: str) -> str:
    """``1s``, ``5m``, ``1h``, ``1d`` to a SQL interval literal (``'5 minute'``)."""
    m = _WIDTH.match(text.strip().lower())
    if m is None:
        raise ConfigError(f"bucket width {text!r}: use N followed by s, m, h or d (e.g. 1m)")
    return f"{int(m.group(1))} {_UNITS[m.group(2)]}"


class Analytics:
    """A DuckDB connection with ``trades`` and ``quotes`` views over one source."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    # -- sources ---------------------------------------------------------------------------

    @classmethod
    def from_parquet(cls, root: str | Path) -> "Analytics":
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        for table in ("trades", "quotes", "book_updates"):
            con.execute(f"CREATE VIEW {table} AS {_parquet_select(Path(root), table)}")
        return cls(con)

    @classmethod
    async def from_postgres(
        cls, dsn: str, start: dt.datetime, end: dt.datetime, *, tables: tuple[str, ...] = ("trades", "quotes")
    ) -> "Analytics":
        from alphapulse.store.export import TABLES, read_query_arrow  # noqa: PLC0415 - optional source

        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        conn = await asyncpg.connect(dsn)
        try:
            for table in ("trades", "quotes", "book_updates"):
                if table not in tables:
                    con.execute(f"CREATE VIEW {table} AS SELECT * FROM ({_EMPTY[table]}) WHERE false")
                    continue
                ps, qs = await _scales(conn, table, start, end)
                fields = [pa.field("exchange", pa.string()), pa.field("symbol", pa.string())]
                for name, kind in TABLES[table].columns:
                    if kind == "int":
                        fields.append(pa.field(name, pa.int64()))
                    elif kind == "text":
                        fields.append(pa.field(name, pa.string()))
                    else:
                        fields.append(pa.field(name, pa.decimal128(38, ps if kind == "price" else qs)))
                schema = pa.schema(fields)
                cols = ", ".join(
                    f"t.{c}::text" if k in ("price", "qty") else f"t.{c}" for c, k in TABLES[table].columns
                )
                query = (
                    f"SELECT i.exchange, i.symbol, {cols} FROM {table} AS t JOIN instruments AS i "
                    f"USING (instrument_id) WHERE t.time >= $1 AND t.time < $2"
                )
                arrow = await read_query_arrow(conn, query, (start, end), schema)
                con.register(f"_{table}_arrow", arrow)
                con.execute(
                    f"CREATE VIEW {table} AS SELECT *, make_timestamp(ts_exchange_ns // 1000)::TIMESTAMPTZ AS time "
                    f"FROM _{table}_arrow"
                )
        finally:
            await conn.close()
        return cls(con)

    # -- queries ---------------------------------------------------------------------------

    def _where(self, exchange: str | None, symbol: str | None) -> tuple[str, list[object]]:
        clauses: list[str] = ["time >= ?", "time < ?"]
        params: list[object] = []
        if exchange:
            clauses.append("exchange = ?")
            params.append(exchange)
        if symbol:
            clauses.append("symbol = ?")
            params.append(symbol)
        return " AND ".join(clauses), params

    def candles(
        self,
        width: str,
        start: dt.datetime,
        end: dt.datetime,
        *,
        exchange: str | None = None,
        symbol: str | None = None,
    ) -> duckdb.DuckDBPyRelation:
        where, params = self._where(exchange, symbol)
        return self.con.sql(
            f"""SELECT time_bucket(INTERVAL '{parse_width(width)}', time, TIMESTAMPTZ '1970-01-01 00:00:00+00')
                       AS bucket, exchange, symbol,
                       first(price ORDER BY ts_exchange_ns, trade_id) AS open,
                       max(price) AS high, min(price) AS low,
                       last(price ORDER BY ts_exchange_ns, trade_id) AS close,
                       sum(qty) AS volume, count(*) AS trades
                  FROM trades WHERE {where}
                 GROUP BY ALL ORDER BY exchange, symbol, bucket""",
            params=[start, end, *params],
        )

    def vwap(
        self,
        width: str,
        start: dt.datetime,
        end: dt.datetime,
        *,
        exchange: str | None = None,
        symbol: str | None = None,
    ) -> duckdb.DuckDBPyRelation:
        where, params = self._where(exchange, symbol)
        return self.con.sql(
            f"""SELECT time_bucket(INTERVAL '{parse_width(width)}', time, TIMESTAMPTZ '1970-01-01 00:00:00+00')
                       AS bucket, exchange, symbol,
                       sum(price::DOUBLE * qty::DOUBLE) / sum(qty::DOUBLE) AS vwap,
                       sum(qty) AS volume, count(*) AS trades
                  FROM trades WHERE {where}
                 GROUP BY ALL ORDER BY exchange, symbol, bucket""",
            params=[start, end, *params],
        )

    def spreads(
        self,
        width: str,
        start: dt.datetime,
        end: dt.datetime,
        *,
        exchange: str | None = None,
        symbol: str | None = None,
    ) -> duckdb.DuckDBPyRelation:
        where, params = self._where(exchange, symbol)
        return self.con.sql(
            f"""SELECT time_bucket(INTERVAL '{parse_width(width)}', time, TIMESTAMPTZ '1970-01-01 00:00:00+00')
                       AS bucket, exchange, symbol, count(*) AS quotes,
                       avg((ask_price - bid_price)::DOUBLE) AS spread_mean,
                       min(ask_price - bid_price) AS spread_min, max(ask_price - bid_price) AS spread_max,
                       avg((ask_price - bid_price)::DOUBLE / ((ask_price + bid_price)::DOUBLE / 2) * 1e4)
                           AS spread_bps_mean
                  FROM quotes WHERE {where}
                 GROUP BY ALL ORDER BY exchange, symbol, bucket""",
            params=[start, end, *params],
        )

    def trade_stats(
        self, start: dt.datetime, end: dt.datetime, *, exchange: str | None = None, symbol: str | None = None
    ) -> duckdb.DuckDBPyRelation:
        """Per instrument: trade-size distribution and inter-arrival times (exchange clock, ms)."""
        where, params = self._where(exchange, symbol)
        return self.con.sql(
            f"""WITH t AS (
                    SELECT exchange, symbol, qty::DOUBLE AS qty, side,
                           (ts_exchange_ns - lag(ts_exchange_ns) OVER (
                                PARTITION BY exchange, symbol ORDER BY ts_exchange_ns, trade_id)) / 1e6 AS gap_ms
                      FROM trades WHERE {where})
                SELECT exchange, symbol, count(*) AS trades,
                       count(*) FILTER (WHERE side = 'buy') AS buys,
                       avg(qty) AS size_mean, median(qty) AS size_median,
                       quantile_cont(qty, 0.9) AS size_p90, quantile_cont(qty, 0.99) AS size_p99,
                       max(qty) AS size_max,
                       avg(gap_ms) AS interarrival_ms_mean, median(gap_ms) AS interarrival_ms_median,
                       quantile_cont(gap_ms, 0.99) AS interarrival_ms_p99
                  FROM t GROUP BY ALL ORDER BY exchange, symbol""",
            params=[start, end, *params],
        )


def _parquet_select(root: Path, table: str) -> str:
    """A query over every file of ``table`` with decimals widened to the largest scale present.

    DuckDB unifies the files of one ``read_parquet`` to one schema, and a narrower decimal there
    would round the others (a file's scale is its instrument's). So files are grouped by schema,
    each group read on its own and cast to the widest scale, then the groups are unioned.
    """
    files = sorted((root / f"type={table}").rglob("*.parquet"))
    if not files:
        return f"SELECT * FROM ({_EMPTY[table]}) WHERE false"
    groups: dict[tuple[tuple[str, int], ...], list[Path]] = {}
    for f in files:
        schema = pq.read_schema(f)
        key = tuple((field.name, field.type.scale) for field in schema if pa.types.is_decimal(field.type))
        groups.setdefault(key, []).append(f)
    widest: dict[str, int] = {}
    for key in groups:
        for name, scale in key:
            widest[name] = max(widest.get(name, 0), scale)
    casts = ", ".join(f"{name}::DECIMAL(38, {scale}) AS {name}" for name, scale in widest.items())
    parts = []
    for group in groups.values():
        listing = ", ".join(f"'{f}'" for f in group)
        parts.append(
            f"SELECT * EXCLUDE (type, date) REPLACE ({casts}) FROM read_parquet([{listing}], hive_partitioning = true)"
        )
    return " UNION ALL BY NAME ".join(parts)


_SCALE_SQL: Final = {
    "trades": "SELECT max(scale(price)), max(scale(qty))",
    "quotes": "SELECT greatest(max(scale(bid_price)), max(scale(ask_price))), "
    "greatest(max(scale(bid_qty)), max(scale(ask_qty)))",
    "book_updates": "SELECT max(scale(price)), max(scale(qty))",
}


async def _scales(conn: asyncpg.Connection, table: str, start: dt.datetime, end: dt.datetime) -> tuple[int, int]:
    """The largest price and quantity scales in the range: the Arrow decimal type that holds them all."""
    row = await conn.fetchrow(f"{_SCALE_SQL[table]} FROM {table} WHERE time >= $1 AND time < $2", start, end)
    assert row is not None
    return int(row[0] or 0), int(row[1] or 0)


_EMPTY: Final = {
    "trades": "SELECT NULL::VARCHAR AS exchange, NULL::VARCHAR AS symbol, NULL::TIMESTAMPTZ AS time, "
    "NULL::BIGINT AS ts_exchange_ns, NULL::BIGINT AS ts_recv_ns, NULL::BIGINT AS trade_id, NULL::VARCHAR AS side, "
    "NULL::DECIMAL(38,8) AS price, NULL::DECIMAL(38,8) AS qty, NULL::BIGINT AS seq",
    "quotes": "SELECT NULL::VARCHAR AS exchange, NULL::VARCHAR AS symbol, NULL::TIMESTAMPTZ AS time, "
    "NULL::BIGINT AS ts_exchange_ns, NULL::BIGINT AS ts_recv_ns, NULL::DECIMAL(38,8) AS bid_price, "
    "NULL::DECIMAL(38,8) AS bid_qty, NULL::DECIMAL(38,8) AS ask_price, NULL::DECIMAL(38,8) AS ask_qty, "
    "NULL::BIGINT AS seq",
    "book_updates": "SELECT NULL::VARCHAR AS exchange, NULL::VARCHAR AS symbol, NULL::TIMESTAMPTZ AS time, "
    "NULL::BIGINT AS ts_exchange_ns, NULL::BIGINT AS ts_recv_ns, NULL::VARCHAR AS side, "
    "NULL::DECIMAL(38,8) AS price, NULL::DECIMAL(38,8) AS qty, NULL::BIGINT AS flags, NULL::BIGINT AS seq",
}
