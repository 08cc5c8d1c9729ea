"""The Litestar application: routes, dependencies, error handling, OpenAPI, lifespan."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.routes import HTTPRoute

from alphapulse import __version__
from alphapulse.api.auth import SESSION_COOKIE, provide_principal
from alphapulse.api.context import ApiContext, provide_context
from alphapulse.api.db import create_pool, missing_tables
from alphapulse.api.equity import EquitySnapshotter
from alphapulse.api.events import OrderEventConsumer
from alphapulse.api.marketdata import MarketData
from alphapulse.api.metrics import RequestMetricsMiddleware
from alphapulse.api.passwords import PasswordHasher
from alphapulse.api.problems import document_problems, exception_handlers
from alphapulse.api.routes.auth import AuthController, UsersController
from alphapulse.api.routes.backtests import BacktestsController
from alphapulse.api.routes.frontend import frontend_router
from alphapulse.api.routes.market import MarketController, provide_market
from alphapulse.api.routes.orders import FillsController, OrdersController
from alphapulse.api.routes.portfolio import AccountsController
from alphapulse.api.routes.system import config, healthz, readyz
from alphapulse.api.sessions import LoginThrottle, SessionStore
from alphapulse.api.settings import ApiSettings
from alphapulse.clock import Clock, SystemClock
from alphapulse.errors import ConfigError

__all__ = ("create_app", "create_asgi", "openapi_document")

log = logging.getLogger(__name__)

MAX_REQUEST_BODY_BYTES = 65_536  # docs/security.md, "Input size limits"


def _log_task_end(task: "asyncio.Task[Any]") -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("background task %s died", task.get_name(), exc_info=exc)


def create_app(settings: ApiSettings, *, clock: Clock | None = None, hasher: PasswordHasher | None = None) -> Litestar:
    """The application. Start-up connects to PostgreSQL and Redis and fails fast if the schema is missing."""
    clock = clock or SystemClock()

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pool = await create_pool(settings.database_url)
        redis = aioredis.from_url(settings.redis_url)
        tasks: list[asyncio.Task[Any]] = []
        try:
            if missing := await missing_tables(pool):
                raise ConfigError(f"the database lacks tables {', '.join(missing)}: run `alphapulse db migrate` first")
            await redis.ping()
            market = MarketData(
                pool,
                redis,
                prefix=settings.key_prefix,
                quotes_ttl_ms=settings.quotes_cache_ttl_ms,
                candles_ttl_ms=settings.candles_cache_ttl_ms,
            )
            ctx = ApiContext(
                settings=settings,
                pool=pool,
                redis=redis,
                sessions=SessionStore(
                    redis,
                    secret=settings.session_secret,
                    prefix=settings.key_prefix,
                    ttl_s=settings.session_ttl_s,
                    clock=clock,
                ),
                throttle=LoginThrottle(
                    redis,
                    prefix=settings.key_prefix,
                    max_failures=settings.login_max_failures,
                    lockout_s=settings.login_lockout_s,
                    ip_per_minute=settings.login_ip_per_minute,
                    clock=clock,
                ),
                hasher=hasher or PasswordHasher(),
                clock=clock,
                market=market,
            )
            app.state["ctx"] = ctx
            if settings.consume_order_events:
                consumer = OrderEventConsumer(pool, redis, stream=settings.order_events_stream)
                await consumer.ensure_group()
                tasks.append(asyncio.create_task(consumer.run(), name="api.order-events"))
            if settings.equity_snapshot_interval_s > 0:
                snapshotter = EquitySnapshotter(pool, market, interval_s=settings.equity_snapshot_interval_s)
                tasks.append(asyncio.create_task(snapshotter.run(), name="api.equity-snapshots"))
            for task in tasks:
                task.add_done_callback(_log_task_end)
            app.state["tasks"] = tasks
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await redis.aclose()
            await pool.close()

    openapi = OpenAPIConfig(
        title="AlphaPulse API",
        version=__version__,
        description="Market data history, portfolio and paper trading. See docs/api.md.",
        path="/schema",
        render_plugins=[SwaggerRenderPlugin()],
        components=Components(
            security_schemes={
                "session": SecurityScheme(
                    type="apiKey",
                    name=SESSION_COOKIE,
                    security_scheme_in="cookie",
                    description="HttpOnly session cookie set by POST /api/auth/login",
                )
            }
        ),
        security=[{"session": []}],
    )
    app = Litestar(
        route_handlers=[
            AuthController,
            UsersController,
            MarketController,
            AccountsController,
            OrdersController,
            FillsController,
            BacktestsController,
            config,
            healthz,
            readyz,
            frontend_router(settings.frontend_dir),
        ],
        dependencies={
            "ctx": Provide(provide_context, sync_to_thread=False),
            "principal": Provide(provide_principal),
            "market": Provide(provide_market, sync_to_thread=False),
        },
        exception_handlers=exception_handlers,
        openapi_config=openapi,
        lifespan=[lifespan],
        # the largest legitimate body (an account with 50 balances) is ~5 KB; Litestar's default is 10 MB
        request_max_body_size=MAX_REQUEST_BODY_BYTES,
        debug=False,
        # Litestar's default LoggingConfig replaces the root logger's handler with its own text format,
        # so the API's log lines (the access log's fields among them) lost alphapulse.logs' JSON.
        # Errors are logged by our exception handlers (problems.py), not by Litestar.
        logging_config=None,
    )
    secured = {
        (route.path_format, method.lower())
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for handler in route.route_handlers
        if "principal" in handler.parsed_fn_signature.parameters
        for method in handler.http_methods
    }
    document_problems(app.openapi_schema, secured)
    return app


def create_asgi(
    settings: ApiSettings, *, clock: Clock | None = None, hasher: PasswordHasher | None = None
) -> RequestMetricsMiddleware:
    """The application wrapped in the request metrics/access-log layer: what uvicorn serves."""
    return RequestMetricsMiddleware(create_app(settings, clock=clock, hasher=hasher), log_requests=settings.access_log)


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document, without connecting to anything (for client generation)."""
    placeholder = ApiSettings(database_url="", redis_url="", session_secret=b"\0" * 32, bridge_secret=b"\1" * 32)
    return create_app(placeholder).openapi_schema.to_schema()
