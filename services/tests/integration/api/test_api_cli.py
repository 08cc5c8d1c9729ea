"""The public command lines: ``alphapulse users create`` and ``alphapulse api``, as subprocesses."""

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import orjson
import redis.asyncio as aioredis
from api_harness import REPO, TEST_PASSWORD, dsn

from alphapulse.api.passwords import PasswordHasher


def _env(database: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALPHAPULSE_")}
    env.update(PYTHONPATH=f"{REPO / 'services'}:{REPO / 'operator'}", DATABASE_URL=dsn(database), **extra)
    return env


async def _run(*args: str, env: dict[str, str], stdin: bytes = b"") -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "alphapulse",
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), timeout=60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_users_create_reads_the_password_from_stdin(database: str) -> None:
    env = _env(database)
    code, out, err = await _run(
        "users",
        "create",
        "--username",
        "root-admin",
        "--role",
        "admin",
        "--password-stdin",
        env=env,
        stdin=TEST_PASSWORD.encode() + b"\n",
    )
    assert code == 0, err
    assert "created admin 'root-admin'" in out
    conn = await asyncpg.connect(dsn(database))
    try:
        row = await conn.fetchrow("SELECT role, password_hash FROM users WHERE username = 'root-admin'")
    finally:
        await conn.close()
    assert row["role"] == "admin"
    assert row["password_hash"].startswith("$argon2id$")
    assert PasswordHasher().verify(row["password_hash"], TEST_PASSWORD)
    again = await _run(
        "users",
        "create",
        "--username",
        "root-admin",
        "--role",
        "admin",
        "--password-stdin",
        env=env,
        stdin=TEST_PASSWORD.encode() + b"\n",
    )
    assert again[0] == 2
    assert "already exists" in again[2]
    weak = await _run(
        "users",
        "create",
        "--username",
        "weak-one",
        "--role",
        "viewer",
        "--password-stdin",
        env=env,
        stdin=b"short\n",
    )
    assert weak[0] == 2
    assert "at least 12 characters" in weak[2]


async def test_api_refuses_to_start_without_secrets(database: str) -> None:
    code, _, err = await _run("api", "--port", "0", env=_env(database))
    assert code == 2
    assert "ALPHAPULSE_SESSION_SECRET is not set" in err


async def test_api_serves_until_interrupted(database: str, prefix: str) -> None:
    await _serve_and_probe(database, prefix)


async def test_api_migrates_an_empty_database_at_start_up(prefix: str) -> None:
    from api_harness import create_database, drop_database, new_name

    empty = new_name("empty")
    await create_database(empty)
    try:
        await _serve_and_probe(empty, prefix, "--migrate")
        conn = await asyncpg.connect(dsn(empty))
        try:
            versions = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")]
        finally:
            await conn.close()
        assert {10, 11, 12, 13} <= set(versions)
        assert 3 in versions  # the storage migrations came along
    finally:
        await drop_database(empty)


async def test_api_serves_its_metrics_on_their_own_port_only(database: str, prefix: str) -> None:
    """The Ingress routes every path of the API's port: /metrics must not be one of them."""
    async with _serving(database, prefix) as (url, metrics_url, _), httpx.AsyncClient() as client:
        assert (await client.get(f"{url}/readyz")).status_code == 200
        assert (await client.get(f"{url}/metrics")).status_code == 404
        assert metrics_url is not None, "the API logged no metrics address before it served"
        text = (await client.get(metrics_url)).text
        assert 'alphapulse_api_requests_total{method="GET",route="/readyz",status="200"}' in text
        # the probe of /metrics above: a dashboard file not found, or no route at all when the dashboard is not built
        assert re.search(r'route="(/\{file_path\}|unmatched)",status="404"', text), text


async def _serve_and_probe(database: str, prefix: str, *flags: str) -> None:
    async with _serving(database, prefix, *flags) as (url, _, _), httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/readyz")).json()["checks"] == {"database": "ok", "redis": "ok"}
        assert (await client.get("/api/auth/me")).status_code == 401


