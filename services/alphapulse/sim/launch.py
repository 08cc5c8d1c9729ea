"""The body of ``alphapulse sim``: build, start and announce the venue simulators."""

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Any

import orjson

from alphapulse.errors import ConfigError
from alphapulse.sim import simulator
from alphapulse.sim.faults import Fault
from alphapulse.sim.replay import VENUES, ReplaySource
from alphapulse.sim.server import VenueSimulator

__all__ = ("parse_fault", "run_sim")


def parse_fault(spec: str) -> tuple[Fault, float, float]:
    """``stall@10:3`` -> (STALL, after 10 s, lasting 3 s)."""
    kind, _, rest = spec.partition("@")
    after, _, seconds = rest.partition(":")
    try:
        return Fault(kind), float(after or 0), float(seconds or 1)
    except ValueError as e:
        raise ConfigError(
            f"--fault {spec!r}: want KIND@AFTER_S[:SECONDS], KIND one of {', '.join(f.value for f in Fault)}"
        ) from e


def _replay_for(venue: str, path: str, gap: bool, single: bool) -> ReplaySource:
    p = Path(path)
    if p.is_file():
        if not single:
            raise ConfigError("--replay FILE needs one --venue; give a fixtures root for --venue all")
        return ReplaySource.load(p, venue)
    if (p / venue).is_dir():
        p = p / venue
    return ReplaySource.load(p / ("gap_session.jsonl" if gap else "session.jsonl"), venue)


def build(args: argparse.Namespace) -> list[VenueSimulator[Any]]:
    venues = list(VENUES) if args.venue == "all" else [args.venue]
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()] if args.symbols else None
    sims: list[VenueSimulator[Any]] = []
    for k, venue in enumerate(venues):
        kwargs: dict[str, Any] = {
            "host": args.host,
            "port": args.port + k if args.port else 0,
            "rest_port": args.rest_port + k if args.rest_port else 0,
            "rate": args.rate / len(venues),
            "seed": args.seed + k,
            "fixtures_dir": args.fixtures,
            "replay_delay_ms": args.replay_delay_ms,
            "replay_hold_s": args.replay_hold_s,
        }
        if symbols:
            kwargs["symbols"] = symbols
        if args.ping_interval_s is not None:
            kwargs["ping_interval_s"] = args.ping_interval_s or None
        if venue == "coinbase":
            kwargs["subscribe_timeout_s"] = args.subscribe_timeout_s
        if args.replay:
            kwargs["replay"] = _replay_for(venue, args.replay, args.gap, len(venues) == 1)
        try:
            sims.append(simulator(venue, **kwargs))
        except ValueError as e:
            raise ConfigError(str(e)) from e
    return sims


async def _faults(sims: list[VenueSimulator[Any]], specs: list[str]) -> None:
    plan = sorted((parse_fault(s) for s in specs), key=lambda f: f[1])
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for fault, after, seconds in plan:
        await asyncio.sleep(max(0.0, t0 + after - loop.time()))
        for sim in sims:
            with contextlib.suppress(ValueError):  # e.g. a checksum fault on a venue without checksums
                n = sim.inject(fault, seconds=seconds)
                print(
                    orjson.dumps({"venue": sim.venue, "fault": fault.value, "connections": n}).decode(),
                    file=sys.stderr,
                    flush=True,
                )


def _child_argv(args: argparse.Namespace, k: int, venue: str) -> list[str]:
    """The command line of one venue's own process (``--processes``)."""
    argv = [sys.executable, "-m", "alphapulse", "--log-level", getattr(args, "log_level", "INFO")]
    argv += ["sim", "--venue", venue, "--host", args.host]
    argv += ["--rate", repr(args.rate / len(VENUES)), "--seed", str(args.seed + k)]
    argv += ["--port", str(args.port + k if args.port else 0)]
    argv += ["--rest-port", str(args.rest_port + k if args.rest_port else 0)]
    argv += ["--subscribe-timeout-s", repr(args.subscribe_timeout_s)]
    argv += ["--replay-delay-ms", repr(args.replay_delay_ms), "--replay-hold-s", repr(args.replay_hold_s)]
    if args.symbols:
        argv += ["--symbols", args.symbols]
    if args.fixtures:
        argv += ["--fixtures", args.fixtures]
    if args.ping_interval_s is not None:
        argv += ["--ping-interval-s", repr(args.ping_interval_s)]
    if args.replay:
        argv += ["--replay", str(_replay_path(venue, args.replay, args.gap))]
    for spec in args.fault:
        argv += ["--fault", spec]
    return argv


def _replay_path(venue: str, path: str, gap: bool) -> Path:
    p = Path(path)
    if p.is_file():
        raise ConfigError("--replay FILE needs one --venue; give a fixtures root for --venue all")
    if (p / venue).is_dir():
        p = p / venue
    return p / ("gap_session.jsonl" if gap else "session.jsonl")


async def _run_processes(args: argparse.Namespace) -> int:
    """One child process per venue; relay their announcement lines; stop them together."""
    children: list[asyncio.subprocess.Process] = []
    try:
        for k, venue in enumerate(VENUES):
            child = await asyncio.create_subprocess_exec(*_child_argv(args, k, venue), stdout=asyncio.subprocess.PIPE)
            children.append(child)
            assert child.stdout is not None
            line = await child.stdout.readline()
            if not line:
                raise ConfigError(f"the {venue} simulator process exited before it listened")
            sys.stdout.write(line.decode())
            sys.stdout.flush()
        codes = await asyncio.gather(*(c.wait() for c in children))
        return max(codes)
    finally:
        for child in children:
            if child.returncode is None:
                child.send_signal(signal.SIGINT)
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                await child.wait()


async def run_sim(args: argparse.Namespace) -> int:
    for spec in args.fault:
        parse_fault(spec)
    if getattr(args, "processes", False) and args.venue == "all":
        return await _run_processes(args)
    sims = build(args)
    async with contextlib.AsyncExitStack() as stack:
        for sim in sims:
            await stack.enter_async_context(sim)
            sys.stdout.write(orjson.dumps(sim.describe()).decode() + "\n")
        sys.stdout.flush()
        if args.fault:
            await _faults(sims, args.fault)
        await asyncio.Event().wait()
    return 0
