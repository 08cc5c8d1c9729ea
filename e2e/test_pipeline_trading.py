"""The trading node on the live pipeline: simulator -> collectors -> relay -> ``alphapulse trade``.

The node (NautilusTrader, paper execution) runs the example spread strategy, which subscribes to
every venue's quotes: they must reach its DataEngine with nothing rejected; its own metrics say so.
Trades frame for frame, orders and fills: services/tests/integration/test_trading_*.py. (Trades
are not asserted here: the strategy does not subscribe to them, and the relay filters them out as
soon as the node's subscription arrives; an earlier version passed only when trades slipped through
before that.)
"""

import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from stack import Stack

STRATEGY = {
    "trader_id": "E2E-001",
    "orders": {"enabled": False},
    "strategies": [
        {
            "path": "alphapulse.trading.strategies.spread:CrossVenueSpread",
            "config": {
                "instrument_ids": ["BTC-USDT.BINANCE", "BTC-USD.KRAKEN", "BTC-USD.COINBASE"],
                "trade_size": "0.01",
                "max_position": "0.05",
                "entry_bps": 30.0,
                "exit_bps": 5.0,
                "cooldown_ms": 1000,
            },
        }
    ],
}


def _samples(text: str, name: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line.startswith(name):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def test_trading_node_receives_the_live_feed(make_stack: Any, tmp_path: Path) -> None:
    strategy = tmp_path / "strategy.yaml"
    strategy.write_text(yaml.safe_dump(STRATEGY))
    stack: Stack = make_stack(rate=300.0, writer=False, bridge=False, trade=strategy)
    deadline = time.monotonic() + 90  # returns as soon as both kinds arrived; the bound is for a loaded CI box
    frames: dict[str, float] = {}
    latency: dict[str, float] = {}
    while time.monotonic() < deadline:
        with urllib.request.urlopen(stack.http("trade") + "/metrics", timeout=5) as r:
            text = r.read().decode()
        frames = _samples(text, "alphapulse_trading_frames_total")
        latency = _samples(text, "alphapulse_trading_latency_seconds_count")
        kinds = {k for k, v in frames.items() if v > 0}
        if any('"quote"' in k for k in kinds) and sum(latency.values()) > 0:
            break
        time.sleep(0.5)
    assert stack.procs["trade"].alive(), stack.procs["trade"].tail()
    assert any('"quote"' in k and v > 0 for k, v in frames.items()), frames
    assert sum(latency.values()) > 0
    rejected = {}
    with urllib.request.urlopen(stack.http("trade") + "/metrics", timeout=5) as r:
        rejected = _samples(r.read().decode(), "alphapulse_trading_rejected_frames_total")
    assert sum(rejected.values()) == 0, rejected
