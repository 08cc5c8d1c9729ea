"""``alphapulse relay``: the fan-out hub between feed sockets and consumers."""

import argparse
from typing import Any

from alphapulse.cli._common import (
    add_busy_poll_flag,
    add_listen_flags,
    add_sock_dir_flag,
    add_time_slice_flag,
    parse_host_port,
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "relay",
        help="fan feed sockets out to consumers",
        description="Reads every feed socket in <sock-dir>/feeds/ (new ones at any time) and serves consumers "
        "on <sock-dir>/relay.sock, and over TCP with --listen-tcp. Slow consumers lose data (told with gap "
        "frames), never slow the others.",
    )
    add_sock_dir_flag(p)
    p.add_argument("--listen-tcp", metavar="HOST:PORT", help="also serve consumers over TCP (other machines)")
    p.add_argument(
        "--consumer-buffer-mib", type=int, default=16, help="per-consumer queue before dropping (default 16 MiB)"
    )
    p.add_argument(
        "--snapshot-burst",
        type=int,
        default=20,
        help="book snapshot requests a consumer may make at once (SNAPSHOT, SUBSCRIBE with the book bit; default 20)",
    )
    p.add_argument(
        "--snapshot-rate-per-s",
        type=float,
        default=5.0,
        help="sustained snapshot requests per second per consumer; more are dropped and counted "
        "(default 5; 0 = no limit)",
    )
    p.add_argument(
        "--snapshot-coalesce-ms",
        type=float,
        default=200.0,
        help="relay-wide: at most one snapshot request per feed and book goes to the collector in this window; "
        "later ones wait for its end and go as one (default 200; 0 = off)",
    )
    p.add_argument(
        "--max-consumers",
        type=int,
        default=64,
        help="consumer connections served at once; more are closed on arrival and counted (default 64; 0 = no limit)",
    )
    p.add_argument(
        "--max-consumers-per-address",
        type=int,
        default=16,
        help="TCP consumer connections served at once from one peer address (default 16; 0 = no limit)",
    )
    add_listen_flags(p, default_port=9101)
    add_busy_poll_flag(p)
    add_time_slice_flag(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from alphapulse.cli._runtime import run_service
    from alphapulse.errors import ConfigError
    from alphapulse.observability import MetricsServer
    from alphapulse.relay import Relay
    from alphapulse.relay.limits import ConsumerLimit, SnapshotLimit
    from alphapulse.settings import sock_dir

    if args.snapshot_rate_per_s > 0 and args.snapshot_burst < 1:
        raise ConfigError("--snapshot-burst must be at least 1 (or turn the limit off with --snapshot-rate-per-s 0)")
    snapshot_limit = SnapshotLimit(args.snapshot_burst, args.snapshot_rate_per_s)
    for flag, value in (
        ("--snapshot-coalesce-ms", args.snapshot_coalesce_ms),
        ("--max-consumers", args.max_consumers),
        ("--max-consumers-per-address", args.max_consumers_per_address),
    ):
        if value < 0:
            raise ConfigError(f"{flag} must be 0 or more, got {value}")

    async def main() -> None:
        relay = Relay(
            sock_dir(args.sock_dir),
            listen_tcp=parse_host_port(args.listen_tcp) if args.listen_tcp else None,
            consumer_buffer_bytes=args.consumer_buffer_mib << 20,
            snapshot_limit=snapshot_limit,
            snapshot_coalesce_s=args.snapshot_coalesce_ms / 1000,
            consumer_limit=ConsumerLimit(args.max_consumers, args.max_consumers_per_address),
        )
        metrics = MetricsServer(args.host, args.port, health=relay.healthy)
        await relay.start()
        await metrics.start()
        try:
            await relay.run()
        finally:
            await metrics.close()

    return run_service(main, busy_poll=args.busy_poll, time_slice_us=args.time_slice_us)
