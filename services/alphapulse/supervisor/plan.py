"""The local stack as data: which processes run, with which command lines and environment.

``build_plan`` is pure: options in, process specs out. A component is part of the default stack
when its ``alphapulse`` verb exists, so services plug in by existing; a stack file (``--stack``)
adds, replaces or disables processes without touching any code.
"""

import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from alphapulse.errors import ConfigError
from alphapulse.feeds import ExchangeFeed

__all__ = ("SIM_VENUES", "ProcessSpec", "StackOptions", "build_plan", "demo_feeds", "load_stack_file")

# the simulator serves its venues on consecutive ports in this order (alphapulse sim --venue all)
SIM_VENUES = (
    ("kraken", "/v2", ("BTC-USD", "ETH-USD", "SOL-USD")),
    ("coinbase", "/", ("BTC-USD", "ETH-USD", "SOL-USD")),
    ("binance", "/stream", ("BTC-USDT", "ETH-USDT", "SOL-USDT")),
)


def demo_feeds(sim_port: int) -> list[dict[str, Any]]:
    """ExchangeFeed documents pointing each venue at the local simulator."""
    docs = []
    for k, (venue, path, symbols) in enumerate(SIM_VENUES):
        spec: dict[str, Any] = {
            "exchange": venue,
            "symbols": list(symbols),
            "url": f"ws://127.0.0.1:{sim_port + k}{path}",
        }
        if venue != "kraken":  # Kraken's instrument metadata comes over its WebSocket
            spec["restUrl"] = f"http://127.0.0.1:{sim_port + 10 + k}"
        docs.append(
            {
                "apiVersion": "alphapulse.io/v1alpha1",
                "kind": "ExchangeFeed",
                "metadata": {"name": f"{venue}-sim"},
                "spec": spec,
            }
        )
    return docs


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    restart: bool = True
    # processes start in order of ``stage``; later stages wait for earlier ones to be running
    stage: int = 50


@dataclass(frozen=True, slots=True)
class StackOptions:
    sock_dir: Path
    data_dir: Path
    feeds: Sequence[tuple[ExchangeFeed, Path]] = ()
    verbs: frozenset[str] = frozenset()
    host: str = "127.0.0.1"
    relay_metrics_port: int = 9101
    collector_metrics_port_base: int = 9110
    extra_env: Mapping[str, str] = field(default_factory=dict)
    python: str = sys.executable
    sim_port: int = 0  # run the exchange simulator (all venues) on sim_port.. (REST on sim_port+10..)
    sim_rate: float = 200.0


def _cli(opts: StackOptions, *args: str) -> tuple[str, ...]:
    return (opts.python, "-m", "alphapulse", *args)


