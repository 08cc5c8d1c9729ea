"""`bench e2e --time-slice-us` and `--cpu-hog`: every pipeline process's threads, ours and the peer's alike, get the
slice, and the outside world (simulator, browsers, writer) keeps the kernel's; a slice the kernel would refuse stops
the run before it starts; the hog competes with the pipeline on its CPUs for the whole run."""

import argparse
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from alphapulse.bench import e2e, floor
from alphapulse.errors import ConfigError
from alphapulse.timeslice import time_slice_us

KERNEL_KEEPS_SLICES = tuple(int(p) for p in platform.release().split(".")[:2]) >= (6, 12)


@pytest.fixture
def processes() -> Iterator[dict[str, int]]:
    """Stand-ins named as the bench names its processes, each with a second thread."""
    program = (
        "import signal, threading; threading.Thread(target=threading.Event().wait, daemon=True).start(); "
        "print(1, flush=True); signal.pause()"  # until the fixture kills it
    )
    names = ["relay", "consumer", "sim", "clients", "writer"]
    procs = [subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE) for _ in names]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline()  # both threads started
    yield {name: p.pid for name, p in zip(names, procs, strict=True)}
    for p in procs:
        p.kill()
        p.wait()
        assert p.stdout is not None
        p.stdout.close()


def _slices(pid: int) -> set[int]:
    return {time_slice_us(int(t.name)) for t in Path(f"/proc/{pid}/task").iterdir()}


def test_the_pipeline_gets_the_slice_and_the_outside_world_does_not(processes: dict[str, int]) -> None:
    default = _slices(processes["sim"])
    if not KERNEL_KEEPS_SLICES:
        with pytest.raises(ConfigError, match=r"needs Linux 6\.12"):
            e2e._shorten_slices(processes, 200)
        return
    e2e._shorten_slices(processes, 200)
    assert _slices(processes["relay"]) == {200}  # ours
    assert _slices(processes["consumer"]) == {200}  # the peer's
    for outside in ("sim", "clients", "writer"):
        assert _slices(processes[outside]) == default != {200}


def test_left_alone_unless_asked(processes: dict[str, int]) -> None:
    before = {name: _slices(pid) for name, pid in processes.items()}
    e2e._shorten_slices(processes, None)
    assert {name: _slices(pid) for name, pid in processes.items()} == before


@pytest.mark.parametrize("us", [50, 200_000])
def test_a_slice_the_kernel_would_not_take_stops_the_run_first(us: int, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []
    monkeypatch.setattr(floor, "measure", lambda: ran.append("floor") or {})
    with pytest.raises(SystemExit, match="the kernel takes 100-100000 µs"):
        e2e.run(argparse.Namespace(time_slice_us=us, peer=False))
    assert ran == []


def test_the_report_says_which_slice_ran(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(floor, "measure", dict)
    monkeypatch.setattr(floor, "cold_work", dict)
    monkeypatch.setattr(e2e, "_run", lambda opts, machine: {"machine": machine})
    if not KERNEL_KEEPS_SLICES:
        with pytest.raises(SystemExit, match=r"needs Linux 6\.12"):
            e2e.run(argparse.Namespace(time_slice_us=300, peer=False))
        return
    report: dict[str, Any] = e2e.run(argparse.Namespace(time_slice_us=300, peer=False))
    assert report["machine"]["time_slice_us"] == 300
    assert e2e.run(argparse.Namespace(peer=False))["machine"]["time_slice_us"] is None


def _hogs() -> list[psutil.Process]:
    return [p for p in psutil.Process().children() if p.cmdline()[-1:] == ["normal"]]


def test_a_cpu_hog_runs_on_the_pipelines_cpus_for_the_whole_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(floor, "measure", lambda: {"hogs": _hogs()})
    monkeypatch.setattr(floor, "cold_work", dict)
    during: list[tuple[int, set[int]]] = []

    def run_both_systems(opts: argparse.Namespace, machine: dict[str, Any]) -> dict[str, Any]:
        hogs = _hogs()
        deadline = time.monotonic() + 10
        while any(len(os.sched_getaffinity(p.pid)) > 1 for p in hogs) and time.monotonic() < deadline:
            time.sleep(0.02)  # each pins itself first thing
        during.extend((p.pid, os.sched_getaffinity(p.pid)) for p in hogs)
        return {"machine": machine}

    monkeypatch.setattr(e2e, "_run", run_both_systems)
    cpus = sorted(os.sched_getaffinity(0))
    report = e2e.run(argparse.Namespace(cpu_hog=True, peer=False))
    assert report["machine"]["hop_floor_ns"]["hogs"] == []  # not while the floor was measured
    assert report["machine"]["cpu_hog"] == cpus == sorted(cpu for _, (cpu,) in during)  # one on each
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid, _ in during)


def test_with_pin_the_outside_worlds_cpu_has_no_hog() -> None:
    assert e2e.hog_cpus([0, 1, 2, 3], pin=True) == [1, 2, 3]
    assert e2e.hog_cpus([0, 1], pin=False) == [0, 1]


def test_a_cpu_hog_beside_a_dedicated_cpu_is_refused() -> None:
    with pytest.raises(SystemExit, match="a dedicated CPU has no neighbours"):
        e2e.run(argparse.Namespace(cpu_hog=True, dedicate=["relay"], peer=False))
