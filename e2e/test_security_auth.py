"""Authentication end to end, with the real processes a user runs (docs/security.md, "Who may do what").

``alphapulse api`` (PostgreSQL and Redis on 127.0.0.1, migrated by ``--migrate``) and
``alphapulse bridge`` share one bridge secret, as the chart configures them. A user logs in to the
API, gets a bridge token from it and opens the bridge's WebSocket with it. Refused: no token, an
expired token, a token signed with another secret, an ``alg: none`` token, a token for the API's
session secret; no session, a forged session cookie and a viewer's order at the API.
"""

import asyncio
import base64
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from alphapulse.tokens import issue_token

ROOT = Path(__file__).resolve().parents[1]
PG = "postgresql://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/0"
BRIDGE_SECRET = "b" * 48
SESSION_SECRET = "s" * 48
PASSWORD = "correct horse battery staple"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _env(database: str, prefix: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'services'}:{ROOT / 'operator'}",
        "DATABASE_URL": f"{PG}/{database}",
        "REDIS_URL": REDIS,
        "ALPHAPULSE_KEY_PREFIX": prefix,
        "ALPHAPULSE_SESSION_SECRET": SESSION_SECRET,
        "ALPHAPULSE_BRIDGE_SECRET": BRIDGE_SECRET,
        "ALPHAPULSE_COOKIE_SECURE": "false",  # plain http on 127.0.0.1 in the test
        "ALPHAPULSE_BRIDGE_TOKEN_TTL_S": "60",
        "ALPHAPULSE_EQUITY_SNAPSHOT_INTERVAL_S": "0",
        "ALPHAPULSE_API_ACCESS_LOG": "false",
    }


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"{url}: the process exited with {proc.returncode}: {proc.stderr and proc.stderr.read()!r}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code < 500:
                return
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout_s} s")


