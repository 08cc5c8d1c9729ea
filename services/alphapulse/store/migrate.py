"""Apply the project's SQL migrations: one numbered sequence, each file once, in order.

Every file in ``migrations/`` named ``NNNN_name.sql`` is a migration. The runner takes a session
advisory lock (so services starting at once do not race), records each applied file with the
sha256 of its bytes in ``schema_migrations``, and applies each pending file in its own
transaction. Running it again is a no-op; a file changed after it was applied is an error, never
silently re-run (write a new migration instead).
"""

import hashlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import asyncpg

from alphapulse.errors import FatalError

__all__ = (
    "MIGRATIONS_DIR",
    "Migration",
    "MigrationError",
    "MigrationState",
    "discover",
    "migrate",
    "status",
    "timescale_level",
)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# pg_advisory_lock key: the first 8 bytes of sha256("alphapulse.migrations") as a signed bigint,
# fixed so every service and every version of the CLI agree on it.
LOCK_KEY = int.from_bytes(hashlib.sha256(b"alphapulse.migrations").digest()[:8], "big", signed=True)
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_BOOTSTRAP = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    duration_ms integer     NOT NULL DEFAULT 0
)
"""


class MigrationError(FatalError):
    """The migration files or the recorded history are inconsistent; the message says how."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str
    checksum: str


@dataclass(frozen=True, slots=True)
class MigrationState:
    version: int
    name: str
    state: Literal["applied", "pending", "changed", "missing"]
    applied_at: str | None = None


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations in ``directory``, ordered by version; rejects duplicate versions."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if m is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_lowercase_name.sql")
        version = int(m.group(1))
        if version in found:
            raise MigrationError(f"two migrations share version {version:04d}: {found[version].name}, {path.name}")
        raw = path.read_bytes()
        found[version] = Migration(version, path.stem, raw.decode(), hashlib.sha256(raw).hexdigest())
    return [found[v] for v in sorted(found)]


async def _applied(conn: asyncpg.Connection) -> dict[int, asyncpg.Record]:
    rows = await conn.fetch("SELECT version, name, checksum, applied_at FROM schema_migrations")
    return {r["version"]: r for r in rows}


def _check_history(migrations: Sequence[Migration], applied: dict[int, asyncpg.Record]) -> None:
    for m in migrations:
        rec = applied.get(m.version)
        if rec is not None and rec["checksum"] != m.checksum:
            raise MigrationError(
                f"migration {m.name} was changed after it was applied (recorded sha256 "
                f"{rec['checksum'][:12]}…, file {m.checksum[:12]}…): add a new migration instead"
            )


async def migrate(
    dsn_or_conn: str | asyncpg.Connection,
    *,
    directory: Path = MIGRATIONS_DIR,
    lock_timeout_s: float = 60.0,
) -> list[Migration]:
    """Apply every pending migration; returns the ones applied now (empty when up to date)."""
    migrations = discover(directory)
    own = isinstance(dsn_or_conn, str)
    conn: asyncpg.Connection = await asyncpg.connect(dsn_or_conn) if isinstance(dsn_or_conn, str) else dsn_or_conn
    try:
        # Session-level lock, held across the per-file transactions; a second runner waits here
        # and then finds nothing pending.
        await conn.execute(f"SET lock_timeout = {int(lock_timeout_s * 1000)}")
        await conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
        try:
            await conn.execute(_BOOTSTRAP)
            applied = await _applied(conn)
            _check_history(migrations, applied)
            done: list[Migration] = []
            for m in migrations:
                if m.version in applied:
                    continue
                started = time.monotonic()
                async with conn.transaction():
                    await conn.execute(m.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum, duration_ms) VALUES ($1, $2, $3, $4)",
                        m.version,
                        m.name,
                        m.checksum,
                        int((time.monotonic() - started) * 1000),
                    )
                done.append(m)
            return done
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
            await conn.execute("RESET lock_timeout")
    finally:
        if own:
            await conn.close()


async def status(dsn: str, *, directory: Path = MIGRATIONS_DIR) -> list[MigrationState]:
    """Every migration known to the files or the database, with its state."""
    migrations = discover(directory)
    conn = await asyncpg.connect(dsn)
    try:
        exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
        applied = await _applied(conn) if exists else {}
    finally:
        await conn.close()
    states: list[MigrationState] = []
    for m in migrations:
        rec = applied.pop(m.version, None)
        if rec is None:
            states.append(MigrationState(m.version, m.name, "pending"))
        else:
            state: Literal["applied", "changed"] = "applied" if rec["checksum"] == m.checksum else "changed"
            states.append(MigrationState(m.version, m.name, state, rec["applied_at"].isoformat()))
    states.extend(
        MigrationState(v, r["name"], "missing", r["applied_at"].isoformat()) for v, r in sorted(applied.items())
    )
    return sorted(states, key=lambda s: s.version)


async def timescale_level(conn: asyncpg.Connection) -> str:
    """'none', 'apache' or 'timescale' (see ap_timescale_level in 0001); 'none' before migrating."""
    has_fn = await conn.fetchval("SELECT to_regproc('ap_timescale_level') IS NOT NULL")
    if not has_fn:
        return "none"
    return str(await conn.fetchval("SELECT ap_timescale_level()"))
