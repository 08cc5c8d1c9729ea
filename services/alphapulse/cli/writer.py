"""``alphapulse writer``: the database writer (relay consumer → PostgreSQL, no loss)."""

import argparse
from typing import Any

from alphapulse.cli._common import add_listen_flags, add_relay_flag, add_sock_dir_flag


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "writer",
        help="write relay frames into PostgreSQL (DATABASE_URL)",
        description="Consumes the relay and writes trades, quotes, book levels, instruments, gaps and feed "
        "events into DATABASE_URL in COPY batches. When the database is down or slow it spools to a bounded "
        "on-disk journal and catches up later; loss beyond the spool is counted and recorded as a gap.",
    )
    add_relay_flag(p)
    add_sock_dir_flag(p)
    p.add_argument("--database-url", default=None, help="PostgreSQL URL (default: env DATABASE_URL)")
    p.add_argument("--spool-dir", default=None, help="journal folder (default <data-dir>/spool/writer)")
    p.add_argument("--spool-max-mib", type=int, default=1024, help="spool bound before rows are dropped (MiB)")
    p.add_argument("--batch-rows", type=int, default=50_000, help="rows per database transaction (max)")
    add_listen_flags(p, default_port=9102)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from alphapulse.cli._runtime import run_service
    from alphapulse.errors import ConfigError
    from alphapulse.settings import data_dir, env, relay_socket_path, sock_dir
    from alphapulse.store.service import run_writer

    dsn = args.database_url or env("DATABASE_URL")
    if not dsn:
        raise ConfigError("DATABASE_URL is not set (or pass --database-url); `alphapulse up` starts an embedded one")
    relays = args.relay or [f"unix:{relay_socket_path(sock_dir(args.sock_dir))}"]
    spool = data_dir() / "spool" / "writer" if args.spool_dir is None else args.spool_dir

    async def main() -> None:
        from pathlib import Path

        await run_writer(
            relays,
            dsn=dsn,
            spool_dir=Path(spool),
            host=args.host,
            port=args.port,
            spool_max_bytes=args.spool_max_mib << 20,
            batch_rows=args.batch_rows,
        )

    return run_service(main)
