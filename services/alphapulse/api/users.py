"""User records: create and list. Shared by ``POST /api/users`` and ``alphapulse users create``."""

import asyncio
import re
from typing import Any

import asyncpg

from alphapulse.api.passwords import PasswordHasher, check_password_policy
from alphapulse.api.schemas import UserOut
from alphapulse.errors import FatalError

__all__ = ("ROLES", "USERNAME_RE", "UserError", "UserExistsError", "create_user", "list_users", "user_out")

ROLES = ("admin", "trader", "viewer")
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,64}$")
_COLUMNS = "id, username, role, disabled, created_at"


class UserError(FatalError):
    """The user cannot be created as asked (bad name, weak password, unknown role)."""


class UserExistsError(UserError):
    pass


def user_out(row: Any) -> UserOut:
    return UserOut(
        id=row["id"],
        username=row["username"],
        role=row["role"],
        disabled=row["disabled"],
        created_at=row["created_at"],
    )


async def create_user(
    pool: asyncpg.Pool, hasher: PasswordHasher, *, username: str, password: str, role: str
) -> UserOut:
    if not USERNAME_RE.fullmatch(username):
        raise UserError("username must be 3-64 characters of A-Z a-z 0-9 _ . -")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    if (reason := check_password_policy(password)) is not None:
        raise UserError(reason)
    password_hash = await asyncio.to_thread(hasher.hash, password)
    try:
        row = await pool.fetchrow(
            f"INSERT INTO users (username, password_hash, role) VALUES ($1, $2, $3) RETURNING {_COLUMNS}",
            username,
            password_hash,
            role,
        )
    except asyncpg.UniqueViolationError as e:
        raise UserExistsError(f"user {username!r} already exists") from e
    return user_out(row)


async def list_users(pool: asyncpg.Pool) -> list[UserOut]:
    rows = await pool.fetch(f"SELECT {_COLUMNS} FROM users ORDER BY id")
    return [user_out(r) for r in rows]
