"""``alphapulse api``: serve the application with uvicorn on the caller's event loop."""

import logging
from typing import Any

import uvicorn

from alphapulse.api.app import create_asgi
from alphapulse.api.settings import ApiSettings
from alphapulse.observability import MetricsServer

__all__ = ("serve", "uvicorn_config")

log = logging.getLogger(__name__)


def uvicorn_config(app: Any, settings: ApiSettings, *, host: str = "127.0.0.1", port: int = 0) -> uvicorn.Config:
    """How the API runs under uvicorn; the tests serve through the same config.

    ``trusted_proxies`` decides whose ``X-Forwarded-For`` becomes ``scope["client"]``, the address
    the login limit counts and the access log records. Without it uvicorn's proxy middleware stays
    off: its own default trusts 127.0.0.1 (and ``$FORWARDED_ALLOW_IPS``), which would let a local
    sidecar, or anyone else connecting over loopback, pick its address.
    """
    trusted = list(settings.trusted_proxies)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        log_config=None,  # our logging is configured once per process (alphapulse.logs)
        access_log=False,  # the API logs each request itself, as structured fields
        proxy_headers=bool(trusted),
        # uvicorn takes the right-most X-Forwarded-For entry that is not itself trusted, so a client
        # cannot pick its address by sending the header through a proxy that appends to it.
        forwarded_allow_ips=trusted,
        server_header=False,
        loop="none",  # the caller's loop (uvloop under run_service)
        http="httptools",
    )


async def serve(settings: ApiSettings, *, host: str, port: int, metrics_port: int) -> int:
    """Serve the API on ``port`` and its Prometheus metrics on ``metrics_port`` (0 picks one): a port of their
    own, which the Ingress does not route to, unlike every path of the API's port (docs/security.md)."""
    if settings.trusted_proxies == ("*",):
        log.warning(
            "trusting X-Forwarded-For from every peer: any client that reaches the API directly can pick "
            "the address its logins are counted under (docs/security.md, 'The client address behind the Ingress')"
        )
    elif settings.trusted_proxies:
        log.info("client address from X-Forwarded-For of %s", ", ".join(settings.trusted_proxies))
    server = uvicorn.Server(uvicorn_config(create_asgi(settings), settings, host=host, port=port))
    metrics = MetricsServer(host, metrics_port)
    await metrics.start()
    try:
        # uvicorn installs its own SIGINT/SIGTERM handlers; run_service's cancellation also ends serve().
        await server.serve()
    finally:
        await metrics.close()
    return 0 if server.started else 1
