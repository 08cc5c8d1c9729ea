"""``alphapulse collector -f FEED.yaml``: run one ExchangeFeed's collector."""

import argparse
from typing import Any

from alphapulse.cli._common import add_busy_poll_flag, add_listen_flags, add_sock_dir_flag, add_time_slice_flag


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "collector",
        help="run the exchange collector of one ExchangeFeed",
        description="Connects to the feed's exchange (or spec.url), subscribes its symbols and channels, and "
        "serves frames on <sock-dir>/feeds/<feed-name>.sock. Instrument scales come from the venue's metadata "
        "(spec.restUrl replaces the REST base).",
    )
    p.add_argument("-f", "--file", required=True, help="ExchangeFeed YAML (the same document kubectl applies)")
    p.add_argument("--feed", help="the feed's metadata.name, when the file holds several")
    p.add_argument("--agg-trades", action="store_true", help="Binance: subscribe aggTrade instead of trade")
    p.add_argument(
        "--replay-ring-mib",
        type=int,
        default=64,
        help="MiB of recently published cells kept to answer RESUME (a consumer recovering what it missed); "
        "0 disables it (default 64)",
    )
    add_sock_dir_flag(p)
    add_listen_flags(p, default_port=9102)
    add_busy_poll_flag(p)
    add_time_slice_flag(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from alphapulse.cli._runtime import run_service
    from alphapulse.collectors.service import Collector
    from alphapulse.errors import ConfigError
    from alphapulse.feeds import load_feed_file
    from alphapulse.settings import sock_dir

    feeds = load_feed_file(args.file)
    if args.feed:
        feeds = [f for f in feeds if f.name == args.feed]
        if not feeds:
            raise ConfigError(f"{args.file} has no ExchangeFeed named {args.feed!r}")
    if len(feeds) != 1:
        raise ConfigError(f"{args.file} holds {len(feeds)} feeds; pick one with --feed NAME")
    collector = Collector(
        feeds[0],
        sock_dir(args.sock_dir),
        metrics_host=args.host,
        metrics_port=args.port,
        agg_trades=args.agg_trades,
        replay_ring_bytes=max(0, args.replay_ring_mib) << 20,
    )

    async def main() -> None:
        await collector.run()

    return run_service(main, busy_poll=args.busy_poll, time_slice_us=args.time_slice_us)
