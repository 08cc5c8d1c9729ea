"""EMA mean reversion (a taker): buy when the mid is ``entry_bps`` below its EMA, sell when it is back above.

Template notes: spot, long only (a CASH account cannot go short); ``period`` counts quotes, not time;
``entry_bps`` must beat the round-trip taker fee or the strategy pays the venue to trade. Decisions are
logged with the mid, the EMA and the deviation.
"""

from decimal import Decimal

from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import OrderSide, TimeInForce
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.trading.config import StrategyConfig
from nautilus_trader.trading.strategy import Strategy

from alphapulse.trading.audit import publish_decision
from alphapulse.trading.strategies.signals import Ema

__all__ = ("EmaReversion", "EmaReversionConfig")


class EmaReversionConfig(StrategyConfig, frozen=True):
    instrument_id: str
    trade_size: Decimal = Decimal("0.01")
    period: int = 50
    entry_bps: float = 20.0
    exit_bps: float = 0.0


class EmaReversion(Strategy):  # type: ignore[misc]  # Strategy is a Cython class (Any to mypy)
    def __init__(self, config: EmaReversionConfig) -> None:
        super().__init__(config)
        self.cfg = config
        self.trade_size = Decimal(str(config.trade_size))  # a config built in code may carry a str
        self.iid = InstrumentId.from_str(config.instrument_id)
        self.ema = Ema(config.period)
        self.pending = False

    def on_start(self) -> None:
        self.subscribe_quote_ticks(self.iid)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        bid, ask = tick.bid_price.as_double(), tick.ask_price.as_double()
        if bid <= 0 or ask <= 0:
            return
        mid = (bid + ask) / 2
        ema = self.ema.update(mid)
        if ema is None or self.pending:
            return
        deviation_bps = (mid - ema) / ema * 10_000.0
        held = Decimal(str(self.portfolio.net_position(self.iid)))
        if held <= 0 and deviation_bps <= -self.cfg.entry_bps:
            self._order(
                OrderSide.BUY, self.trade_size, f"buy: mid {mid} is {deviation_bps:.1f} bps under EMA {ema:.2f}"
            )
        elif held > 0 and deviation_bps >= self.cfg.exit_bps:
            self._order(OrderSide.SELL, held, f"sell: mid {mid} is {deviation_bps:.1f} bps over EMA {ema:.2f}")

    def _order(self, side: OrderSide, qty: Decimal, why: str) -> None:
        instrument = self.cache.instrument(self.iid)
        if instrument is None:
            return
        publish_decision(self, "EmaReversion", side.name.lower(), why, instrument_id=str(self.iid))
        self.pending = True
        self.submit_order(
            self.order_factory.market(self.iid, side, instrument.make_qty(qty), time_in_force=TimeInForce.IOC)
        )

    def on_order_filled(self, event: object) -> None:
        self.pending = False

    def on_order_rejected(self, event: object) -> None:
        self.pending = False

    def on_order_denied(self, event: object) -> None:
        self.pending = False

    def on_order_canceled(self, event: object) -> None:
        self.pending = False
