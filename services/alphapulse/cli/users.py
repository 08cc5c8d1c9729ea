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
    create.set_defaults(handler=_create)


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
        finally:
            await pool.close()
        print(f"created {user.role} {user.username!r} (id {user.id})")
        return 0

    return asyncio.run(main())
