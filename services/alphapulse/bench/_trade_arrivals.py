"""A NautilusTrader strategy for ``bench e2e``: when each trade reached ``on_trade_tick`` in a real trading node.

``alphapulse trade -f`` runs it like any strategy (its YAML names this module); it subscribes to the
trades of the given instruments and records, per tick, the wall-clock time it ran (taken first), the
tick's ``ts_event`` (the exchange's time) and ``ts_init`` (when the node's data client read it from the
relay), the protocol symbol id and the trade id. Every ``flush_ms`` the rows are appended to ``out_path``
as little-endian int64 quintuples (:data:`COLUMNS`), so the benchmark reads them while the node runs.
"""

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.trading.config import StrategyConfig
from nautilus_trader.trading.strategy import Strategy

from alphapulse.trading.instruments import symbol_id_of

__all__ = ("COLUMNS", "TradeArrivals", "TradeArrivalsConfig", "read_arrivals")

COLUMNS = ("t_strategy", "ts_exchange", "ts_node_read", "symbol_id", "trade_id")


class TradeArrivalsConfig(StrategyConfig, frozen=True):
    instrument_ids: list[str]
    out_path: str
    flush_ms: int = 200


class TradeArrivals(Strategy):  # type: ignore[misc]  # Strategy is a Cython class (Any to mypy)
    def __init__(self, config: TradeArrivalsConfig) -> None:
        super().__init__(config)
        self.iids = [InstrumentId.from_str(i) for i in config.instrument_ids]
        # the relay's symbol ids, so the benchmark can match these trades to other readers' copies
        self.sids = {iid: symbol_id_of(iid) for iid in self.iids}
        self.rows: list[tuple[int, int, int, int, int]] = []
        self.out = Path(config.out_path)
        self.flush_interval = timedelta(milliseconds=config.flush_ms)

    def on_start(self) -> None:
        self.out.write_bytes(b"")
        for iid in self.iids:
            self.subscribe_trade_ticks(iid)
        self.clock.set_timer("trade-arrivals-flush", self.flush_interval, callback=self._flush)

    def on_trade_tick(self, tick: TradeTick) -> None:
        now = time.time_ns()
        self.rows.append((now, tick.ts_event, tick.ts_init, self.sids[tick.instrument_id], int(tick.trade_id.value)))

    def on_stop(self) -> None:
        self._flush(None)

    def _flush(self, _event: Any) -> None:
        if not self.rows:
            return
        rows, self.rows = self.rows, []
        with self.out.open("ab") as f:
            f.write(np.asarray(rows, dtype="<i8").tobytes())


def read_arrivals(path: Path) -> dict[str, np.ndarray]:
    """The rows written so far, one array per column of :data:`COLUMNS`."""
    data = np.fromfile(path, dtype="<i8") if path.exists() else np.empty(0, dtype="<i8")
    rows = data[: data.size - data.size % len(COLUMNS)].reshape(-1, len(COLUMNS))
    return {name: rows[:, k].copy() for k, name in enumerate(COLUMNS)}
