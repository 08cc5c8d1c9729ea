"""Run strategies over a catalog with NautilusTrader's ``BacktestEngine``: fees from the instruments
(each venue's maker/taker), L1 fills against quotes and trades or L2 fills against the book built
from the recorded book updates, a seeded fill model, so the same inputs give the same fills and PnL."""

import hashlib
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.backtest.models import FillModel
from nautilus_trader.config import ImportableStrategyConfig, LoggingConfig
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import AccountType, LiquiditySide, OmsType, book_type_from_str
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.identifiers import TraderId, Venue
from nautilus_trader.model.objects import Money
from nautilus_trader.persistence.catalog import ParquetDataCatalog
from nautilus_trader.trading.config import StrategyFactory

from alphapulse.errors import ConfigError
from alphapulse.protocol import Exchange
from alphapulse.trading.backtest.equity import FillRow, equity_curve, max_drawdown
from alphapulse.trading.config import DEFAULT_BALANCES, StrategySpec, VenueSpec

__all__ = ("BacktestOutcome", "BacktestSpec", "run_backtest")


@dataclass(frozen=True, slots=True)
class BacktestSpec:
    catalog: Path
    strategies: tuple[StrategySpec, ...]
    venues: tuple[VenueSpec, ...] = ()
    instrument_ids: tuple[str, ...] = ()  # default: every instrument in the catalog
    start_ns: int | None = None
    end_ns: int | None = None
    book_type: str = "L1_MBP"
    seed: int = 42


@dataclass(slots=True)
class BacktestOutcome:
    spec: BacktestSpec
    fills: list[FillRow]
    orders: list[dict[str, Any]]
    positions: list[dict[str, Any]]
    equity_ts: npt.NDArray[np.int64]
    equity_pnl: npt.NDArray[np.float64]
    marks: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]]
    events: int
    elapsed_s: float
    stats: dict[str, float] = field(default_factory=dict)

    @property
    def pnl(self) -> float:
        return float(self.equity_pnl[-1]) if len(self.equity_pnl) else 0.0

    def fingerprint(self) -> str:
        """A digest of every fill and the final PnL: equal digests mean identical runs."""
        h = hashlib.sha256()
        for f in self.fills:
            h.update(f"{f.ts_ns}|{f.instrument_id}|{f.side}|{f.price}|{f.qty}|{f.fee}\n".encode())
        h.update(f"{self.pnl:.10f}".encode())
        return h.hexdigest()


_LIQ = {LiquiditySide.MAKER: "maker", LiquiditySide.TAKER: "taker"}


