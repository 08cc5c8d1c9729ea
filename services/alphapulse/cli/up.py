"""``alphapulse up``: the whole local stack under one supervisor."""

import argparse
from typing import Any

from alphapulse.cli._common import add_sock_dir_flag


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "up",
        help="run the local stack (relay, collectors, and every other service available)",
        description="Starts the relay, one collector per ExchangeFeed in the -f files, and the other services "
        "(writer, bridge, api) where they are installed and configured, under one supervisor that restarts "
        "crashed processes with backoff. Ctrl-C stops everything cleanly. Feed files are the same YAML that "
        "`kubectl apply` takes.",
    )
    p.add_argument("-f", "--file", action="append", default=[], help="ExchangeFeed YAML file (repeatable)")
    add_sock_dir_flag(p)
    p.add_argument("--data-dir", help="local state folder (env ALPHAPULSE_DATA_DIR; default ./.alphapulse)")
    p.add_argument("--stack", help="stack file adding, replacing or disabling processes (see docs/local-stack.md)")
    p.add_argument("--plan", action="store_true", help="print the processes that would run, and exit")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import contextlib
    from pathlib import Path

    import yaml

    from alphapulse.cli import build_parser
    from alphapulse.feeds import load_feed_file
    from alphapulse.settings import data_dir, sock_dir
    from alphapulse.supervisor import StackOptions, Supervisor, build_plan, load_stack_file
    from alphapulse.supervisor.plan import inherit_env

    data = data_dir(args.data_dir)
    socks = sock_dir(args.sock_dir) if (args.sock_dir or args.data_dir is None) else data / "run"
    feeds_dir = data / "feeds"
    feeds = []
    for f in args.file:
        for feed in load_feed_file(f):
            feeds_dir.mkdir(parents=True, exist_ok=True)
            path = feeds_dir / f"{feed.name}.yaml"
            path.write_text(
                yaml.safe_dump(
                    {
                        "apiVersion": "alphapulse.io/v1alpha1",
                        "kind": "ExchangeFeed",
                        "metadata": {"name": feed.name},
                        "spec": feed.spec,
                    }
                )
            )
            feeds.append((feed, path))
    names = [f.name for f, _ in feeds]
    if len(set(names)) != len(names):
        from alphapulse.errors import ConfigError

        raise ConfigError(f"feed names must be unique across -f files: {names}")
    parser = build_parser()
    verbs = frozenset(next(a for a in parser._actions if a.dest == "verb").choices or ())
    opts = StackOptions(sock_dir=socks, data_dir=data, feeds=feeds, verbs=verbs, extra_env=inherit_env())
    plan = build_plan(opts)
    if args.stack:
        plan = load_stack_file(Path(args.stack), plan)
    if args.plan:
        for spec in plan:
            print(f"{spec.stage:>3} {spec.name:<24} {' '.join(spec.argv)}")
        return 0
    if not feeds:
        print("[up] no feed files given (-f FEED.yaml): running without collectors", flush=True)
    supervisor = Supervisor(plan, log_dir=data / "logs")
    print(f"[up] sockets in {socks}; logs in {data / 'logs'}; Ctrl-C stops everything", flush=True)

    async def main() -> None:
        await supervisor.run()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    print("[up] stopped", flush=True)
    return 0
