"""``alphapulse api [--host H] [--port P] [--metrics-port M]``: the REST API and the built dashboard."""

import argparse
from typing import Any

__all__ = ("register",)


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "api",
        help="serve the REST API (and the dashboard) over HTTP",
        description="Needs DATABASE_URL, REDIS_URL, ALPHAPULSE_SESSION_SECRET and ALPHAPULSE_BRIDGE_SECRET "
        "(no defaults for secrets). OpenAPI at /schema; see docs/api.md.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="listen port (default 8000; 0 picks one)")
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=9104,
        help="Prometheus /metrics on this port, apart from the API's (default 9104; 0 picks one)",
    )
    parser.add_argument("--frontend-dir", default=None, help="built dashboard folder (default frontend/dist)")
    parser.add_argument(
        "--trusted-proxies",
        default=None,
        metavar="ADDRS",
        help="comma-separated addresses or CIDR networks (e.g. the Ingress controller pods' 10.244.0.0/16) "
        "whose X-Forwarded-For names the client, for the login limit and the access log; '*' trusts every "
        "peer (only when nothing else can reach the API). Default: $ALPHAPULSE_TRUSTED_PROXIES, else "
        "nobody (the TCP peer is the client)",
    )
    parser.add_argument(
        "--no-order-events",
        action="store_true",
        help="do not consume alphapulse:order-events in this process",
    )
    parser.add_argument(
        "--migrate",
        action="store_true",
        help="apply pending database migrations (as `alphapulse db migrate`) before serving",
    )
    parser.add_argument(
        "--openapi",
        action="store_true",
        help="print the OpenAPI document as JSON and exit (no secrets or services needed)",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    if args.openapi:
        import orjson

        from alphapulse.api.app import openapi_document

        print(orjson.dumps(openapi_document(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode())
        return 0

    from alphapulse.api.server import serve
    from alphapulse.api.settings import ApiSettings
    from alphapulse.cli._runtime import run_service
    from alphapulse.proxies import parse_trusted_proxies

    overrides: dict[str, Any] = {}
    if args.frontend_dir:
        overrides["frontend_dir"] = Path(args.frontend_dir)
    if args.trusted_proxies is not None:  # "" on the command line trusts nobody, whatever the environment says
        overrides["trusted_proxies"] = parse_trusted_proxies(args.trusted_proxies, source="--trusted-proxies")
    if args.no_order_events:
        overrides["consume_order_events"] = False
    settings = ApiSettings.from_env(**overrides)  # fails fast on missing secrets, before any I/O

    async def main() -> int:
        if args.migrate:
            import importlib

            from alphapulse.errors import ConfigError

            try:  # the storage issue's runner; imported by name so this verb has no hard dependency
                runner = importlib.import_module("alphapulse.store.migrate")
            except ImportError as e:
                raise ConfigError("--migrate needs alphapulse.store.migrate, absent from this build") from e
            await runner.migrate(settings.database_url)
        return await serve(settings, host=args.host, port=args.port, metrics_port=args.metrics_port)

    return run_service(main)
