"""``bench e2e --keep-awake``: the spinners run for the whole run, both systems alike, and the report says so."""

import argparse
import os
from typing import Any

import psutil
import pytest

from alphapulse.bench import e2e


def _spinners() -> list[psutil.Process]:
    return [p for p in psutil.Process().children() if any("SCHED_IDLE" in arg for arg in p.cmdline())]


def test_the_cpus_are_kept_awake_for_the_whole_run_and_the_report_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    during: list[psutil.Process] = []

    def run_both_systems(opts: argparse.Namespace) -> dict[str, Any]:
        during.extend(_spinners())
        return {"machine": {}}

    monkeypatch.setattr(e2e, "_run", run_both_systems)
    report = e2e.run(argparse.Namespace(keep_awake=True, peer=False))
    assert report["machine"]["keep_awake"] is True
    assert len(during) == len(os.sched_getaffinity(0))  # one per CPU
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in during)  # gone after the run


def test_left_alone_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(e2e, "_run", lambda opts: {"machine": {"spinners": _spinners()}})
    report = e2e.run(argparse.Namespace(peer=False))
    assert report["machine"]["keep_awake"] is False
    assert report["machine"]["spinners"] == []
