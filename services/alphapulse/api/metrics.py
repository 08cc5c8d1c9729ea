"""API metrics (docs/metrics.md) and the outermost ASGI layer that counts, times and logs requests.

The layer sits outside Litestar so it sees every response, including routing 404s and errors
turned into problem documents; the route label is Litestar's path template (``/api/orders/{order_id}``),
never the raw path, so label cardinality stays bounded.
"""

import logging
import time
from typing import Any

from prometheus_client import Counter, Histogram

__all__ = (
    "LOGINS",
    "ORDERS_SUBMITTED",
    "ORDER_EVENTS",
    "REQUESTS",
    "REQUEST_SECONDS",
    "RequestMetricsMiddleware",
)

REQUESTS = Counter("alphapulse_api_requests_total", "HTTP requests served", ["method", "route", "status"])
REQUEST_SECONDS = Histogram(
    "alphapulse_api_request_seconds",
    "HTTP request latency, first byte in to last byte out",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
LOGINS = Counter("alphapulse_api_logins_total", "Login attempts by outcome", ["result"])
ORDERS_SUBMITTED = Counter("alphapulse_api_orders_submitted_total", "Order submissions by outcome", ["result"])
ORDER_EVENTS = Counter(
    "alphapulse_api_order_events_total", "Order events consumed from the engine", ["type", "outcome"]
)

access_log = logging.getLogger("alphapulse.api.access")

Scope = dict[str, Any]
Receive = Any
Send = Any


class RequestMetricsMiddleware:
    def __init__(self, app: Any, *, log_requests: bool = True) -> None:
        self.app = app
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed_s = time.perf_counter() - start
            route = scope.get("path_template") or "unmatched"
            method = scope["method"]
            REQUESTS.labels(method=method, route=route, status=str(status)).inc()
            REQUEST_SECONDS.labels(method=method, route=route).observe(elapsed_s)
            if self.log_requests:
                client = scope.get("client")
                access_log.info(
                    "%s %s %d",
                    method,
                    scope["path"],
                    status,
                    extra={
                        "method": method,
                        "path": scope["path"],
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed_s * 1000, 3),
                        "client": client[0] if client else None,
                    },
                )
