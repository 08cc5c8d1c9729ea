"""What the scheduler did with each stage of a pipeline: wake-up → running delays, where and by whom.

``bench e2e --sched-trace`` records two scheduler events from the kernel's tracefs for the measured
window, in a trace instance of its own (the global trace is left alone): ``sched_waking`` (a task is
woken: by whom, on which CPU, and the CPU chosen for it) and ``sched_switch`` (a CPU moves from one task
to another, and whether the one leaving went to sleep or was preempted). :func:`analyze` turns them
into, per process: how long a woken stage waited before it ran (p50/p90/p99), how often it ran on the
CPU of the task that woke it, how long it stayed on a CPU from then until it slept again (its whole
answer to the wake-up, preemptions included; the CPU it used is ``cpu_us_per_wake``), and which
processes woke it. Those are the numbers that say whether a hop's time is the wake-up, the wait for a
CPU, or the work (docs/performance.md, *Where the time goes*). Root only, as tracefs is.

The parsing and the analysis are pure (tested on recorded trace text); :class:`SchedTrace` is the shell
that sets the instance up, reads it and removes it.
"""

import contextlib
import os
import re
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from alphapulse.errors import ConfigError

__all__ = ("TRACEFS", "SchedTrace", "Switch", "Waking", "analyze", "check_available", "parse")

TRACEFS = Path("/sys/kernel/tracing")
EVENTS = ("sched/sched_waking", "sched/sched_switch")
# per CPU: enough for a 10 s window of a saturated pipeline's switches, filtered to its own tasks
BUFFER_KB = 32768
# the kernel takes an event filter of less than a page
_FILTER_MAX_BYTES = 4000
IDLE = "idle"  # a wake-up from an interrupt on an idle CPU (a timer, an IPI): no task woke it
OTHER = "other"  # a task outside the traced processes (a kernel thread, an unrelated process)

# "<comm>-<pid> [(<tgid>)] [<cpu>] <flags> <sec>.<usec>: <event>: <fields>"; a comm may hold spaces and dashes
_LINE = re.compile(
    r"^\s*(?P<comm>.*?)-(?P<tid>\d+)\s+(?:\(\s*[-\d]+\)\s+)?\[(?P<cpu>\d+)\]\s+\S+\s+"
    r"(?P<sec>\d+)\.(?P<usec>\d+):\s+(?P<event>sched_waking|sched_switch):\s+(?P<fields>.*)$"
)
_WAKING = re.compile(r"\bpid=(?P<pid>\d+) prio=-?\d+ target_cpu=(?P<target>\d+)\s*$")
_SWITCH = re.compile(
    r"\bprev_pid=(?P<prev>\d+) prev_prio=-?\d+ prev_state=(?P<state>\S+) ==> "
    r".*\bnext_pid=(?P<next>\d+) next_prio=-?\d+\s*$"
)


class Waking(NamedTuple):
    ts_ns: int
    cpu: int  # where the wake-up ran (the waker's CPU)
    waker: int  # the thread running there (0: the CPU was idle: an interrupt woke the task)
    tid: int  # the thread woken
    target_cpu: int  # where the kernel put it


class Switch(NamedTuple):
    ts_ns: int
    cpu: int
    prev: int  # the thread leaving the CPU
    prev_slept: bool  # False: it was preempted and stays runnable ("R", "R+")
    next: int  # the thread taking the CPU


def parse(lines: Iterable[str]) -> Iterator[Waking | Switch]:
    """The ``sched_waking`` and ``sched_switch`` events of tracefs text output, in its order (time order:
    the ``trace`` file merges the CPUs' buffers); comments and other events are skipped."""
    for line in lines:
        m = _LINE.match(line)
        if m is None:
            continue
        ts_ns = int(m["sec"]) * 1_000_000_000 + int(m["usec"].ljust(9, "0")[:9])
        cpu = int(m["cpu"])
        if m["event"] == "sched_waking":
            w = _WAKING.search(m["fields"])
            if w is not None:
                yield Waking(ts_ns, cpu, int(m["tid"]), int(w["pid"]), int(w["target"]))
        else:
            s = _SWITCH.search(m["fields"])
            if s is not None:
                yield Switch(ts_ns, cpu, int(s["prev"]), not s["state"].startswith("R"), int(s["next"]))


