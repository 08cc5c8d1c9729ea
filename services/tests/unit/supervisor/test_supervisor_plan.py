"""The stack plan is data: default processes by available verbs, then a stack file on top."""

import sys
from pathlib import Path

import pytest

from alphapulse.errors import ConfigError
from alphapulse.feeds import load_feeds
from alphapulse.supervisor import StackOptions, build_plan, load_stack_file
from alphapulse.supervisor.process import backoff_s

FEED = """apiVersion: alphapulse.io/v1alpha1
kind: ExchangeFeed
metadata: {name: kraken-spot}
spec: {exchange: kraken, symbols: [BTC-USD]}
"""


def opts(tmp_path: Path, **kw: object) -> StackOptions:
    feed = load_feeds(FEED)[0]
    base: dict[str, object] = {
        "sock_dir": tmp_path / "run",
        "data_dir": tmp_path,
        "feeds": [(feed, tmp_path / "kraken-spot.yaml")],
        "verbs": frozenset({"relay", "collector"}),
    }
    base.update(kw)
    return StackOptions(**base)  # type: ignore[arg-type]


def test_relay_first_then_one_collector_per_feed(tmp_path: Path) -> None:
    plan = build_plan(opts(tmp_path))
    assert [p.name for p in plan] == ["relay", "collector:kraken-spot"]
    assert plan[0].stage < plan[1].stage
    assert plan[1].argv[-6:] == ("--sock-dir", str(tmp_path / "run"), "--host", "127.0.0.1", "--port", "9110")


def test_services_join_when_their_verb_exists_and_they_are_configured(tmp_path: Path) -> None:
    verbs = frozenset({"relay", "collector", "bridge", "api", "writer", "trade"})
    bare = build_plan(opts(tmp_path, verbs=verbs))
    assert "bridge" not in [p.name for p in bare]  # no secret configured: not started with a default one
    env = {
        "ALPHAPULSE_BRIDGE_SECRET": "s",
        "ALPHAPULSE_SESSION_SECRET": "t",
        "DATABASE_URL": "postgresql://x/y",
        "REDIS_URL": "redis://z",
    }
    full = build_plan(opts(tmp_path, verbs=verbs, extra_env=env))
    assert [p.name for p in full] == ["relay", "collector:kraken-spot", "writer", "bridge", "trade", "api"]


def test_stack_file_adds_replaces_and_disables(tmp_path: Path) -> None:
    stack = tmp_path / "stack.yaml"
    stack.write_text(
        "processes:\n"
        "  - {name: collector:kraken-spot, enabled: false}\n"
        "  - {name: relay, env: {ALPHAPULSE_X: '1'}}\n"
        "  - {name: strategy, command: alphapulse trade -f s.yaml, stage: 60, restart: false}\n"
    )
    plan = load_stack_file(stack, build_plan(opts(tmp_path)))
    assert [p.name for p in plan] == ["relay", "strategy"]
    assert plan[0].env["ALPHAPULSE_X"] == "1"
    assert plan[1].argv == (sys.executable, "-m", "alphapulse", "trade", "-f", "s.yaml")
    assert plan[1].restart is False


def test_stack_file_errors_are_clear(tmp_path: Path) -> None:
    stack = tmp_path / "stack.yaml"
    stack.write_text("processes:\n  - {name: mystery}\n")
    with pytest.raises(ConfigError, match="'mystery' is new and needs a 'command'"):
        load_stack_file(stack, [])


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_s(n) for n in range(1, 9)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
