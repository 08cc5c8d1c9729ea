"""``alphapulse chaos``: break the running pipeline on purpose and report what was lost, doubled, slowed."""

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "chaos",
        help="fault scenarios and the soak against real processes",
        description="Starts the pipeline (simulated venues, collectors, relay, writer, bridge; a database of its "
        "own on DATABASE_URL's server, default 127.0.0.1:5432), breaks one thing per scenario under load and "
        "prints what was lost, duplicated, how long recovery took and whether anything else slowed down. "
        "'alphapulse chaos soak --duration-s 3600' runs the soak instead (see docs/reliability.md).",
    )
    p.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="scenario names (default all), or 'soak'")
    p.add_argument("--scale", choices=("small", "large"), default="large", help="load and outage length")
    p.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("--duration-s", type=float, default=3600.0, help="soak: how long (default 3600)")
    p.add_argument("--rate", type=float, default=500.0, help="soak: market events/s per venue (default 500)")
    p.add_argument("--interval-s", type=float, default=5.0, help="soak: RSS sampling interval (default 5)")
    p.add_argument("--warmup-s", type=float, default=None, help="soak: excluded start (default 20%%, ≤ 300 s)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import os

    import orjson

    from alphapulse.chaos.report import render_scenarios, render_soak
    from alphapulse.chaos.scenarios import SCENARIOS, run_scenario
    from alphapulse.chaos.soak import run_soak
    from alphapulse.chaos.stack import DEFAULT_PG, StackOptions
    from alphapulse.errors import ConfigError

    if args.list:
        for s in SCENARIOS.values():
            print(f"{s.name:18} {s.description}")
        return 0
    admin = os.environ.get("DATABASE_URL") or os.environ.get("ALPHAPULSE_TEST_PG") or DEFAULT_PG
    if args.scenarios == ["soak"]:
        soak = asyncio.run(
            run_soak(args.duration_s, rate=args.rate, interval_s=args.interval_s, warmup_s=args.warmup_s)
        )
        print(orjson.dumps(soak.as_dict()).decode() if args.json else render_soak(soak))
        return 0 if soak.passed else 1
    names = args.scenarios or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise ConfigError(f"unknown scenario {', '.join(unknown)}; known: {', '.join(SCENARIOS)}, soak")
    from alphapulse.chaos.scenarios import SCALES

    results = []
    for name in names:
        options = StackOptions(rate=SCALES[args.scale].rate, admin_dsn=admin)
        r = asyncio.run(run_scenario(name, args.scale, options))
        results.append(r)
        if args.json:
            print(orjson.dumps(r.as_dict()).decode(), flush=True)
    if not args.json:
        print(render_scenarios(results))
    return 0 if all(r.passed for r in results) else 1