@dataclass
class _Stage:
    waits_ns: list[int] = field(default_factory=list)
    busy_ns: list[int] = field(default_factory=list)
    on_wakers_cpu: int = 0
    unseen: int = 0
    woken_by: dict[str, int] = field(default_factory=dict)


def analyze(events: Iterable[Waking | Switch], names: Mapping[int, str]) -> dict[str, dict[str, Any]]:
    """Per process (``names`` maps each thread id to its process's name; other threads are not reported):

    * ``wakeups``: wake-ups of its threads;
    * ``wake_to_run_us``: from a wake-up to the thread going onto a CPU, p50/p90/p99;
    * ``on_wakers_cpu_pct``: the share of those where it ran on the CPU the wake-up came from (where it
      first waits for the waker to finish what it is doing);
    * ``busy_us``: from going onto a CPU after a wake-up to going to sleep again, preemptions included;
    * ``unseen_pct``: wake-ups after which the thread was next seen already running, its switch onto the
      CPU not in the trace (a wake-up that came while it was still on its CPU, about to sleep; and, on some
      kernels, every switch out of one CPU's idle task goes unrecorded: docs/performance.md), left out of
      the two distributions above;
    * ``woken_by``: the share of wake-ups by each process (``idle``: an interrupt on an idle CPU;
      ``other``: any untraced task; softirq work, such as loopback TCP's receive, counts for the task
      it interrupted, usually the sender).
    """
    woken: dict[int, Waking] = {}
    running_since: dict[int, int] = {}
    stages: dict[str, _Stage] = {}

    def stage(tid: int) -> _Stage:
        return stages.setdefault(names[tid], _Stage())

    def seen_running(tid: int) -> None:
        if woken.pop(tid, None) is not None:
            stage(tid).unseen += 1

    for ev in events:
        if isinstance(ev, Waking):
            seen_running(ev.waker)
            if ev.tid in names and ev.tid not in woken:
                woken[ev.tid] = ev
                waker = IDLE if ev.waker == 0 else names.get(ev.waker, OTHER)
                by = stage(ev.tid).woken_by
                by[waker] = by.get(waker, 0) + 1
            continue
        seen_running(ev.prev)
        if ev.prev in names and ev.prev_slept:
            start = running_since.pop(ev.prev, None)
            if start is not None:
                stage(ev.prev).busy_ns.append(ev.ts_ns - start)
        wake = woken.pop(ev.next, None)
        if wake is None:
            continue
        st = stage(ev.next)
        st.waits_ns.append(ev.ts_ns - wake.ts_ns)
        st.on_wakers_cpu += ev.cpu == wake.cpu
        running_since[ev.next] = ev.ts_ns
    return {name: _summary(st) for name, st in sorted(stages.items()) if st.woken_by}


def _summary(stage: _Stage) -> dict[str, Any]:
    n = sum(stage.woken_by.values())
    seen = len(stage.waits_ns)
    by = sorted(stage.woken_by.items(), key=lambda kv: -kv[1])
    return {
        "wakeups": n,
        "wake_to_run_us": _percentiles_us(stage.waits_ns),
        "on_wakers_cpu_pct": round(100 * stage.on_wakers_cpu / seen, 1) if seen else None,
        "busy_us": _percentiles_us(stage.busy_ns),
        "unseen_pct": round(100 * stage.unseen / n, 1),
        "woken_by": {name: round(100 * count / n, 1) for name, count in by},
    }


def _percentiles_us(values_ns: list[int]) -> dict[str, float] | None:
    if not values_ns:
        return None
    p50, p90, p99 = np.percentile(np.asarray(values_ns, dtype=np.float64), [50, 90, 99]) / 1e3
    return {"p50": round(float(p50), 1), "p90": round(float(p90), 1), "p99": round(float(p99), 1)}


