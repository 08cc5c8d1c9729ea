"""``alphapulse trade -f STRATEGY.yaml``: a NautilusTrader node on the relay feed, paper trading by default."""

import argparse
from pathlib import Path
from typing import Any

from alphapulse.cli._common import (
    add_busy_poll_flag,
    add_listen_flags,
    add_relay_flag,
    add_sock_dir_flag,
    add_time_slice_flag,
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "trade",
        help="run strategies on the live feed (paper execution unless configured otherwise)",
        description="Runs a NautilusTrader TradingNode: the relay data client (all venues), NautilusTrader's "
        "sandbox execution per venue (real venue adapters only with mode: live and live: true in the file, "
        "keys from the environment), the strategies of the file, and the order gateway between the API's "
        "Redis streams (alphapulse:orders -> alphapulse:order-events) and the node.",
    )
    p.add_argument("-f", "--file", required=True, type=Path, help="strategy file (YAML); see docs/trading.md")
    add_sock_dir_flag(p)
    add_relay_flag(p)
    p.add_argument("--no-orders", action="store_true", help="do not consume API orders from Redis")
    add_listen_flags(p, default_port=9107)
    add_busy_poll_flag(p)
    add_time_slice_flag(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import dataclasses

    from alphapulse.cli._runtime import run_service
    from alphapulse.observability import MetricsServer
    from alphapulse.trading.config import load_trade_spec

    spec = load_trade_spec(args.file)  # validated before the ~1 s NautilusTrader import
    if args.relay:
        spec = dataclasses.replace(spec, relays=tuple(args.relay))
    if args.no_orders:
        spec = dataclasses.replace(spec, orders=dataclasses.replace(spec.orders, enabled=False))

    async def main() -> None:
        from alphapulse.trading.node import build_node, running_node

        node = build_node(spec, loop=asyncio.get_running_loop(), sock_dir=args.sock_dir)

        def healthy() -> tuple[bool, str]:
            running = node.trader.is_running and node.kernel.data_engine.is_running
            return running, "ok" if running else "node not running"

        metrics = MetricsServer(args.host, args.port, health=healthy)
        await metrics.start()
        try:
            async with running_node(node):
                while node.kernel.data_engine.is_running:  # noqa: ASYNC110 - NautilusTrader signals no event on a halt
                    await asyncio.sleep(0.5)
        finally:
            await metrics.close()

    # NautilusTrader installs its own signal handling only in node.run(); run_service cancels main() cleanly
    return run_service(main, busy_poll=args.busy_poll, time_slice_us=args.time_slice_us)
