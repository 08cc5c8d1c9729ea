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
from nautilus_trader.model.data import BookOrder, OrderBookDelta, QuoteTick, TradeTick
from nautilus_trader.model.enums import AggressorSide, BookAction, OrderSide, RecordFlag
from nautilus_trader.model.identifiers import TradeId
from nautilus_trader.model.instruments import CurrencyPair
from nautilus_trader.model.objects import FIXED_PRECISION, Price, Quantity
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from alphapulse.trading.backtest.export_layout import Market, MarketData, read_market, scan_markets, unscaled
from alphapulse.trading.instruments import InstrumentSpec, currency_pair

__all__ = ("ConversionReport", "convert_export", "market_objects")

_AGGRESSOR = {"buy": AggressorSide.BUYER, "sell": AggressorSide.SELLER}
_F_SNAPSHOT, _F_LAST = int(RecordFlag.F_SNAPSHOT), int(RecordFlag.F_LAST)


@dataclass(slots=True)
class ConversionReport:
    instruments: list[str] = field(default_factory=list)
    trades: int = 0
    quotes: int = 0
    book_deltas: int = 0


def instrument_of(market: Market) -> CurrencyPair:
    # the export carries scales, not increments: one unit at the scale is the tick (the live
    # instrument may be coarser; fills in a backtest are then at least as fine as live)
    spec = InstrumentSpec(market.exchange, market.symbol, market.price_scale, market.qty_scale, 1, 1, market.symbol)
    return currency_pair(spec, 0)


def book_deltas(data: MarketData, inst: CurrencyPair) -> list[OrderBookDelta]:
    """Book update rows -> deltas: a run of snapshot rows becomes CLEAR + ADDs (F_SNAPSHOT), other rows
    UPDATE/DELETE; F_LAST closes every venue message (flag 2) and every snapshot."""
    t = data.book
    if t is None or not t.num_rows:
        return []
    pp, qp = inst.price_precision, inst.size_precision
    pmul, qmul = 10 ** (FIXED_PRECISION - pp), 10 ** (FIXED_PRECISION - qp)
    px = unscaled(t.column("price"), pp).tolist()
    qty = unscaled(t.column("qty"), qp).tolist()
    sides = t.column("side").to_pylist()
    flags = t.column("flags").to_numpy().tolist()
    seqs = t.column("seq").to_numpy().tolist()
    tex = t.column("ts_exchange_ns").to_numpy().tolist()
    trc = t.column("ts_recv_ns").to_numpy().tolist()
    # (action, side, price, qty, record flags, seq, ts_event, ts_init), finished into deltas below
    rows: list[list[int]] = []
    in_snapshot = False
    for k in range(len(px)):
        snap = bool(flags[k] & 1)
        if snap and not in_snapshot:
            if rows:
                rows[-1][4] |= _F_LAST
            rows.append([int(BookAction.CLEAR), 0, 0, 0, _F_SNAPSHOT, seqs[k], max(tex[k], 0), trc[k]])
        elif not snap and in_snapshot:
            rows[-1][4] |= _F_LAST  # the snapshot ended
        in_snapshot = snap
        side = int(OrderSide.BUY if sides[k] == "bid" else OrderSide.SELL)
        if snap:
            action, rec = int(BookAction.ADD), _F_SNAPSHOT
        else:
            action, rec = int(BookAction.UPDATE if qty[k] else BookAction.DELETE), 0
        if flags[k] & 2:
            rec |= _F_LAST
        rows.append([action, side, px[k], qty[k], rec, seqs[k], max(tex[k], 0), trc[k]])
    rows[-1][4] |= _F_LAST
    iid = inst.id
    out = []
    for action, side, p, q, rec, seq, te, ti in rows:
        if action == BookAction.CLEAR:
            d = OrderBookDelta.clear(iid, seq, te, ti)
            out.append(OrderBookDelta(iid, BookAction.CLEAR, d.order, rec, seq, te, ti))
        else:
            order = BookOrder(OrderSide(side), Price.from_raw(p * pmul, pp), Quantity.from_raw(q * qmul, qp), 0)
            out.append(OrderBookDelta(iid, BookAction(action), order, rec, seq, te, ti))
    return out


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
        data = read_market(market, start_ns, end_ns)
        trades, quotes = market_objects(data, inst)
        deltas = book_deltas(data, inst)
        catalog.write_data([inst])
        if deltas:
            catalog.write_data(_sorted(deltas))
        if trades:
            catalog.write_data(_sorted(trades))
        if quotes:
            catalog.write_data(_sorted(quotes))
        report.instruments.append(str(inst.id))
        report.trades += len(trades)
        report.quotes += len(quotes)
        report.book_deltas += len(deltas)
    return report


def _sorted[T: (TradeTick, QuoteTick, OrderBookDelta)](items: list[T]) -> list[T]:
    keys = np.fromiter((x.ts_init for x in items), dtype=np.int64, count=len(items))
    if (np.diff(keys) >= 0).all():
        return items
    return [items[i] for i in np.argsort(keys, kind="stable")]