def check_available(root: Path = TRACEFS) -> Path:
    """tracefs, mounted and writable, or a ConfigError that says what is missing. Mounts it where the
    directory exists but nothing is mounted there (as root)."""
    if os.geteuid() != 0:
        raise ConfigError("--sched-trace reads the kernel's tracefs, which only root may: run as root")
    if root == TRACEFS and root.is_dir() and not (root / "instances").is_dir():
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(["mount", "-t", "tracefs", "nodev", str(root)], check=True, capture_output=True, timeout=10)
    if not (root / "instances").is_dir():
        raise ConfigError(f"--sched-trace: no tracefs at {root} (mount -t tracefs nodev {root}; CONFIG_FTRACE)")
    for event in EVENTS:
        if not (root / "events" / event / "enable").exists():
            raise ConfigError(f"--sched-trace: this kernel has no {event} event")
    return root


def threads_of(pids: Mapping[str, int | list[int]]) -> dict[int, str]:
    """Every thread of the named processes (as they are now), by thread id."""
    names = {}
    for name, pid in pids.items():
        for p in pid if isinstance(pid, list) else [pid]:
            with contextlib.suppress(OSError):
                for task in os.listdir(f"/proc/{p}/task"):
                    names[int(task)] = name
    return names


class SchedTrace:
    """Record the named processes' scheduler events between :meth:`start` and :meth:`stop`."""

    def __init__(self, pids: Mapping[str, int | list[int]], root: Path = TRACEFS, buffer_kb: int = BUFFER_KB) -> None:
        self.names = threads_of(pids)
        self.buffer_kb = buffer_kb
        self.instance = root / "instances" / f"alphapulse-{os.getpid()}"

    def start(self) -> "SchedTrace":
        inst = self.instance
        _remove_stale(inst.parent)
        inst.mkdir()
        try:
            (inst / "buffer_size_kb").write_text(str(self.buffer_kb))
            tids = sorted(self.names)
            waking = " || ".join(f"pid == {t}" for t in tids)
            switch = " || ".join(f"prev_pid == {t} || next_pid == {t}" for t in tids)
            if len(switch) < _FILTER_MAX_BYTES:  # filtered in the kernel: only our tasks' events take buffer space
                (inst / "events/sched/sched_waking/filter").write_text(waking)
                (inst / "events/sched/sched_switch/filter").write_text(switch)
            for event in EVENTS:
                (inst / "events" / event / "enable").write_text("1")
            (inst / "tracing_on").write_text("1")
        except BaseException:
            self._remove()
            raise
        return self

    def stop(self) -> dict[str, Any]:
        """Stop recording, analyse, remove the instance: ``processes`` (:func:`analyze`), ``events`` read and
        ``lost_events`` (a buffer that filled up: the percentiles then cover what was kept)."""
        inst = self.instance
        try:
            (inst / "tracing_on").write_text("0")
            lost = 0
            for stats in inst.glob("per_cpu/cpu*/stats"):
                for line in stats.read_text().splitlines():
                    key, _, value = line.partition(":")
                    if key.strip() in {"overrun", "dropped events"}:
                        lost += int(value.split()[0])
            counted = _Counted(_lines(inst / "trace"))
            processes = analyze(parse(counted), self.names)
        finally:
            self._remove()
        return {"processes": processes, "events": counted.n, "lost_events": lost}

    def _remove(self) -> None:
        with contextlib.suppress(OSError):
            (self.instance / "tracing_on").write_text("0")
        with contextlib.suppress(OSError):
            self.instance.rmdir()  # tracefs removes the whole instance, buffers and all


def _remove_stale(instances: Path) -> None:
    """Instances left by a run that died before it could remove its own (its pid is gone), and our own."""
    for inst in instances.glob("alphapulse-*"):
        pid = inst.name.removeprefix("alphapulse-")
        if pid.isdigit() and (int(pid) == os.getpid() or not Path(f"/proc/{pid}").exists()):
            with contextlib.suppress(OSError):
                inst.rmdir()


def _lines(path: Path) -> Iterator[str]:
    with path.open(errors="replace") as f:
        yield from f


class _Counted:
    """An iterable of lines that counts the events among them as they pass."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.lines = lines
        self.n = 0

    def __iter__(self) -> Iterator[str]:
        for line in self.lines:
            if not line.startswith("#"):
                self.n += 1
            yield line
