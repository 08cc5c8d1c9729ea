"""``alphapulse db migrate|status``: the schema, in one numbered sequence of SQL files."""

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("db", help="database schema: migrate, status")
    sub = p.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    m = sub.add_parser("migrate", help="apply pending migrations to DATABASE_URL (a no-op when up to date)")
    m.add_argument("--database-url", default=None, help="PostgreSQL URL (default: env DATABASE_URL)")
    m.set_defaults(handler=migrate)
    s = sub.add_parser("status", help="list migrations: applied, pending, changed, missing")
    s.add_argument("--database-url", default=None, help="PostgreSQL URL (default: env DATABASE_URL)")
    s.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    s.set_defaults(handler=status)


def _dsn(args: argparse.Namespace) -> str:
    from alphapulse.errors import ConfigError
    from alphapulse.settings import env

    dsn = args.database_url or env("DATABASE_URL")
    if not dsn:
        raise ConfigError("DATABASE_URL is not set (or pass --database-url)")
    return str(dsn)


def migrate(args: argparse.Namespace) -> int:
    import asyncio

    import asyncpg

    from alphapulse.store.migrate import migrate as apply
    from alphapulse.store.migrate import timescale_level

    async def main() -> None:
        conn = await asyncpg.connect(_dsn(args))
        try:
            done = await apply(conn)
            level = await timescale_level(conn)
        finally:
            await conn.close()
        for m in done:
            print(f"applied {m.name}")
        print(f"schema up to date ({len(done)} applied now); timescaledb: {level}")

    asyncio.run(main())
    return 0


def status(args: argparse.Namespace) -> int:
    import asyncio
    import dataclasses

    import orjson

    from alphapulse.store.migrate import status as get_status

    states = asyncio.run(get_status(_dsn(args)))
    if args.json:
        print(orjson.dumps({"migrations": [dataclasses.asdict(s) for s in states]}).decode())
    else:
        for s in states:
            print(f"{s.version:04d}  {s.state:<8}  {s.name:<40}  {s.applied_at or ''}")
    return 1 if any(s.state in ("changed", "missing") for s in states) else 0
