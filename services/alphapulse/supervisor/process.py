"""A small process supervisor: start in stages, restart crashed children with backoff, stop cleanly.

Each child's output is prefixed with its name on our stdout and kept in ``<log_dir>/<name>.log``.
"""

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import TextIO

from alphapulse.clock import Clock, SystemClock
from alphapulse.supervisor.plan import ProcessSpec

__all__ = ("Child", "Supervisor", "backoff_s")

log = logging.getLogger(__name__)


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the supervisor dies without stopping us (kill -9),
    so no process of the stack outlives it (Linux prctl PR_SET_PDEATHSIG)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1


def backoff_s(failures: int, initial_s: float = 0.5, cap_s: float = 30.0) -> float:
    """Delay before restart number ``failures`` (1-based): 0.5, 1, 2, 4, ... capped."""
    return float(min(cap_s, initial_s * 2.0 ** max(0, failures - 1)))


@dataclass(slots=True)
class Child:
    spec: ProcessSpec
    state: str = "pending"  # pending, running, backoff, exited, failed, stopped
    pid: int | None = None
    restarts: int = 0
    last_exit: int | None = None
    proc: asyncio.subprocess.Process | None = None
    started_mono_s: float = 0.0


class Supervisor:
    def __init__(
        self,
        specs: Sequence[ProcessSpec],
        *,
        log_dir: Path,
        clock: Clock | None = None,
        out: TextIO | None = None,
        stable_after_s: float = 30.0,
        stop_timeout_s: float = 10.0,
        on_change: Callable[["Supervisor"], None] | None = None,
    ) -> None:
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"process names must be unique: {names}")
        self.children = [Child(s) for s in sorted(specs, key=lambda s: s.stage)]
        self.log_dir = log_dir
        self.clock = clock or SystemClock()
        self.out = out or sys.stdout
        self.stable_after_s = stable_after_s
        self.stop_timeout_s = stop_timeout_s
        self.on_change = on_change
        self._stopping = False

    def is_stopping(self) -> bool:
        return self._stopping

    def status_table(self) -> str:
        rows = [("PROCESS", "STATE", "PID", "RESTARTS", "LAST EXIT")]
        for c in self.children:
            rows.append(
                (
                    c.spec.name,
                    c.state,
                    str(c.pid or "-"),
                    str(c.restarts),
                    "-" if c.last_exit is None else str(c.last_exit),
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        return "\n".join("  ".join(col.ljust(w) for col, w in zip(r, widths, strict=True)) for r in rows)

    def _changed(self, child: Child, note: str = "") -> None:
        self.out.write(f"[up] {child.spec.name}: {child.state}{' ' + note if note else ''}\n")
        self.out.flush()
        if self.on_change:
            self.on_change(self)

    async def run(self) -> None:
        """Start every stage in order and keep children alive until cancelled; then stop them all."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            async with asyncio.TaskGroup() as tg:
                for _, stage in groupby(self.children, key=lambda c: c.spec.stage):
                    started = []
                    for child in stage:
                        started.append(asyncio.Event())
                        tg.create_task(self._keep(child, started[-1]), name=f"up.{child.spec.name}")
                    for ev in started:
                        await ev.wait()
                    await self.clock.sleep(0.3)  # let a stage bind its sockets before the next connects
                self.out.write(self.status_table() + "\n")
                self.out.flush()
        finally:
            await self.stop()

    async def _pump(self, child: Child, stream: asyncio.StreamReader, logfile: TextIO) -> None:
        prefix = f"{child.spec.name} | "
        while line := await stream.readline():
            text = line.decode(errors="replace")
            logfile.write(text)
            logfile.flush()
            self.out.write(prefix + text)
        self.out.flush()

    async def _keep(self, child: Child, started: asyncio.Event) -> None:
        failures = 0
        logpath = self.log_dir / f"{child.spec.name.replace(':', '-')}.log"
        with open(logpath, "a", encoding="utf-8") as logfile:  # noqa: ASYNC230 - once per child, not per line
            while not self.is_stopping():
                try:
                    proc = await asyncio.create_subprocess_exec(
                        *child.spec.argv,
                        env={**os.environ, **child.spec.env, "PYTHONUNBUFFERED": "1"},
                        stdin=asyncio.subprocess.DEVNULL,
                        stdout=asyncio.subprocess.PIPE,
                        stderr=asyncio.subprocess.STDOUT,
                        start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops children in order
                        preexec_fn=_die_with_parent,
                    )
                except OSError as e:
                    child.state, child.last_exit = "failed", None
                    self._changed(child, f"cannot start: {e}")
                    started.set()
                    return
                child.proc, child.pid, child.state = proc, proc.pid, "running"
                child.started_mono_s = self.clock.monotonic_s()
                self._changed(child, f"pid {proc.pid}")
                started.set()
                assert proc.stdout is not None
                await self._pump(child, proc.stdout, logfile)
                code = await proc.wait()
                child.last_exit, child.pid = code, None
                if self.is_stopping():
                    break
                if not child.spec.restart:
                    child.state = "exited" if code == 0 else "failed"
                    self._changed(child, f"exit {code}")
                    return
                ran_s = self.clock.monotonic_s() - child.started_mono_s
                failures = 1 if ran_s >= self.stable_after_s else failures + 1
                delay = backoff_s(failures)
                child.restarts += 1
                child.state = "backoff"
                self._changed(child, f"exit {code}; restarting in {delay:.1f}s (see {logpath})")
                await self.clock.sleep(delay)

    async def stop(self) -> None:
        """SIGTERM every child, latest stage first; SIGKILL what is still alive after the timeout."""
        self._stopping = True
        for child in reversed(self.children):
            proc = child.proc
            if proc is None or proc.returncode is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), self.stop_timeout_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
            child.state, child.last_exit, child.pid = "stopped", proc.returncode, None
            self._changed(child)
