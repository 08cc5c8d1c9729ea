"""``alphapulse bridge``: the live stream to browsers; ``alphapulse bridge token``: a development token."""

import argparse
from typing import Any

from alphapulse.cli._common import (
    add_busy_poll_flag,
    add_listen_flags,
    add_relay_flag,
    add_sock_dir_flag,
    add_time_slice_flag,
)
from alphapulse.settings import env

_DEFAULT_ORIGINS = "http://localhost:5173,http://127.0.0.1:5173"  # the Vite dev server


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "bridge",
        help="serve the live market to browsers over WebSocket",
        description="Consumes the relay and serves browsers on ws://HOST:PORT/ws (JSON; docs/bridge.md), with "
        "/metrics and /healthz on the same port. Needs ALPHAPULSE_BRIDGE_SECRET (the token signing key).",
    )
    add_sock_dir_flag(p)
    add_relay_flag(p)
    add_listen_flags(p, default_port=8765, what="WebSocket /ws, /metrics and /healthz")
    add_busy_poll_flag(p)
    add_time_slice_flag(p)
    p.add_argument(
        "--allowed-origin",
        action="append",
        dest="allowed_origins",
        metavar="ORIGIN",
        help="browser Origin allowed to connect, repeatable; '*' allows any (env ALPHAPULSE_BRIDGE_ALLOWED_ORIGINS, "
        f"comma-separated; default {_DEFAULT_ORIGINS})",
    )
    p.add_argument("--max-clients", type=int, default=1000, help="connections beyond this are refused (1013)")
    p.add_argument(
        "--max-pending",
        type=int,
        default=200,
        help="connections not authenticated yet (each may wait 5 s for its auth message); more are refused "
        "(HTTP 503, or 1013 once upgraded) (default 200)",
    )
    p.add_argument(
        "--max-pending-per-address",
        type=int,
        default=50,
        help="of those, from one client address, so one peer cannot take every slot (default 50)",
    )
    p.add_argument(
        "--trusted-proxies",
        metavar="ADDRESSES",
        help="proxies (IP addresses, CIDR networks, or '*') whose X-Forwarded-For names the client address the "
        "per-address limit counts: the Ingress controller's pods. Default: env ALPHAPULSE_TRUSTED_PROXIES, as the "
        "API's; empty trusts nobody (the TCP peer is the client)",
    )
    p.add_argument("--max-subscriptions", type=int, default=256, help="(symbol, channel) pairs per client")
    p.add_argument(
        "--client-send-buffer-kib",
        type=int,
        default=256,
        help="kernel send buffer per client (SO_SNDBUF): bounds what a client that stopped reading pins and how "
        "late it is noticed (default 256; 0 = the kernel's autotuning, up to ~4 MiB)",
    )
    p.add_argument(
        "--slow-client-timeout-s", type=float, default=10.0, help="disconnect a client not reading for this long"
    )
    p.add_argument(
        "--client-messages-burst", type=int, default=50, help="messages a client may send at once (after auth)"
    )
    p.add_argument(
        "--client-messages-per-s",
        type=float,
        default=10.0,
        help="sustained messages per second per client; beyond it the client is closed with 4029 (0 = no limit)",
    )
    p.set_defaults(handler=run)
    sub = p.add_subparsers(dest="bridge_command", metavar="COMMAND")
    t = sub.add_parser(
        "token",
        help="print a development token",
        description="Prints an HS256 JWT signed with ALPHAPULSE_BRIDGE_SECRET for the bridge's auth message.",
    )
    t.add_argument("--sub", required=True, help="subject (user name)")
    t.add_argument("--role", required=True, choices=("viewer", "trader", "admin"))
    t.add_argument("--ttl-s", type=int, default=300, help="lifetime in seconds (default 300)")
    t.set_defaults(handler=token)


def token(args: argparse.Namespace) -> int:
    import time

    from alphapulse.tokens import issue_token, require_secret

    print(
        issue_token(require_secret(env("BRIDGE_SECRET")), args.sub, args.role, now_s=int(time.time()), ttl_s=args.ttl_s)
    )
    return 0


def run(args: argparse.Namespace) -> int:
    from alphapulse.bridge.core import BridgeLimits
    from alphapulse.bridge.service import BridgeSettings, run_bridge
    from alphapulse.cli._runtime import run_service
    from alphapulse.errors import ConfigError
    from alphapulse.proxies import parse_trusted_proxies
    from alphapulse.settings import relay_socket_path, sock_dir
    from alphapulse.tokens import require_secret

    key = require_secret(env("BRIDGE_SECRET"))
    if args.client_messages_per_s > 0 and args.client_messages_burst < 1:
        raise ConfigError("--client-messages-burst must be at least 1 (or --client-messages-per-s 0: no limit)")
    if args.max_pending < 1 or args.max_pending_per_address < 1:
        raise ConfigError(
            "--max-pending and --max-pending-per-address must be at least 1: every client is pending until it "
            "authenticates"
        )
    if args.trusted_proxies is not None:  # "" on the command line trusts nobody, whatever the environment says
        trusted = parse_trusted_proxies(args.trusted_proxies, source="--trusted-proxies")
    else:
        trusted = parse_trusted_proxies(env("TRUSTED_PROXIES") or "")
    origins = args.allowed_origins or [
        o.strip() for o in (env("BRIDGE_ALLOWED_ORIGINS") or _DEFAULT_ORIGINS).split(",") if o.strip()
    ]
    settings = BridgeSettings(
        relays=args.relay or [f"unix:{relay_socket_path(sock_dir(args.sock_dir))}"],
        key=key,
        host=args.host,
        port=args.port,
        allowed_origins=origins,
        trusted_proxies=trusted,
        limits=BridgeLimits(
            max_clients=args.max_clients,
            max_pending=args.max_pending,
            max_pending_per_address=args.max_pending_per_address,
            client_send_buffer_bytes=max(0, args.client_send_buffer_kib) << 10,
            max_subscriptions=args.max_subscriptions,
            slow_client_timeout_s=args.slow_client_timeout_s,
            client_messages_burst=args.client_messages_burst,
            client_messages_per_s=args.client_messages_per_s,
        ),
    )
    return run_service(lambda: run_bridge(settings), busy_poll=args.busy_poll, time_slice_us=args.time_slice_us)
