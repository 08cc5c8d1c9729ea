"""Flags shared by several verbs, so every service spells them the same way."""

import argparse

from alphapulse.errors import ConfigError
from alphapulse.settings import env, env_int
from alphapulse.timeslice import MAX_SLICE_US, MIN_SLICE_US

__all__ = (
    "add_busy_poll_flag",
    "add_listen_flags",
    "add_relay_flag",
    "add_sock_dir_flag",
    "add_time_slice_flag",
    "parse_host_port",
)


def add_sock_dir_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sock-dir",
        default=None,
        help="socket directory (env ALPHAPULSE_SOCK_DIR; default ./.alphapulse/run; the hostPath on Kubernetes)",
    )


def add_listen_flags(parser: argparse.ArgumentParser, *, default_port: int, what: str = "metrics and /healthz") -> None:
    parser.add_argument("--host", default=env("HOST", "127.0.0.1"), help=f"address for {what} (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=env_int("PORT", default_port), help=f"port for {what} (default {default_port})"
    )


def add_busy_poll_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--busy-poll",
        action="store_true",
        help="never sleep between reads: no wake-up per message and warm caches, for a whole CPU kept busy; "
        "only where the process has a core of its own (docs/performance.md, on dedicated cores)",
    )


def add_time_slice_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--time-slice-us",
        type=int,
        default=env_int("TIME_SLICE_US", 0) or None,
        metavar="US",
        help=f"ask the scheduler for a time slice of US microseconds ({MIN_SLICE_US}-{MAX_SLICE_US}; Linux 6.12+, "
        "no privilege), so the process preempts longer-sliced work when a message wakes it instead of waiting "
        "for the CPU (env ALPHAPULSE_TIME_SLICE_US; default: the kernel's; docs/performance.md)",
    )


def add_relay_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--relay",
        action="append",
        default=None,
        metavar="unix:PATH|tcp:HOST:PORT",
        help="relay endpoint, repeatable (default unix:<sock-dir>/relay.sock)",
    )


def parse_host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "0.0.0.0", int(port)
