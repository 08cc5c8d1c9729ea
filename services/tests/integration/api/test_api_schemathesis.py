"""Schemathesis against the served OpenAPI spec: generated requests never cause a server error.

Bounded (a few examples per operation) so it runs in seconds; the server runs in its own thread
and event loop because schemathesis calls it synchronously.
"""

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from api_harness import (
    CHEAP_HASHER,
    TEST_PASSWORD,
    OffsetClock,
    apply_schema,
    clear_redis_prefix,
    create_database,
    drop_database,
    dsn,
    make_settings,
    new_name,
    seed_market,
)
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from alphapulse.api.app import create_asgi
from alphapulse.api.auth import SESSION_COOKIE
from alphapulse.api.users import create_user

# Operations that would end the session the run is using.
EXCLUDED = {("POST", "/api/auth/logout"), ("DELETE", "/api/users/{username}/sessions")}


class _ThreadedServer:
    def __init__(self, app: Any) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", log_config=None, access_log=False)
        )
        self.thread = threading.Thread(target=self.server.run, name="test.schemathesis-server", daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        for _ in range(1000):
            if self.server.started:
                break
            threading.Event().wait(0.01)
        assert self.server.started
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def api_schema() -> Iterator[Any]:
    database = new_name("schema")
    prefix = f"aptest:{new_name('s')}:"
    clock = OffsetClock()

    async def setup() -> None:
        import asyncpg

        await create_database(database)
        await apply_schema(database)
        pool = await asyncpg.create_pool(dsn(database), min_size=1, max_size=2)
        try:
            await create_user(pool, CHEAP_HASHER, username="admin", password=TEST_PASSWORD, role="admin")
            await seed_market(pool, now_s=clock.now_ns() / 1e9, trades_per_symbol=20)
        finally:
            await pool.close()

    asyncio.run(setup())
    app = create_asgi(make_settings(database, prefix), clock=clock, hasher=CHEAP_HASHER)
    try:
        with _ThreadedServer(app) as base_url:
            login = httpx.post(f"{base_url}/api/auth/login", json={"username": "admin", "password": TEST_PASSWORD})
            assert login.status_code == 200
            account = httpx.post(
                f"{base_url}/api/accounts",
                json={"name": "fuzz", "owner": "admin", "balances": [{"asset": "USDT", "amount": "1000"}]},
                cookies=login.cookies,
            )
            assert account.status_code == 201
            spec = httpx.get(f"{base_url}/schema/openapi.json").json()
            schema = schemathesis.openapi.from_dict(spec)
            schema.config.update(base_url=base_url)
            schema.cookie = f"{SESSION_COOKIE}={login.cookies[SESSION_COOKIE]}"  # type: ignore[attr-defined]
            yield schema
    finally:
        asyncio.run(clear_redis_prefix(prefix))
        asyncio.run(drop_database(database))


def test_no_server_errors(api_schema: Any) -> None:
    """Every operation, a few generated cases each; collect every 5xx rather than stop at the first."""
    failures: list[str] = []
    statuses: list[int] = []
    operations = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in EXCLUDED:
            continue
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=6,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            try:
                response = case.call_and_validate(
                    headers={"Cookie": api_schema.cookie},
                    checks=[not_a_server_error, response_schema_conformance],
                    timeout=10,
                )
                statuses.append(response.status_code)
            except AssertionError as e:  # schemathesis reports failed checks as AssertionError subclasses
                failures.append(f"{case.method} {case.formatted_path}: {str(e)[:300]}")

        run()
    assert operations >= 20
    assert failures == []
    # the run reached handlers, not just the validation layer
    assert len(statuses) >= 2 * operations
    assert {200, 400} <= set(statuses)