def build_plan(opts: StackOptions) -> list[ProcessSpec]:
    """The default stack for these options."""
    env = {"ALPHAPULSE_SOCK_DIR": str(opts.sock_dir), "ALPHAPULSE_DATA_DIR": str(opts.data_dir), **opts.extra_env}
    sock = ("--sock-dir", str(opts.sock_dir))
    plan = []
    if opts.sim_port and "sim" in opts.verbs:
        plan.append(
            ProcessSpec(
                "sim",
                _cli(
                    opts,
                    "sim",
                    "--venue",
                    "all",
                    "--rate",
                    str(opts.sim_rate),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(opts.sim_port),
                    "--rest-port",
                    str(opts.sim_port + 10),
                ),
                env,
                stage=5,
            )
        )
    plan += [
        ProcessSpec(
            "relay",
            _cli(opts, "relay", *sock, "--host", opts.host, "--port", str(opts.relay_metrics_port)),
            env,
            stage=10,
        )
    ]
    if "collector" in opts.verbs:
        for i, (feed, path) in enumerate(opts.feeds):
            port = str(opts.collector_metrics_port_base + i)
            plan.append(
                ProcessSpec(
                    f"collector:{feed.name}",
                    _cli(opts, "collector", "-f", str(path), *sock, "--host", opts.host, "--port", port),
                    env,
                    stage=20,
                )
            )
    relay = ("--relay", f"unix:{opts.sock_dir / 'relay.sock'}")
    if "writer" in opts.verbs and "DATABASE_URL" in env:
        plan.append(
            ProcessSpec("writer", _cli(opts, "writer", *relay, "--host", opts.host, "--port", "9102"), env, stage=30)
        )
    api_origin = f"http://{opts.host}:8000"
    if "bridge" in opts.verbs and "ALPHAPULSE_BRIDGE_SECRET" in env:
        bridge = _cli(opts, "bridge", *relay, "--host", opts.host, "--port", "8765", "--allowed-origin", api_origin)
        plan.append(ProcessSpec("bridge", bridge, env, stage=30))
    if "trade" in opts.verbs and "REDIS_URL" in env:
        # paper execution of the API's orders (the dashboard's order ticket) against the live feed
        paper = Path(__file__).resolve().parents[1] / "trading" / "examples" / "paper.yaml"
        trade = _cli(opts, "trade", "-f", str(paper), *relay, "--host", opts.host, "--port", "9103")
        plan.append(ProcessSpec("trade", trade, env, stage=30))
    api_needs = {"DATABASE_URL", "REDIS_URL", "ALPHAPULSE_BRIDGE_SECRET", "ALPHAPULSE_SESSION_SECRET"}
    if "api" in opts.verbs and api_needs <= env.keys():
        api = _cli(opts, "api", "--host", opts.host, "--port", "8000", "--metrics-port", "9104", "--migrate")
        plan.append(ProcessSpec("api", api, {"ALPHAPULSE_BRIDGE_URL": f"ws://{opts.host}:8765/ws", **env}, stage=40))
    return plan


def load_stack_file(path: Path, plan: list[ProcessSpec]) -> list[ProcessSpec]:
    """Apply a stack file to a plan.

    ```yaml
    processes:
      - name: my-strategy                  # new process (or replaces one of the same name)
        command: alphapulse trade -f strategy.yaml
        env: {ALPHAPULSE_LOG_LEVEL: DEBUG}
        stage: 60
      - name: bridge
        enabled: false                     # drop a default process
    ```
    """
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read stack file {path}: {e}") from e
    entries = doc.get("processes") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: expected a mapping with a 'processes' list")
    by_name = {p.name: p for p in plan}
    order = [p.name for p in plan]
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ConfigError(f"{path}: processes[{i}] needs a 'name'")
        name = entry["name"]
        if entry.get("enabled", True) is False:
            by_name.pop(name, None)
            continue
        base = by_name.get(name)
        command = entry.get("command")
        if base is None and command is None:
            raise ConfigError(f"{path}: process {name!r} is new and needs a 'command'")
        argv = tuple(shlex.split(command) if isinstance(command, str) else command or base.argv)  # type: ignore[union-attr]
        if argv and argv[0] == "alphapulse":
            argv = (sys.executable, "-m", "alphapulse", *argv[1:])
        merged: dict[str, Any] = {
            **(base.env if base else {}),
            **{str(k): str(v) for k, v in (entry.get("env") or {}).items()},
        }
        spec = ProcessSpec(name, argv, merged, bool(entry.get("restart", True)), int(entry.get("stage", 50)))
        by_name[name] = (
            spec
            if base is None
            else replace(base, argv=argv, env=merged, restart=spec.restart, stage=int(entry.get("stage", base.stage)))
        )
        if name not in order:
            order.append(name)
    return [by_name[n] for n in order if n in by_name]


def inherit_env() -> dict[str, str]:
    """The variables a child should see on top of the supervisor's own environment."""
    return {k: v for k, v in os.environ.items() if k.startswith("ALPHAPULSE_") or k in {"DATABASE_URL", "REDIS_URL"}}
