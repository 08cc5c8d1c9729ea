"""Reading (and, for tests and notebooks, writing) the storage export's Parquet layout.

The layout is the one ``alphapulse.store.export`` writes (Hive partitions, one file per type,
instrument and UTC day)::

    <root>/type=trades/exchange=kraken/symbol=BTC-USD/date=2025-11-25/part-<from_ns>-<to_ns>.parquet

Prices and quantities are ``decimal128(38, scale)``; the instrument's exchange, symbol and scales
are in each file's key-value metadata (``alphapulse.*``). Reading takes the unscaled integers
straight out of the decimal buffers: no float, no Decimal object per row.
"""

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from alphapulse.errors import ConfigError
from alphapulse.protocol import Exchange

__all__ = ("Market", "MarketData", "read_market", "scan_markets", "unscaled", "write_partition")

TYPES = ("trades", "quotes", "book_updates")


@dataclass(frozen=True, slots=True)
class Market:
    exchange: Exchange
    symbol: str
    price_scale: int
    qty_scale: int
    files: dict[str, tuple[Path, ...]]  # type -> files


@dataclass(frozen=True, slots=True)
class MarketData:
    market: Market
    trades: pa.Table | None
    quotes: pa.Table | None
    book: pa.Table | None = None


def _meta(path: Path) -> dict[str, str]:
    raw = pq.read_schema(path).metadata or {}
    return {k.decode(): v.decode() for k, v in raw.items()}


def scan_markets(root: Path) -> list[Market]:
    """Every (exchange, symbol) in an export directory, with its scales and files."""
    if not root.is_dir():
        raise ConfigError(f"{root} is not a directory (expected a Parquet export)")
    found: dict[tuple[str, str], dict[str, list[Path]]] = {}
    scales: dict[tuple[str, str], tuple[int, int]] = {}
    for path in sorted(root.glob("type=*/exchange=*/symbol=*/date=*/*.parquet")):
        kind = path.parts[-5].removeprefix("type=")
        exchange = path.parts[-4].removeprefix("exchange=")
        symbol = path.parts[-3].removeprefix("symbol=")
        if kind not in TYPES:
            continue
        meta = _meta(path)
        key = (exchange, symbol)
        sc = (int(meta["alphapulse.price_scale"]), int(meta["alphapulse.qty_scale"]))
        if scales.setdefault(key, sc) != sc:
            raise ConfigError(f"{exchange}:{symbol} changes scales within the export ({scales[key]} vs {sc})")
        found.setdefault(key, {}).setdefault(kind, []).append(path)
    out = []
    for (exchange, symbol), files in sorted(found.items()):
        try:
            ex = Exchange[exchange.upper()]
        except KeyError as e:
            raise ConfigError(f"export holds an unknown exchange {exchange!r}") from e
        ps, qs = scales[(exchange, symbol)]
        out.append(Market(ex, symbol, ps, qs, {k: tuple(v) for k, v in files.items()}))
    return out


def _read(files: tuple[Path, ...], start_ns: int | None, end_ns: int | None) -> pa.Table | None:
    if not files:
        return None
    table = pa.concat_tables([pq.read_table(f) for f in files]).combine_chunks()
    ts = table.column("ts_recv_ns").to_numpy()
    keep = np.ones(len(ts), dtype=bool)
    if start_ns is not None:
        keep &= ts >= start_ns
    if end_ns is not None:
        keep &= ts < end_ns
    table = table.filter(pa.array(keep))
    order = np.argsort(table.column("ts_recv_ns").to_numpy(), kind="stable")
    return table.take(pa.array(order))


def read_market(market: Market, start_ns: int | None = None, end_ns: int | None = None) -> MarketData:
    return MarketData(
        market,
        _read(market.files.get("trades", ()), start_ns, end_ns),
        _read(market.files.get("quotes", ()), start_ns, end_ns),
        _read(market.files.get("book_updates", ()), start_ns, end_ns),
    )


def unscaled(column: pa.ChunkedArray | pa.Array, scale: int) -> npt.NDArray[np.int64]:
    """The exact integers ``value * 10**scale`` of a decimal128 column (values fit int64 by protocol)."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not pa.types.is_decimal128(arr.type):
        raise ConfigError(f"expected a decimal128 column, got {arr.type}")
    if arr.null_count:
        raise ConfigError("price/quantity columns must not hold nulls")
    words = np.frombuffer(arr.buffers()[1], dtype="<i8", count=2 * (arr.offset + len(arr)))
    low = words[0::2][arr.offset :].astype(np.int64)
    col_scale = arr.type.scale
    if col_scale < scale:
        low = low * 10 ** (scale - col_scale)
    elif col_scale > scale:
        low, rest = np.divmod(low, 10 ** (col_scale - scale))
        if rest.any():
            raise ConfigError(f"values have more than {scale} decimals")
    return low


def _decimal_column(raw: npt.NDArray[np.int64], scale: int) -> pa.Array:
    # 16-byte little-endian two's complement: low word, then the sign extension
    words = np.empty(2 * len(raw), dtype="<i8")
    words[0::2] = raw
    words[1::2] = np.where(raw < 0, -1, 0)
    return pa.Array.from_buffers(pa.decimal128(38, scale), len(raw), [None, pa.py_buffer(words.tobytes())])


def write_partition(
    root: Path,
    kind: str,
    exchange: Exchange,
    symbol: str,
    price_scale: int,
    qty_scale: int,
    columns: dict[str, npt.NDArray[np.int64] | list[str]],
) -> Path:
    """Write one file in the export layout (used to build sample sessions; the store writes real ones)."""
    ts = np.asarray(columns["ts_recv_ns"], dtype=np.int64)
    day = dt.datetime.fromtimestamp(int(ts[0]) // 1_000_000_000, tz=dt.UTC).date().isoformat()
    fields: dict[str, pa.Array] = {}
    for name, values in columns.items():
        if name in ("price", "bid_price", "ask_price"):
            fields[name] = _decimal_column(np.asarray(values, dtype=np.int64), price_scale)
        elif name in ("qty", "bid_qty", "ask_qty"):
            fields[name] = _decimal_column(np.asarray(values, dtype=np.int64), qty_scale)
        elif name == "side":
            fields[name] = pa.array(values, type=pa.string())
        else:
            fields[name] = pa.array(np.asarray(values, dtype=np.int64))
    fields["time"] = pa.array(ts // 1000).cast(pa.timestamp("us", tz="UTC"))
    table = pa.table(fields)
    meta = {
        "alphapulse.type": kind,
        "alphapulse.exchange": exchange.name.lower(),
        "alphapulse.symbol": symbol,
        "alphapulse.price_scale": str(price_scale),
        "alphapulse.qty_scale": str(qty_scale),
        "alphapulse.from_ns": str(int(ts.min())),
        "alphapulse.to_ns": str(int(ts.max()) + 1),
    }
    table = table.replace_schema_metadata(meta)
    path = (
        root / f"type={kind}" / f"exchange={exchange.name.lower()}" / f"symbol={symbol}" / f"date={day}"
        / f"part-{int(ts.min())}-{int(ts.max()) + 1}.parquet"
    )  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
    return path
