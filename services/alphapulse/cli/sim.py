"""``alphapulse sim``: serve exchange protocols from recorded sessions or a synthetic market."""

import argparse
from typing import Any

__all__ = ("register",)

_VENUES = ("kraken", "coinbase", "binance")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "sim",
        help="exchange simulator: Kraken v2, Coinbase Advanced Trade, Binance spot over WebSocket",
        description=(
            "Serve each venue's exact public market-data protocol on 127.0.0.1 (ports 0 = any free "
            "port). Prints one JSON line per venue: {venue, url, rest_url, ...}. Replays a recorded "
            "session verbatim (--replay) or runs a synthetic market (--rate). Faults: --fault "
            "KIND@AFTER_S[:SECONDS], e.g. --fault drop_connection@5 --fault stall@10:3."
        ),
    )
    p.add_argument("--venue", choices=(*_VENUES, "all"), default="all")
    p.add_argument(
        "--replay",
        metavar="PATH",
        help="a session .jsonl, a venue directory, or (with --venue all) a fixtures root with <venue>/",
    )
    p.add_argument("--gap", action="store_true", help="replay gap_session.jsonl instead of session.jsonl")
    p.add_argument(
        "--rate",
        type=float,
        default=1000.0,
        help="synthetic market events per second, split evenly across venues; each venue's arrive as a Poisson "
        "process of its own",
    )
    p.add_argument("--symbols", help="normalized symbols, comma-separated (default: each venue's three)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="WebSocket port (with --venue all: port, port+1, ...)")
    p.add_argument("--rest-port", type=int, default=0, help="REST port (with --venue all: same scheme)")
    p.add_argument("--fixtures", help="fixtures directory (malformed.jsonl for the malformed fault)")
    p.add_argument("--seed", type=int, default=1, help="seeds the market and its arrival times (venue k: SEED + k)")
    p.add_argument("--ping-interval-s", type=float, default=None, help="Binance protocol ping interval (20)")
    p.add_argument("--subscribe-timeout-s", type=float, default=5.0, help="Coinbase: close if no subscribe")
    p.add_argument("--replay-delay-ms", type=float, default=0.0, help="pace replayed frames (0 = at once)")
    p.add_argument(
        "--replay-hold-s",
        type=float,
        default=0.0,
        help="wait this long after the client's first message before replaying (time for a reader)",
    )
    p.add_argument("--fault", action="append", default=[], metavar="KIND@AFTER_S[:SECONDS]")
    p.add_argument(
        "--processes",
        action="store_true",
        help="with --venue all: run each venue in its own process (uses every core)",
    )
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from alphapulse.cli._runtime import run_service
    from alphapulse.sim.launch import run_sim

    return run_service(lambda: run_sim(args))
