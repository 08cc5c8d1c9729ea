"""Our Parquet export -> a NautilusTrader ``ParquetDataCatalog`` for the pinned NautilusTrader version.

Catalogs are version-specific (a 1.221 catalog reads as empty in 1.231, gotcha 4), so the catalog
is a derived cache: ``convert`` rebuilds it from the export, which is the durable format. Values go
through each instrument's precision exactly (unscaled integers -> ``Price.from_raw``), like the
live client; ``ts_event`` is the exchange time and ``ts_init`` the collector's receive time, which
is the order the live node saw the data in.
"""

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from nautilus_trader.model.data import QuoteTick, TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.identifiers import TradeId
from nautilus_trader.model.instruments import CurrencyPair
from nautilus_trader.model.objects import FIXED_PRECISION, Price, Quantity
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from alphapulse.trading.backtest.export_layout import Market, MarketData, read_market, scan_markets, unscaled
from alphapulse.trading.instruments import InstrumentSpec, currency_pair

__all__ = ("ConversionReport", "convert_export", "market_objects")

_AGGRESSOR = {"buy": AggressorSide.BUYER, "sell": AggressorSide.SELLER}


@dataclass(slots=True)
class ConversionReport:
    instruments: list[str] = field(default_factory=list)
    trades: int = 0
    quotes: int = 0


def instrument_of(market: Market) -> CurrencyPair:
    # the export carries scales, not increments: one unit at the scale is the tick (the live
    # instrument may be coarser; fills in a backtest are then at least as fine as live)
    spec = InstrumentSpec(market.exchange, market.symbol, market.price_scale, market.qty_scale, 1, 1, market.symbol)
    return currency_pair(spec, 0)


def market_objects(data: MarketData, inst: CurrencyPair) -> tuple[list[TradeTick], list[QuoteTick]]:
    pmul = 10 ** (FIXED_PRECISION - inst.price_precision)
    qmul = 10 ** (FIXED_PRECISION - inst.size_precision)
    pp, qp = inst.price_precision, inst.size_precision
    iid = inst.id
    trades: list[TradeTick] = []
    if data.trades is not None and data.trades.num_rows:
        t = data.trades
        px = unscaled(t.column("price"), pp).tolist()
        qty = unscaled(t.column("qty"), qp).tolist()
        ids = t.column("trade_id").to_numpy().tolist()
        sides = t.column("side").to_pylist()
        tex = t.column("ts_exchange_ns").to_numpy().tolist()
        trc = t.column("ts_recv_ns").to_numpy().tolist()
        trades = [
            TradeTick(
                iid,
                Price.from_raw(p * pmul, pp),
                Quantity.from_raw(q * qmul, qp),
                _AGGRESSOR.get(s, AggressorSide.NO_AGGRESSOR),
                TradeId(str(i)),
                max(e, 0),
                r,
            )
            for p, q, i, s, e, r in zip(px, qty, ids, sides, tex, trc, strict=True)
        ]
    quotes: list[QuoteTick] = []
    if data.quotes is not None and data.quotes.num_rows:
        q = data.quotes
        cols = [unscaled(q.column(c), s).tolist() for c, s in
                (("bid_price", pp), ("ask_price", pp), ("bid_qty", qp), ("ask_qty", qp))]  # fmt: skip
        tex = q.column("ts_exchange_ns").to_numpy().tolist()
        trc = q.column("ts_recv_ns").to_numpy().tolist()
        quotes = [
            QuoteTick(
                iid,
                Price.from_raw(b * pmul, pp),
                Price.from_raw(a * pmul, pp),
                Quantity.from_raw(bq * qmul, qp),
                Quantity.from_raw(aq * qmul, qp),
                max(e, 0),
                r,
            )
            for b, a, bq, aq, e, r in zip(*cols, tex, trc, strict=True)
        ]
    return trades, quotes


def convert_export(
    export_dir: Path,
    catalog_dir: Path,
    *,
    start_ns: int | None = None,
    end_ns: int | None = None,
    instruments: set[str] | None = None,
) -> ConversionReport:
    """Rebuild ``catalog_dir`` from the export (optionally only some ``SYMBOL.VENUE`` ids and a time range)."""
    if catalog_dir.exists():
        shutil.rmtree(catalog_dir)
    catalog_dir.mkdir(parents=True)
    catalog = ParquetDataCatalog(str(catalog_dir))
    report = ConversionReport()
    for market in scan_markets(export_dir):
        inst = instrument_of(market)
        if instruments and str(inst.id) not in instruments:
            continue
        trades, quotes = market_objects(read_market(market, start_ns, end_ns), inst)
        catalog.write_data([inst])
        if trades:
            catalog.write_data(_sorted(trades))
        if quotes:
            catalog.write_data(_sorted(quotes))
        report.instruments.append(str(inst.id))
        report.trades += len(trades)
        report.quotes += len(quotes)
    return report


def _sorted[T: (TradeTick, QuoteTick)](items: list[T]) -> list[T]:
    keys = np.fromiter((x.ts_init for x in items), dtype=np.int64, count=len(items))
    if (np.diff(keys) >= 0).all():
        return items
    return [items[i] for i in np.argsort(keys, kind="stable")]
