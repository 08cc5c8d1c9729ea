"""How `bench e2e` keeps idle CPUs from halting: --keep-awake's spinners for the whole run, and a CPU latency limit
the kernel cannot heed, called out."""

import argparse
import contextlib
import os
from pathlib import Path
from typing import Any

import psutil
import pytest

from alphapulse.bench import e2e, floor


def _spinners() -> list[psutil.Process]:
    return [p for p in psutil.Process().children() if any("SCHED_IDLE" in arg for arg in p.cmdline())]


@pytest.fixture(autouse=True)
def no_floor(monkeypatch: pytest.MonkeyPatch) -> list[list[psutil.Process]]:
    """The machine's floor is measured before the spinners start (it measures keep-awake's hop itself)."""
    during_floor: list[list[psutil.Process]] = []

    def measure() -> dict[str, Any]:
        during_floor.append(_spinners())
        return {}

    monkeypatch.setattr(floor, "measure", measure)
    monkeypatch.setattr(floor, "cold_work", dict)
    return during_floor


def test_the_cpus_are_kept_awake_for_the_whole_run_and_the_report_says_so(
    monkeypatch: pytest.MonkeyPatch, no_floor: list[list[psutil.Process]]
) -> None:
    during: list[psutil.Process] = []

    def run_both_systems(opts: argparse.Namespace, machine: dict[str, Any]) -> dict[str, Any]:
        during.extend(_spinners())
        return {"machine": machine}

    monkeypatch.setattr(e2e, "_run", run_both_systems)
    report = e2e.run(argparse.Namespace(keep_awake=True, peer=False))
    assert report["machine"]["keep_awake"] is True
    assert len(during) == len(os.sched_getaffinity(0))  # one per CPU
    assert no_floor == [[]]  # not while the floor was measured
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in during)  # gone after the run


def test_left_alone_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(e2e, "_run", lambda opts, machine: {"machine": {"spinners": _spinners()}})
    report = e2e.run(argparse.Namespace(peer=False))
    assert report["machine"]["keep_awake"] is False
    assert report["machine"]["spinners"] == []


def test_a_cpu_latency_limit_the_kernel_cannot_heed_is_called_out(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # no cpuidle driver: the limit is held (harmlessly) but the report says it did nothing
    monkeypatch.setattr(e2e, "idle_states", lambda: {"driver": "none", "governor": "menu"})
    monkeypatch.setattr(e2e, "cpu_latency_limit", lambda us: contextlib.nullcontext())
    monkeypatch.setattr(e2e, "_run", lambda opts, machine: {"machine": {}, "notes": []})
    report = e2e.run(argparse.Namespace(peer=False, cpu_latency_us=0))
    assert report["notes"] == [e2e.LIMIT_UNHEEDED]
    assert e2e.LIMIT_UNHEEDED in capsys.readouterr().err
    monkeypatch.setattr(e2e, "idle_states", lambda: {"driver": "haltpoll", "governor": "haltpoll"})
    assert e2e.run(argparse.Namespace(peer=False, cpu_latency_us=0))["notes"] == []


def test_a_missing_peer_environment_is_said_not_skipped_in_silence(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[bool] = []

    def run_ours(opts: argparse.Namespace, machine: dict[str, Any]) -> dict[str, Any]:
        seen.append(opts.peer)
        return {"machine": {}, "notes": []}

    monkeypatch.setattr(e2e, "_run", run_ours)
    monkeypatch.setattr(e2e, "CRYPTOFEED_PYTHON", tmp_path / "nowhere" / "python")
    report = e2e.run(argparse.Namespace())
    assert seen == [False]
    [note] = report["notes"]
    assert str(tmp_path / "nowhere" / "python") in note and "make peer" in note
    assert note in capsys.readouterr().err
    assert e2e.run(argparse.Namespace(peer=False))["notes"] == []  # asked for no peer: nothing to say
