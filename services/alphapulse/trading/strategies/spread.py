"""Cross-venue spread: buy the asset where it is cheapest when another venue bids enough more for it.

Template notes: the config names every market of one asset (quote currencies are taken as equal,
e.g. USD and USDT: that is the bet); ``entry_bps`` should exceed the taker fees of both legs.
The strategy buys ``trade_size`` on the cheap venue (a market order, so it pays the ask) while the
spread is above ``entry_bps`` and its position there is below ``max_position``; it sells everything
it holds on a venue once the spread falls below ``exit_bps``. Every decision is logged with its numbers.
"""

from decimal import Decimal

from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import OrderSide, TimeInForce
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.trading.config import StrategyConfig
from nautilus_trader.trading.strategy import Strategy

from alphapulse.trading.audit import publish_decision
from alphapulse.trading.strategies.signals import best_cross

__all__ = ("CrossVenueSpread", "CrossVenueSpreadConfig")


class CrossVenueSpreadConfig(StrategyConfig, frozen=True):
    instrument_ids: tuple[str, ...]
    trade_size: Decimal = Decimal("0.01")
    max_position: Decimal = Decimal("0.05")
    entry_bps: float = 25.0
    exit_bps: float = 5.0
    cooldown_ms: int = 1_000


class CrossVenueSpread(Strategy):  # type: ignore[misc]  # Strategy is a Cython class (Any to mypy)
    def __init__(self, config: CrossVenueSpreadConfig) -> None:
        super().__init__(config)
        self.cfg = config
        # Decimal(str(...)): a config built in code may carry a str or float where YAML gives a Decimal
        self.trade_size = Decimal(str(config.trade_size))
        self.max_position = Decimal(str(config.max_position))
        self.ids = [InstrumentId.from_str(s) for s in config.instrument_ids]
        self.quotes: dict[str, tuple[float, float]] = {}
        self.last_order_ns = 0
        self.decisions: list[tuple[int, str, str, float]] = []  # (ts, action, venue, spread bps)

    def on_start(self) -> None:
        for iid in self.ids:
            if self.cache.instrument(iid) is None:
                self.log.warning(f"{iid} is not known (no feed, or not in the backtest's data): ignored")
                continue
            self.subscribe_quote_ticks(iid)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        bid, ask = tick.bid_price.as_double(), tick.ask_price.as_double()
        if bid <= 0 or ask <= 0:
            return
        self.quotes[str(tick.instrument_id)] = (bid, ask)
        cross = best_cross(self.quotes)
        if cross is None or tick.ts_init - self.last_order_ns < self.cfg.cooldown_ms * 1_000_000:
            return
        cheap, rich, bps = cross
        if bps >= self.cfg.entry_bps:
            if self._position(cheap) + self.trade_size <= self.max_position:
                why = f"buy {cheap}: {rich} bids {bps:.1f} bps more"
                self._order(cheap, OrderSide.BUY, self.trade_size, tick.ts_init, bps, why)
        elif bps <= self.cfg.exit_bps:
            for iid in self.ids:
                held = self._position(str(iid))
                if held > 0:
                    self._order(str(iid), OrderSide.SELL, held, tick.ts_init, bps, f"exit {iid}: spread {bps:.1f} bps")

    def _position(self, iid: str) -> Decimal:
        net = self.portfolio.net_position(InstrumentId.from_str(iid))
        return Decimal(str(net))

    def _order(self, iid: str, side: OrderSide, qty: Decimal, ts_ns: int, bps: float, why: str) -> None:
        instrument = self.cache.instrument(InstrumentId.from_str(iid))
        if instrument is None:
            return
        self.last_order_ns = ts_ns
        self.decisions.append((ts_ns, side.name.lower(), iid, bps))
        publish_decision(self, "CrossVenueSpread", side.name.lower(), why, instrument_id=iid, spread_bps=bps)
        self.submit_order(
            self.order_factory.market(instrument.id, side, instrument.make_qty(qty), time_in_force=TimeInForce.IOC)
        )
