"""Convert an ``alphapulse export parquet`` folder into a NautilusTrader ``ParquetDataCatalog``.

Our Parquet is the durable format; NautilusTrader catalogs are version-specific (a 1.221 catalog
is invisible to 1.231), so catalogs are generated from it when a backtest needs one. Each file's
key-value metadata names the instrument and its scales: the instrument becomes a ``CurrencyPair``
``BASE/QUOTE.EXCHANGE`` with price/size precision = the file's scales, and every value is built
through ``instrument.make_price``/``make_qty`` (a precision mismatch halts a NautilusTrader node).

Only for backtests, never on a hot path: it builds one NautilusTrader object per row.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from nautilus_trader.model.data import BookOrder, OrderBookDelta, QuoteTick, TradeTick
from nautilus_trader.model.enums import AggressorSide, BookAction, OrderSide, RecordFlag
from nautilus_trader.model.identifiers import InstrumentId, Symbol, TradeId, Venue
from nautilus_trader.model.instruments import CurrencyPair
from nautilus_trader.model.objects import Currency, Price, Quantity
from nautilus_trader.persistence.catalog import ParquetDataCatalog

__all__ = ("CatalogReport", "instrument_id_for", "to_catalog")


@dataclass(slots=True)
class CatalogReport:
    instruments: list[str] = field(default_factory=list)
    trades: int = 0
    quotes: int = 0
    book_deltas: int = 0


def instrument_id_for(exchange: str, symbol: str) -> str:
    """``BTC-USD`` on ``kraken`` → ``BTC/USD.KRAKEN`` (the catalog folder drops the slash)."""
    base, _, quote = symbol.partition("-")
    return f"{base}/{quote}.{exchange.upper()}"


def _instrument(exchange: str, symbol: str, price_scale: int, qty_scale: int) -> Any:
    base, _, quote = symbol.partition("-")
    return CurrencyPair(
        instrument_id=InstrumentId(Symbol(f"{base}/{quote}"), Venue(exchange.upper())),
        raw_symbol=Symbol(symbol),
        base_currency=Currency.from_str(base, strict=False),
        quote_currency=Currency.from_str(quote, strict=False),
        price_precision=price_scale,
        size_precision=qty_scale,
        price_increment=Price(Decimal(1).scaleb(-price_scale), price_scale),
        size_increment=Quantity(Decimal(1).scaleb(-qty_scale), qty_scale),
        ts_event=0,
        ts_init=0,
        maker_fee=Decimal(0),
        taker_fee=Decimal(0),
    )


def to_catalog(parquet_root: str | Path, catalog_path: str | Path) -> CatalogReport:
    """Write every instrument, trade, quote and book level of the export into the catalog."""
    root = Path(parquet_root)
    catalog = ParquetDataCatalog(str(catalog_path))
    report = CatalogReport()
    files: dict[tuple[str, str], list[tuple[str, Path, dict[bytes, bytes]]]] = defaultdict(list)
    scales: dict[tuple[str, str], tuple[int, int]] = {}
    for table in ("trades", "quotes", "book_updates"):
        for path in sorted((root / f"type={table}").rglob("*.parquet")):
            meta = pq.read_schema(path).metadata or {}
            key = (meta[b"alphapulse.exchange"].decode(), meta[b"alphapulse.symbol"].decode())
            ps, qs = int(meta[b"alphapulse.price_scale"]), int(meta[b"alphapulse.qty_scale"])
            old = scales.get(key, (0, 0))
            scales[key] = (max(old[0], ps), max(old[1], qs))
            files[key].append((table, path, meta))
    aggressor = {"buy": AggressorSide.BUYER, "sell": AggressorSide.SELLER}
    for key, entries in sorted(files.items()):
        inst = _instrument(key[0], key[1], *scales[key])
        catalog.write_data([inst])
        report.instruments.append(str(inst.id))
        trades: list[Any] = []
        quotes: list[Any] = []
        deltas: list[Any] = []
        for table, path, _ in entries:
            data = pq.read_table(path).to_pylist()
            if table == "trades":
                trades += [
                    TradeTick(
                        inst.id, inst.make_price(r["price"]), inst.make_qty(r["qty"]),
                        aggressor.get(r["side"], AggressorSide.NO_AGGRESSOR), TradeId(str(r["trade_id"])),
                        r["ts_exchange_ns"], r["ts_recv_ns"],
                    )
                    for r in data
                ]  # fmt: skip
            elif table == "book_updates":
                deltas += _deltas(inst, data)
            else:
                quotes += [
                    QuoteTick(
                        inst.id, inst.make_price(r["bid_price"]), inst.make_price(r["ask_price"]),
                        inst.make_qty(r["bid_qty"]), inst.make_qty(r["ask_qty"]),
                        r["ts_exchange_ns"], r["ts_recv_ns"],
                    )
                    for r in data
                ]  # fmt: skip
        if trades:
            trades.sort(key=lambda t: t.ts_init)
            catalog.write_data(trades)
            report.trades += len(trades)
        if quotes:
            quotes.sort(key=lambda q: q.ts_init)
            catalog.write_data(quotes)
            report.quotes += len(quotes)
        if deltas:
            catalog.write_data(deltas)  # already in feed order (files are sorted by receive time, seq)
            report.book_deltas += len(deltas)
    return report


def _deltas(inst: Any, rows: list[dict[str, Any]]) -> list[Any]:
    """Book levels to NautilusTrader deltas: a CLEAR starts each snapshot, qty 0 deletes a level.

    Our flags: 1 = part of a snapshot, 2 = last level of one venue message; NautilusTrader's
    F_SNAPSHOT / F_LAST mean the same.
    """
    out: list[Any] = []
    in_snapshot = False
    for r in rows:
        snapshot, last = bool(r["flags"] & 1), bool(r["flags"] & 2)
        if snapshot and not in_snapshot:
            out.append(OrderBookDelta.clear(inst.id, r["seq"], r["ts_exchange_ns"], r["ts_recv_ns"]))
        in_snapshot = snapshot and not last
        qty = inst.make_qty(r["qty"])
        action = BookAction.DELETE if qty.as_decimal() == 0 else BookAction.ADD if snapshot else BookAction.UPDATE
        side = OrderSide.BUY if r["side"] == "bid" else OrderSide.SELL
        flags = (RecordFlag.F_SNAPSHOT if snapshot else 0) | (RecordFlag.F_LAST if last else 0)
        order = BookOrder(side, inst.make_price(r["price"]), qty, 0)
        out.append(OrderBookDelta(inst.id, action, order, flags, r["seq"], r["ts_exchange_ns"], r["ts_recv_ns"]))
    return out
