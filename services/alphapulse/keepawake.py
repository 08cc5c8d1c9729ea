"""Keep idle CPUs from halting without root: one lowest-priority spinner per CPU.

Every hop of the pipeline wakes a process that slept since the last message. Where its CPU was
idle the kernel halts it, and on a VM waking a halted vCPU takes the host: 24–73 µs per hop on the
project's VMs. Keeping the vCPUs from halting (the CPU latency limit at 0 with a cpuidle driver that
honours it, or ``idle=poll`` on the kernel command line) took one VM's hop to 4.7 µs, but both need
root or the node's boot configuration, and a kernel without a cpuidle driver halts whatever the
limit says; there, this module took the hop from 50–63 to 23–43 µs (docs/performance.md).

A process under ``SCHED_IDLE`` that never blocks does the same from user space: the CPU always has
something to run, so it never halts; the kernel counts a CPU running only ``SCHED_IDLE`` work as idle
when it places a woken task, and a waking normal task preempts it at once. Any user may put their own
process under ``SCHED_IDLE``. The price is the one ``idle=poll`` has: the CPUs never rest (the host,
and power, see them busy), and on a core with SMT siblings the spinner takes the sibling's execution
units. It is not busy-polling: the stages still sleep and are still woken, only the CPU they are
woken on is awake.
"""

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Iterator

from alphapulse.errors import ConfigError

__all__ = ("SPINNER", "KeepAwake", "keep_awake")

# The spinner's whole program, for ``python -c``: no imports of ours, a few KiB of the interpreter in use.
# PR_SET_PDEATHSIG: a spinner must not outlive whoever started it (a SIGKILLed bench or command).
SPINNER = """
import ctypes, os, signal, sys
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[2]):
    sys.exit(0)  # the parent died before the line above
signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent stops us
os.sched_setaffinity(0, {int(sys.argv[1])})
if sys.argv[3] == "idle":
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
while True:
    pass
"""


class KeepAwake:
    """Spinners on ``cpus`` (default: every CPU this process may use) from ``start()`` to ``stop()``.

    ``sched_idle=False`` leaves them at normal priority: then they are not a way to keep CPUs awake but
    CPU-bound neighbours that compete for the CPUs as any busy process does (``bench e2e --cpu-hog``)."""

    def __init__(self, cpus: Iterable[int] | None = None, *, sched_idle: bool = True) -> None:
        allowed = os.sched_getaffinity(0)
        chosen = sorted(set(cpus) if cpus is not None else allowed)
        if not chosen:
            raise ConfigError("keep-awake needs at least one CPU")
        outside = [c for c in chosen if c not in allowed]
        if outside:
            raise ConfigError(f"CPUs {outside} are not available to this process (allowed: {sorted(allowed)})")
        if not hasattr(os, "SCHED_IDLE"):
            raise ConfigError("keep-awake needs Linux's SCHED_IDLE scheduling policy")
        self.cpus = chosen
        self.policy = "idle" if sched_idle else "normal"
        self.spinners: list[subprocess.Popen[bytes]] = []

    def start(self) -> "KeepAwake":
        parent = str(os.getpid())
        for cpu in self.cpus:
            self.spinners.append(subprocess.Popen([sys.executable, "-c", SPINNER, str(cpu), parent, self.policy]))
        return self

    def stop(self) -> None:
        for p in self.spinners:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGKILL)
        for p in self.spinners:
            p.wait()
        self.spinners.clear()


@contextlib.contextmanager
def keep_awake(
    enabled: bool = True, cpus: Iterable[int] | None = None, *, sched_idle: bool = True
) -> Iterator[KeepAwake | None]:
    """Spinners for the block (none when ``enabled`` is false)."""
    if not enabled:
        yield None
        return
    spinners = KeepAwake(cpus, sched_idle=sched_idle).start()
    try:
        yield spinners
    finally:
        spinners.stop()
