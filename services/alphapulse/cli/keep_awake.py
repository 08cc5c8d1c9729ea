"""``alphapulse keep-awake``: keep idle CPUs from halting, so a woken stage finds its CPU running."""

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "keep-awake",
        help="keep idle CPUs from halting (a lowest-priority spinner per CPU), until stopped",
        description="Runs one spinner per CPU under SCHED_IDLE, the lowest scheduling priority, until SIGTERM or "
        "Ctrl-C. A CPU that always has something to run never halts, so a pipeline stage woken on it runs within "
        "microseconds instead of waiting for the host to wake a halted vCPU; any other task preempts the spinner "
        "at once. The same effect as idle=poll or a CPU latency limit of 0, without root, and on kernels with no "
        "cpuidle driver. The price: those CPUs never rest, and tail latencies may rise (docs/performance.md, keeping "
        "idle CPUs awake).",
    )
    p.add_argument(
        "--cpus",
        metavar="LIST",
        help="CPUs to keep awake, e.g. 0-3,6 (default: every CPU this process may use)",
    )
    p.set_defaults(handler=run)


def parse_cpu_list(text: str) -> list[int]:
    """``0-3,6`` -> [0, 1, 2, 3, 6], as the kernel writes CPU lists."""
    from alphapulse.errors import ConfigError

    cpus: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        lo, sep, hi = part.partition("-")
        try:
            first, last = int(lo), int(hi if sep else lo)
        except ValueError:
            raise ConfigError(f"--cpus: {part!r} is not a CPU number or a range like 0-3") from None
        if first < 0 or last < first:
            raise ConfigError(f"--cpus: {part!r} is not a CPU number or a range like 0-3")
        cpus.update(range(first, last + 1))
    return sorted(cpus)


def run(args: argparse.Namespace) -> int:
    import logging
    import signal

    from alphapulse.keepawake import KeepAwake

    log = logging.getLogger("alphapulse.keepawake")
    spinners = KeepAwake(parse_cpu_list(args.cpus) if args.cpus else None)
    spinners.start()  # a signal before the mask below kills us, and PR_SET_PDEATHSIG the spinners
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    log.info("keeping CPUs %s awake: one SCHED_IDLE spinner each; SIGTERM or Ctrl-C stops", spinners.cpus)
    try:
        stop = signal.Signals(signal.sigwait({signal.SIGTERM, signal.SIGINT}))
    finally:
        spinners.stop()
    log.info("stopped on %s", stop.name)
    return 0
