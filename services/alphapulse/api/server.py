"""``alphapulse api``: serve the application with uvicorn on the caller's event loop."""

import logging

import uvicorn

from alphapulse.api.app import create_asgi
from alphapulse.api.settings import ApiSettings

__all__ = ("serve",)

log = logging.getLogger(__name__)


async def serve(settings: ApiSettings, *, host: str, port: int) -> int:
    config = uvicorn.Config(
        create_asgi(settings),
        host=host,
        port=port,
        lifespan="on",
        log_config=None,  # our logging is configured once per process (alphapulse.logs)
        access_log=False,  # the API logs each request itself, as structured fields
        proxy_headers=False,
        server_header=False,
        loop="none",  # the caller's loop (uvloop under run_service)
        http="httptools",
    )
    server = uvicorn.Server(config)
    # uvicorn installs its own SIGINT/SIGTERM handlers; run_service's cancellation also ends serve().
    await server.serve()
    return 0 if server.started else 1
