"""``/healthz`` (the process answers), ``/readyz`` (database and Redis reachable), ``/api/config``.

``/metrics`` is not here: it is served on a port of its own (``alphapulse api --metrics-port``), so that the
Ingress, which routes every path of the API's port to it, does not publish it (docs/security.md).
"""

import asyncio
from collections.abc import Awaitable

from litestar import Response, get

from alphapulse import __version__
from alphapulse.api.deps import Ctx
from alphapulse.api.schemas import ConfigOut, StatusOut

__all__ = ("config", "healthz", "readyz")

_READY_TIMEOUT_S = 2.0


@get("/api/config", tags=["system"], security=[], summary="Public settings the dashboard needs (bridge URL)")
async def config(ctx: Ctx) -> ConfigOut:
    return ConfigOut(bridge_url=ctx.settings.bridge_url, version=__version__)


@get("/healthz", tags=["system"], security=[], summary="Liveness: the process serves requests")
async def healthz() -> StatusOut:
    return StatusOut(status="ok", checks={})


class UnexpectedReplyError(Exception):
    """The dependency answered, but not what it answers when it is itself (something else on its port)."""


async def _check(name: str, probe: Awaitable[object], expected: object) -> tuple[str, str]:
    try:
        async with asyncio.timeout(_READY_TIMEOUT_S):
            if await probe != expected:
                raise UnexpectedReplyError
    except Exception as e:  # a readiness probe reports every failure, whatever it is
        return name, f"down: {type(e).__name__}"
    return name, "ok"


@get("/readyz", tags=["system"], security=[], summary="Readiness: PostgreSQL and Redis answer")
async def readyz(ctx: Ctx) -> Response[StatusOut]:
    checks = dict(
        await asyncio.gather(
            _check("database", ctx.pool.fetchval("SELECT 1"), 1),
            _check("redis", ctx.redis.ping(), True),  # redis-py maps the reply to `reply == "PONG"`
        )
    )
    ok = all(v == "ok" for v in checks.values())
    return Response(StatusOut(status="ok" if ok else "unavailable", checks=checks), status_code=200 if ok else 503)
