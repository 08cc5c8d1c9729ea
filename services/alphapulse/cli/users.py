"""``alphapulse users create --username U --role R [--password-stdin]``: add a user (the first admin).

The password is read from a prompt (twice, not echoed) or, with ``--password-stdin``, from the first
line of standard input; never from a flag, which would land in shell history and ``ps``.
"""

import argparse
import sys
from typing import Any

__all__ = ("register",)


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("users", help="manage API users")
    verbs = parser.add_subparsers(dest="users_verb", metavar="VERB", required=True)
    create = verbs.add_parser("create", help="create a user", description=__doc__)
    create.add_argument("--username", required=True)
    create.add_argument("--role", required=True, choices=["admin", "trader", "viewer"])
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    create.add_argument(
        "--paper-account",
        metavar="ASSET=AMOUNT,...",
        help="also open a paper trading account '<username>-paper' with these balances "
        "(e.g. USDT=100000,USD=100000); base currency is the first asset",
    )
    create.set_defaults(handler=_create)


def parse_balances(text: str) -> list[tuple[str, str]]:
    """``"USDT=100000,BTC=1"`` -> [("USDT", "100000"), ("BTC", "1")], exact decimal strings."""
    from decimal import Decimal, InvalidOperation

    from alphapulse.errors import ConfigError

    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        asset, sep, amount = part.partition("=")
        try:
            ok = bool(sep) and asset.isalnum() and asset.isupper() and Decimal(amount) >= 0
        except InvalidOperation:
            ok = False
        if not ok:
            raise ConfigError(f"--paper-account: {part!r} is not ASSET=AMOUNT (e.g. USDT=100000)")
        out.append((asset, amount))
    if not out:
        raise ConfigError("--paper-account needs at least one ASSET=AMOUNT")
    return out


def _read_password(from_stdin: bool) -> str:
    from alphapulse.errors import ConfigError

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        import getpass

        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            raise ConfigError("the passwords differ")
    if not password:
        raise ConfigError("empty password")
    return password


def _create(args: argparse.Namespace) -> int:
    import asyncio

    from alphapulse.api.db import create_pool
    from alphapulse.api.passwords import PasswordHasher
    from alphapulse.api.users import create_user
    from alphapulse.errors import ConfigError
    from alphapulse.settings import env

    balances = parse_balances(args.paper_account) if args.paper_account else []
    password = _read_password(args.password_stdin)

    async def main() -> int:
        import asyncpg

        dsn = env("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/alphapulse"
        try:
            pool = await create_pool(dsn, min_size=1, max_size=1)
        except (OSError, asyncpg.PostgresError) as e:
            raise ConfigError(f"cannot connect to DATABASE_URL: {e}") from e
        try:
            if await pool.fetchval("SELECT to_regclass('users') IS NULL"):
                raise ConfigError("the database has no users table: run `alphapulse db migrate` first")
            user = await create_user(pool, PasswordHasher(), username=args.username, password=password, role=args.role)
            print(f"created {user.role} {user.username!r} (id {user.id})")
            if balances:
                async with pool.acquire() as conn, conn.transaction():
                    account_id = await conn.fetchval(
                        "INSERT INTO accounts (name, owner_id, kind, base_currency) VALUES ($1, $2, 'paper', $3) "
                        "RETURNING id",
                        f"{user.username}-paper",
                        user.id,
                        balances[0][0],
                    )
                    await conn.executemany(
                        "INSERT INTO balances (account_id, asset, amount) VALUES ($1, $2, $3::numeric)",
                        [(account_id, asset, amount) for asset, amount in balances],
                    )
                print(
                    f"opened paper account '{user.username}-paper' (id {account_id}): "
                    + ", ".join(f"{a} {v}" for a, v in balances)
                )
        finally:
            await pool.close()
        return 0

    return asyncio.run(main())