def run_backtest(spec: BacktestSpec) -> BacktestOutcome:
    if spec.book_type not in ("L1_MBP", "L2_MBP"):
        raise ConfigError(f"book type {spec.book_type!r}: expected L1_MBP (quotes) or L2_MBP (book deltas)")
    catalog = ParquetDataCatalog(str(spec.catalog))
    instruments = catalog.instruments(instrument_ids=list(spec.instrument_ids) or None)
    if not instruments:
        raise ConfigError(f"no instruments in the catalog {spec.catalog} (run `alphapulse backtest convert` first)")
    engine = BacktestEngine(
        BacktestEngineConfig(trader_id=TraderId("BACKTEST-001"), logging=LoggingConfig(log_level="ERROR"))
    )
    try:
        venue_specs = {v.exchange.name: v for v in spec.venues}
        for venue in sorted({i.id.venue.value for i in instruments}):
            v = venue_specs.get(venue) or VenueSpec(
                Exchange[venue], starting_balances=DEFAULT_BALANCES[Exchange[venue]]
            )
            engine.add_venue(
                Venue(venue),
                OmsType[v.oms_type],
                AccountType[v.account_type],
                base_currency=None,
                starting_balances=[Money.from_str(b) for b in v.starting_balances],
                fill_model=FillModel(prob_fill_on_limit=1.0, prob_slippage=0.0, random_seed=spec.seed),
                book_type=book_type_from_str(spec.book_type),
            )
        marks: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = {}
        events = 0
        for inst in instruments:
            engine.add_instrument(inst)
            ids = [str(inst.id)]
            quotes: list[QuoteTick] = catalog.quote_ticks(instrument_ids=ids, start=spec.start_ns, end=spec.end_ns)
            trades = catalog.trade_ticks(instrument_ids=ids, start=spec.start_ns, end=spec.end_ns)
            if quotes:
                engine.add_data(quotes)
                marks[str(inst.id)] = (
                    np.fromiter((q.ts_init for q in quotes), dtype=np.int64, count=len(quotes)),
                    np.fromiter(
                        ((q.bid_price.as_double() + q.ask_price.as_double()) / 2 for q in quotes),
                        dtype=np.float64,
                        count=len(quotes),
                    ),
                )
            if trades:
                engine.add_data(trades)
            deltas = []
            if spec.book_type == "L2_MBP":
                deltas = catalog.order_book_deltas(instrument_ids=ids, start=spec.start_ns, end=spec.end_ns)
                if not deltas:
                    raise ConfigError(f"L2_MBP needs book updates for {inst.id}; the catalog has none")
                engine.add_data(deltas)
            events += len(quotes) + len(trades) + len(deltas)
        for s in spec.strategies:
            engine.add_strategy(
                StrategyFactory.create(
                    ImportableStrategyConfig(
                        strategy_path=s.path, config_path=s.resolved_config_path, config=dict(s.config)
                    )
                )
            )
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            # NautilusTrader 1.231 calls pandas' deprecated Timestamp.utcnow() in run(): not ours to fix
            warnings.filterwarnings("ignore", message="Timestamp.utcnow is deprecated")
            engine.run()
        elapsed = time.perf_counter() - t0
        fills, orders = _fills_and_orders(engine)
        positions = [
            {
                "position_id": p.id.value,
                "instrument_id": str(p.instrument_id),
                "side": p.side.name.lower(),
                "quantity": str(p.quantity),
                "realized_pnl": str(p.realized_pnl.as_decimal()) if p.realized_pnl is not None else "0",
                "opened_ns": p.ts_opened,
                "closed_ns": p.ts_closed or 0,
            }
            for p in engine.cache.positions()
        ]
    finally:
        engine.dispose()
    ts, pnl = equity_curve(fills, marks)
    outcome = BacktestOutcome(spec, fills, orders, positions, ts, pnl, marks, events, elapsed)
    outcome.stats = {
        "pnl": outcome.pnl,
        "fees": float(sum(float(f.fee) for f in fills)),
        "fills": float(len(fills)),
        "orders": float(len(orders)),
        "max_drawdown": max_drawdown(pnl),
        "events": float(events),
        "events_per_s": events / elapsed if elapsed > 0 else 0.0,
    }
    return outcome


def _fills_and_orders(engine: BacktestEngine) -> tuple[list[FillRow], list[dict[str, Any]]]:
    fills: list[FillRow] = []
    orders: list[dict[str, Any]] = []
    for order in engine.cache.orders():
        orders.append(
            {
                "order_id": order.client_order_id.value,
                "instrument_id": str(order.instrument_id),
                "side": order.side.name.lower(),
                "type": order.order_type.name.lower(),
                "quantity": str(order.quantity),
                "filled_qty": str(order.filled_qty),
                "avg_px": str(order.avg_px) if order.avg_px else "",
                "status": order.status.name.lower(),
                "ts_init": order.ts_init,
            }
        )
        for ev in order.events:
            if isinstance(ev, OrderFilled):
                fills.append(
                    FillRow(
                        ev.ts_event,
                        str(ev.instrument_id),
                        ev.order_side.name.lower(),
                        str(ev.last_px),
                        str(ev.last_qty),
                        f"{ev.commission.as_decimal():f}",
                        ev.commission.currency.code,
                        ev.trade_id.value,
                        ev.client_order_id.value,
                        _LIQ.get(ev.liquidity_side, ""),
                    )
                )
    fills.sort(key=lambda f: (f.ts_ns, f.order_id, f.trade_id))
    orders.sort(key=lambda o: (o["ts_init"], o["order_id"]))
    return fills, orders
