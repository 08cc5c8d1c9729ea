"""``alphapulse up``: the whole local stack under one supervisor."""

import argparse
from typing import Any

from alphapulse.cli._common import add_sock_dir_flag


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "up",
        help="run the local stack (simulator, collectors, relay, writer, bridge, API)",
        description="Starts the relay, one collector per ExchangeFeed in the -f files, and the other services "
        "(writer, bridge, api) under one supervisor that restarts crashed processes with backoff. With no -f, "
        "a local exchange simulator stands in for the three venues. Where DATABASE_URL / REDIS_URL are unset, "
        "embedded PostgreSQL and Redis run under .alphapulse/. Ctrl-C stops everything cleanly. Feed files "
        "are the same YAML that `kubectl apply` takes.",
    )
    p.add_argument("-f", "--file", action="append", default=[], help="ExchangeFeed YAML file (repeatable)")
    add_sock_dir_flag(p)
    p.add_argument("--data-dir", help="local state folder (env ALPHAPULSE_DATA_DIR; default ./.alphapulse)")
    p.add_argument("--stack", help="stack file adding, replacing or disabling processes (see docs/local-stack.md)")
    p.add_argument(
        "--sim",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run the exchange simulator and feeds for it (default: when no -f is given)",
    )
    p.add_argument("--sim-port", type=int, default=19440, help="first simulator port (default 19440)")
    p.add_argument("--sim-rate", type=float, default=200.0, help="simulated market events per second")
    p.add_argument(
        "--embedded",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="start embedded PostgreSQL/Redis where DATABASE_URL/REDIS_URL are unset (default on)",
    )
    p.add_argument("--plan", action="store_true", help="print the processes that would run, and exit")
    p.set_defaults(handler=run)


def _local_secrets(data: Any) -> dict[str, str]:
    """Per-machine development secrets for the bridge and the API, generated once and kept 0600.

    Never a shared default: each machine gets its own random values, and a configured
    ``ALPHAPULSE_*_SECRET`` always wins."""
    import os
    import secrets

    path = data / "secrets.env"
    found: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, _, value = line.partition("=")
            if key and value:
                found[key] = value
    wanted = ("ALPHAPULSE_BRIDGE_SECRET", "ALPHAPULSE_SESSION_SECRET")
    changed = False
    for key in wanted:
        if key not in found:
            found[key] = secrets.token_urlsafe(48)
            changed = True
    if changed:
        data.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("".join(f"{k}={v}\n" for k, v in found.items()))
    return {k: v for k, v in found.items() if k in wanted and k not in os.environ}


def run(args: argparse.Namespace) -> int:
    import contextlib
    import os
    from pathlib import Path

    import yaml

    from alphapulse.cli import build_parser
    from alphapulse.errors import ConfigError
    from alphapulse.feeds import load_feed_file, parse_feed
    from alphapulse.settings import data_dir, sock_dir
    from alphapulse.supervisor import StackOptions, Supervisor, build_plan, load_stack_file
    from alphapulse.supervisor.plan import demo_feeds, inherit_env

    data = data_dir(args.data_dir)
    socks = sock_dir(args.sock_dir) if (args.sock_dir or args.data_dir is None) else data / "run"
    parser = build_parser()
    verbs = frozenset(next(a for a in parser._actions if a.dest == "verb").choices or ())
    use_sim = (not args.file) if args.sim is None else args.sim
    if use_sim and "sim" not in verbs:
        raise ConfigError("--sim needs the simulator (alphapulse sim), which this installation lacks")
    feeds_dir = data / "feeds"
    docs = [d for f in args.file for d in _documents(load_feed_file(f))]
    if use_sim and not args.file:
        docs = [(parse_feed(d, "simulator feeds"), d) for d in demo_feeds(args.sim_port)]
    feeds = []
    for feed, doc in docs:
        feeds_dir.mkdir(parents=True, exist_ok=True)
        path = feeds_dir / f"{feed.name}.yaml"
        path.write_text(yaml.safe_dump(doc))
        feeds.append((feed, path))
    names = [f.name for f, _ in feeds]
    if len(set(names)) != len(names):
        raise ConfigError(f"feed names must be unique across -f files: {names}")

    def plan_for(env: dict[str, str]) -> list[Any]:
        opts = StackOptions(
            sock_dir=socks,
            data_dir=data,
            feeds=feeds,
            verbs=verbs,
            extra_env=env,
            sim_port=args.sim_port if use_sim else 0,
            sim_rate=args.sim_rate,
        )
        plan = build_plan(opts)
        return load_stack_file(Path(args.stack), plan) if args.stack else plan

    base_env = {**inherit_env(), **_local_secrets(data)}
    if args.plan:
        for spec in plan_for({**base_env, "DATABASE_URL": "(embedded)", "REDIS_URL": "(embedded)"}):
            print(f"{spec.stage:>3} {spec.name:<24} {' '.join(spec.argv)}")
        return 0

    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            env = dict(base_env)
            if args.embedded:
                from alphapulse.store.embedded import embedded_defaults

                print("[up] starting embedded servers where DATABASE_URL / REDIS_URL are unset ...", flush=True)
                env.update(await stack.enter_async_context(embedded_defaults(data / "embedded", os.environ)))
            plan = plan_for(env)
            _record_stack_env(data, env, stack)
            print(f"[up] sockets in {socks}; logs in {data / 'logs'}; Ctrl-C stops everything", flush=True)
            if any(p.name == "api" for p in plan):
                print(
                    "[up] dashboard and API: http://127.0.0.1:8000/  (create a user: alphapulse users create)",
                    flush=True,
                )
            await Supervisor(plan, log_dir=data / "logs").run()

    from alphapulse.cli._runtime import run_service

    # SIGINT and SIGTERM both cancel main(): the supervisor then stops every child and the embedded
    # servers in order (and SIGINT works even when a non-interactive shell started us ignoring it)
    run_service(main, use_uvloop=False)  # the supervisor is not a hot path; embedded servers need user= spawns
    print("[up] stopped", flush=True)
    return 0


def _record_stack_env(data: Any, env: dict[str, str], stack: Any) -> None:
    """Let other commands (``users create``, ``db``, ``export``) find this stack's servers while it runs."""
    import os

    from alphapulse.settings import STACK_ENV_FILE

    path = data / STACK_ENV_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"ALPHAPULSE_UP_PID={os.getpid()}\n")
        for key in ("DATABASE_URL", "REDIS_URL"):
            if key in env:
                f.write(f"{key}={env[key]}\n")
    stack.callback(path.unlink, missing_ok=True)


def _documents(feeds: Any) -> list[tuple[Any, dict[str, Any]]]:
    return [
        (
            f,
            {
                "apiVersion": "alphapulse.io/v1alpha1",
                "kind": "ExchangeFeed",
                "metadata": {"name": f.name},
                "spec": f.spec,
            },
        )
        for f in feeds
    ]
