"""``alphapulse keep-awake``: a SCHED_IDLE spinner per CPU, pinned, gone when it stops or its parent dies."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import psutil
import pytest

from alphapulse.cli.keep_awake import parse_cpu_list
from alphapulse.errors import ConfigError
from alphapulse.keepawake import KeepAwake, keep_awake

FIRST_CPU = min(os.sched_getaffinity(0))  # CPU 0 need not be ours (a container's cpuset)


def _until(condition: Callable[[], object], what: str, timeout_s: float = 10.0) -> None:
    """Wait for something another process does on its own time (the spinners start and die asynchronously)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {timeout_s:.0f} s"
        time.sleep(0.02)


def _spinning(pid: int) -> None:
    # it takes SCHED_IDLE first thing, then spins
    _until(lambda: os.sched_getscheduler(pid) == os.SCHED_IDLE, f"spinner {pid} took SCHED_IDLE")


def _gone(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def test_one_spinner_per_cpu_pinned_at_the_lowest_priority_and_stopped_on_exit() -> None:
    cpus = sorted(os.sched_getaffinity(0))
    with keep_awake(cpus=cpus) as spinners:
        assert spinners is not None
        pids = [p.pid for p in spinners.spinners]
        assert len(pids) == len(cpus)
        for pid, cpu in zip(pids, cpus, strict=True):
            _spinning(pid)
            assert os.sched_getaffinity(pid) == {cpu}

        # they spin: CPU time accrues whenever nothing else asks for a CPU
        def used() -> float:
            return float(sum(psutil.Process(pid).cpu_times().user for pid in pids))

        before = used()
        _until(lambda: used() > before, "the spinners got CPU time")
    _until(lambda: all(_gone(pid) for pid in pids), "the spinners were stopped")


def test_disabled_it_starts_nothing() -> None:
    with keep_awake(False) as spinners:
        assert spinners is None


def test_at_normal_priority_they_are_cpu_bound_neighbours() -> None:
    # bench e2e --cpu-hog: the same spinners competing for the CPU as any busy process does
    with keep_awake(cpus=[FIRST_CPU], sched_idle=False) as hogs:
        assert hogs is not None
        (pid,) = [p.pid for p in hogs.spinners]
        _until(lambda: os.sched_getaffinity(pid) == {FIRST_CPU}, "the hog pinned itself")
        before = psutil.Process(pid).cpu_times().user
        _until(lambda: psutil.Process(pid).cpu_times().user > before + 0.05, "the hog spun")
        assert os.sched_getscheduler(pid) == os.SCHED_OTHER
    _until(lambda: _gone(pid), "the hog was stopped")


def test_cpus_it_may_not_use_are_refused_by_name() -> None:
    missing = max(os.sched_getaffinity(0)) + 1
    with pytest.raises(ConfigError, match=rf"CPUs \[{missing}\] are not available"):
        KeepAwake([missing])


def test_the_spinners_die_with_whoever_started_them() -> None:
    # a parent killed with SIGKILL cannot stop them: PR_SET_PDEATHSIG does
    code = (
        "import signal\n"
        "from alphapulse.keepawake import KeepAwake\n"
        f"k = KeepAwake([{FIRST_CPU}]).start()\n"
        "print(k.spinners[0].pid, flush=True)\n"
        "signal.pause()\n"  # until the test kills it
    )
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as parent:
        try:
            assert parent.stdout is not None
            spinner = int(parent.stdout.readline())
            _spinning(spinner)
            parent.kill()
            parent.wait(10)
            _until(lambda: _gone(spinner), "the spinner died with its parent")
        finally:
            parent.kill()


def test_the_command_spins_until_sigterm_and_leaves_nothing_behind() -> None:
    argv = [sys.executable, "-m", "alphapulse", "keep-awake", "--cpus", str(FIRST_CPU)]
    with subprocess.Popen(argv, stderr=subprocess.PIPE, text=True) as proc:
        try:
            command = psutil.Process(proc.pid)
            _until(command.children, "keep-awake started a spinner", timeout_s=20)
            (spinner,) = command.children()
            _spinning(spinner.pid)
            assert os.sched_getaffinity(spinner.pid) == {FIRST_CPU}
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0
            _until(lambda: _gone(spinner.pid), "the spinner was stopped")
            assert proc.stderr is not None
            err = proc.stderr.read()
            assert f"keeping CPUs [{FIRST_CPU}] awake" in err
            assert "stopped on SIGTERM" in err
        finally:
            proc.kill()


def test_cpu_lists_are_read_as_the_kernel_writes_them() -> None:
    assert parse_cpu_list("0-3,6") == [0, 1, 2, 3, 6]
    assert parse_cpu_list("2, 0") == [0, 2]
    for bad in ("a", "3-1", "-1", "1-"):
        with pytest.raises(ConfigError, match="not a CPU number or a range"):
            parse_cpu_list(bad)
