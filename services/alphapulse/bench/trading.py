"""trading: the live client into NautilusTrader (frames/s, relay-to-strategy latency) and backtest events/s.

The work is in :mod:`alphapulse.trading.benchmark`, imported only when this bench runs.
"""

import argparse
from typing import Any

__all__ = ("add_arguments", "run")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=100_000, help="trades in the throughput phase")
    parser.add_argument("--latency-frames", type=int, default=4_000, help="trades in the latency phase")
    parser.add_argument("--latency-rate", type=float, default=2_000.0, help="trades/s in the latency phase")
    parser.add_argument("--backtest-quotes", type=int, default=20_000, help="quotes per venue in the backtest")


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    from alphapulse.trading.benchmark import run as measure

    return measure(args)