@dataclass
class Stack:
    api: str
    bridge: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    database = f"ap_security_{uuid.uuid4().hex[:10]}"
    prefix = f"apsec:{uuid.uuid4().hex[:8]}:"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(f"{PG}/postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{database}"'))
    env = _env(database, prefix)
    cli = [sys.executable, "-m", "alphapulse"]
    api_port, bridge_port = _free_port(), _free_port()
    sock_dir = tmp_path_factory.mktemp("sock")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        api = subprocess.Popen(
            [
                *cli,
                "api",
                "--migrate",
                "--host",
                "127.0.0.1",
                "--port",
                str(api_port),
                "--metrics-port",
                "0",
                "--no-order-events",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        procs.append(api)
        bridge = subprocess.Popen(
            # no relay is running: authentication does not depend on one
            [*cli, "bridge", "--host", "127.0.0.1", "--port", str(bridge_port), "--sock-dir", str(sock_dir)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        procs.append(bridge)
        _wait_http(f"http://127.0.0.1:{api_port}/healthz", api)
        _wait_http(f"http://127.0.0.1:{bridge_port}/livez", bridge)
        for role in ("viewer", "trader"):
            subprocess.run(
                [*cli, "users", "create", "--username", role, "--role", role, "--password-stdin"],
                env=env,
                input=f"{PASSWORD}\n".encode(),
                check=True,
                capture_output=True,
                timeout=60,
            )
        yield Stack(f"http://127.0.0.1:{api_port}", f"ws://127.0.0.1:{bridge_port}/ws")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            if p.stderr is not None:
                p.stderr.close()

        async def cleanup() -> None:
            r = aioredis.from_url(REDIS)
            try:
                keys = [k async for k in r.scan_iter(match=f"{prefix}*")]
                if keys:
                    await r.delete(*keys)
            finally:
                await r.aclose()
            await admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

        asyncio.run(cleanup())


@contextlib.asynccontextmanager
async def logged_in(stack: Stack, username: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.api, timeout=30) as client:
        resp = await client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
        assert resp.status_code == 200, resp.text
        yield client


async def _first_reply(ws: ClientConnection) -> list[dict[str, object]]:
    reply: list[dict[str, object]] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    return reply


async def _refused(stack: Stack, first: dict[str, object] | None) -> tuple[int, str]:
    """Connect, send ``first`` (or nothing), and return the close code and reason the bridge chose."""
    async with connect(stack.bridge) as ws:
        if first is not None:
            await ws.send(json.dumps(first))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 15)
    rcvd = closed.value.rcvd
    assert rcvd is not None, "the bridge dropped the connection without a close frame"
    return rcvd.code, rcvd.reason


async def test_a_token_from_the_api_opens_the_bridge(stack: Stack) -> None:
    async with logged_in(stack, "viewer") as client:
        resp = await client.post("/api/auth/bridge-token")
        assert resp.status_code in (200, 201), resp.text
        token = resp.json()["token"]
    async with connect(stack.bridge) as ws:
        await ws.send(json.dumps({"op": "auth", "token": token, "id": 1}))
        (welcome,) = await _first_reply(ws)
        assert welcome["type"] == "welcome" and welcome["sub"] == "viewer" and welcome["role"] == "viewer"
        await ws.send(json.dumps({"op": "ping", "id": "p"}))
        assert (await _first_reply(ws))[0]["type"] == "pong"


async def test_the_bridge_refuses_missing_expired_and_foreign_tokens(stack: Stack) -> None:
    now = int(time.time())
    key = BRIDGE_SECRET.encode()
    # no auth message at all: the bridge waits 5 s, then closes
    assert (await _refused(stack, None))[0] == 4002
    # a message that is not auth first
    assert (await _refused(stack, {"op": "subscribe", "exchange": "binance", "symbols": ["BTC-USDT"]}))[0] == 4002
    # an empty token
    assert (await _refused(stack, {"op": "auth", "token": ""}))[0] in (4000, 4001)
    # expired well beyond the 5 s of tolerated skew
    code, reason = await _refused(
        stack, {"op": "auth", "token": issue_token(key, "viewer", "viewer", now_s=now - 120, ttl_s=60)}
    )
    assert (code, reason) == (4001, "token expired")
    # signed with another secret, and with the API's session secret instead of the bridge secret
    for other in (b"x" * 48, SESSION_SECRET.encode()):
        code, reason = await _refused(stack, {"op": "auth", "token": issue_token(other, "viewer", "admin", now_s=now)})
        assert code == 4001 and "signature" in reason
    # alg "none": no signature at all
    segs = [
        base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()
        for part in ({"alg": "none", "typ": "JWT"}, {"sub": "viewer", "role": "admin", "exp": now + 60})
    ]
    assert (await _refused(stack, {"op": "auth", "token": f"{segs[0]}.{segs[1]}."}))[0] == 4001


async def test_the_api_refuses_no_session_a_forged_cookie_and_a_viewer_order(stack: Stack) -> None:
    order = {
        "account_id": 1,
        "exchange": "binance",
        "symbol": "BTC-USDT",
        "side": "buy",
        "type": "limit",
        "quantity": "0.01",
        "limit_price": "100.00",
    }
    async with httpx.AsyncClient(base_url=stack.api, timeout=30) as anon:
        assert (await anon.post("/api/auth/bridge-token")).status_code == 401
        assert (await anon.post("/api/orders", json=order)).status_code == 401
        anon.cookies.set("alphapulse_session", "A" * 43)
        assert (await anon.get("/api/auth/me")).status_code == 401
        assert (await anon.post("/api/orders", json=order)).status_code == 401
    async with logged_in(stack, "viewer") as viewer:
        resp = await viewer.post("/api/orders", json=order)
        assert resp.status_code == 403, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
        # and the viewer's bridge token carries the viewer role, whatever the client claims
        token = (await viewer.post("/api/auth/bridge-token")).json()["token"]
        payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        assert payload["role"] == "viewer"
    async with logged_in(stack, "trader") as trader:
        # the trader passes the role check; the order then fails on the account (none exists): 404, not 403
        assert (await trader.post("/api/orders", json=order)).status_code == 404
    async with httpx.AsyncClient(base_url=stack.api, timeout=30) as client:
        # a wrong password
        resp = await client.post("/api/auth/login", json={"username": "viewer", "password": "wrong password!"})
        assert resp.status_code == 401
        # a body beyond the API's 64 KiB limit is refused before it is parsed
        resp = await client.post("/api/auth/login", json={"username": "viewer", "password": "x" * 100_000})
        assert resp.status_code == 413