@asynccontextmanager
async def _serving(
    database: str, prefix: str, *flags: str, **extra_env: str
) -> AsyncIterator[tuple[str, str | None, asyncio.StreamReader]]:
    """``alphapulse api`` on free ports; yields its URL, its metrics URL (when it logged one before it
    served) and its stderr (JSON log lines) past start-up.
    The process must exit 0 when terminated."""
    env = _env(
        database,
        ALPHAPULSE_SESSION_SECRET="s" * 40,
        ALPHAPULSE_BRIDGE_SECRET="b" * 40,
        ALPHAPULSE_KEY_PREFIX=prefix,
        REDIS_URL="redis://127.0.0.1:6379/0",
        **extra_env,
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "alphapulse",
        "api",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--metrics-port",
        "0",
        *flags,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    try:
        url = metrics_url = None
        async with asyncio.timeout(30):
            while url is None:
                line = (await proc.stderr.readline()).decode()
                assert line, "the API exited before it listened"
                if m := re.search(r"http://127\.0\.0\.1:\d+/metrics", line):
                    metrics_url = m.group(0)
                if m := re.search(r"running on http://127\.0\.0\.1:(\d+)", line):
                    url = f"http://127.0.0.1:{m.group(1)}"
        yield url, metrics_url, proc.stderr
    finally:
        proc.terminate()
        code = await asyncio.wait_for(proc.wait(), timeout=20)
    assert code == 0


async def test_api_believes_x_forwarded_for_only_from_trusted_proxies(database: str, prefix: str) -> None:
    """The flag reaches uvicorn: logins are counted, and logged, under the forwarded address.
    The environment variable (127.0.0.2) is overridden by the flag (127.0.0.1)."""
    flag = ("--trusted-proxies", "127.0.0.1")
    async with _serving(database, prefix, *flag, ALPHAPULSE_TRUSTED_PROXIES="127.0.0.2") as (url, _, stderr):
        async with httpx.AsyncClient(base_url=url) as client:
            for xff in ("203.0.113.7", "198.51.100.9"):
                resp = await client.post(
                    "/api/auth/login",
                    json={"username": "nobody", "password": "wrong-password-x"},
                    headers={"X-Forwarded-For": xff},
                )
                assert resp.status_code == 401, resp.text
        logged: list[str] = []
        async with asyncio.timeout(10):
            while len(logged) < 2:
                line = await stderr.readline()
                assert line, "the API exited"
                doc = orjson.loads(line)
                if doc.get("logger") == "alphapulse.api.access" and doc.get("path") == "/api/auth/login":
                    logged.append(doc["client"])
        assert logged == ["203.0.113.7", "198.51.100.9"]
    r = aioredis.from_url("redis://127.0.0.1:6379/0")
    try:
        keys = {k.decode() async for k in r.scan_iter(match=f"{prefix}login-attempts:*")}
    finally:
        await r.aclose()
    assert {k.removeprefix(f"{prefix}login-attempts:").rsplit(":", 1)[0] for k in keys} == {
        "203.0.113.7",
        "198.51.100.9",
    }


async def test_users_create_can_open_a_paper_account(database: str) -> None:
    env = _env(database)
    code, out, err = await _run(
        "users",
        "create",
        "--username",
        "paper-trader",
        "--role",
        "trader",
        "--password-stdin",
        "--paper-account",
        "USDT=100000,USD=2500.50",
        env=env,
        stdin=TEST_PASSWORD.encode() + b"\n",
    )
    assert code == 0, err
    assert "opened paper account 'paper-trader-paper'" in out
    conn = await asyncpg.connect(dsn(database))
    try:
        rows = await conn.fetch(
            "SELECT a.kind, a.base_currency, b.asset, b.amount::text AS amount FROM accounts a "
            "JOIN balances b ON b.account_id = a.id JOIN users u ON u.id = a.owner_id "
            "WHERE u.username = 'paper-trader' ORDER BY b.asset"
        )
    finally:
        await conn.close()
    assert [(r["kind"], r["base_currency"], r["asset"], r["amount"]) for r in rows] == [
        ("paper", "USDT", "USD", "2500.50"),
        ("paper", "USDT", "USDT", "100000"),
    ]
    bad = await _run(
        "users",
        "create",
        "--username",
        "x-trader",
        "--role",
        "trader",
        "--password-stdin",
        "--paper-account",
        "usdt=1",
        env=env,
        stdin=TEST_PASSWORD.encode() + b"\n",
    )
    assert bad[0] == 2
    assert "is not ASSET=AMOUNT" in bad[2]
