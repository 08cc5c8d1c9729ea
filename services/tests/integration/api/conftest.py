"""Fixtures for the API tests: a migrated template database, then a fresh clone and server per test."""

import asyncio
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
import redis.asyncio as aioredis
from api_harness import (
    CHEAP_HASHER,
    OffsetClock,
    RunningApi,
    apply_schema,
    clear_redis_prefix,
    create_database,
    drop_database,
    dsn,
    make_settings,
    new_name,
    serve_api,
)

from alphapulse.api.users import create_user


@pytest.fixture(scope="session")
def template_db() -> Iterator[str]:
    name = new_name("tmpl")

    async def setup() -> None:
        await create_database(name)
        await apply_schema(name)

    asyncio.run(setup())
    try:
        yield name
    finally:
        asyncio.run(drop_database(name))


@pytest.fixture
async def database(template_db: str) -> AsyncIterator[str]:
    name = new_name("test")
    await create_database(name, template=template_db)
    try:
        yield name
    finally:
        await drop_database(name)


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    p = f"aptest:{new_name('r')}:"
    try:
        yield p
    finally:
        await clear_redis_prefix(p)


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    """Override in a test module to change the API's settings."""
    return {}


@pytest.fixture
async def api(database: str, prefix: str, settings_overrides: dict[str, object]) -> AsyncIterator[RunningApi]:
    settings = make_settings(database, prefix, **settings_overrides)
    clock = OffsetClock()
    pool = await asyncpg.create_pool(dsn(database), min_size=1, max_size=3)
    redis = aioredis.from_url(settings.redis_url)
    try:
        async with serve_api(settings, clock) as base_url:
            yield RunningApi(base_url, settings, clock, pool, redis)
    finally:
        await redis.aclose()
        await pool.close()


@pytest.fixture
async def users(api: RunningApi) -> dict[str, int]:
    """One user per role, named for the role, all with the test password."""
    from api_harness import TEST_PASSWORD

    out = {}
    for role in ("admin", "trader", "viewer"):
        user = await create_user(api.pool, CHEAP_HASHER, username=role, password=TEST_PASSWORD, role=role)
        out[role] = user.id
    return out
