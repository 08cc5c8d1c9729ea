"""What every request handler may need, built once at start-up and kept in ``app.state``."""

from dataclasses import dataclass

import asyncpg
import redis.asyncio as aioredis
from litestar.datastructures import State

from alphapulse.api.marketdata import MarketData
from alphapulse.api.passwords import PasswordHasher
from alphapulse.api.sessions import LoginThrottle, SessionStore
from alphapulse.api.settings import ApiSettings
from alphapulse.clock import Clock

__all__ = ("ApiContext", "provide_context")


@dataclass(slots=True)
class ApiContext:
    settings: ApiSettings
    pool: asyncpg.Pool
    redis: "aioredis.Redis"
    sessions: SessionStore
    throttle: LoginThrottle
    hasher: PasswordHasher
    clock: Clock
    market: MarketData


def provide_context(state: State) -> ApiContext:
    ctx: ApiContext = state["ctx"]
    return ctx
