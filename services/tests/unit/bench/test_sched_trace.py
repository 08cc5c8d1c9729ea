"""The scheduler trace's parser and analysis, on tracefs text as this machine's kernel writes it."""

from pathlib import Path

import pytest

from alphapulse.bench import sched_trace
from alphapulse.bench.sched_trace import Switch, Waking, analyze, check_available, parse
from alphapulse.errors import ConfigError

# recorded here (Linux 6.18), with a few comm spellings added: a comm may hold spaces and dashes
TRACE = (Path(__file__).parent / "sched_trace.txt").read_text()


def test_parse_reads_wakings_and_switches_in_order_whatever_the_comm() -> None:
    assert list(parse(TRACE.splitlines())) == [
        Waking(1621374944000, 1, 0, 19834, 1),
        Waking(1621374980000, 1, 19834, 19875, 1),
        Switch(1621375013000, 1, 19834, True, 0),
        Switch(1621375020000, 0, 0, False, 19875),
        Waking(1621375308000, 0, 19875, 19834, 1),
        Switch(1621375323000, 0, 77, False, 19875),  # "R+": preempted, still runnable
        Switch(1621375400000, 0, 19875, True, 0),  # a trace with the tgid column
    ]  # comments and other events (sched_wakeup) are skipped


US = 1000


def test_analyze_times_each_wake_up_to_its_run_and_the_run_to_its_sleep() -> None:
    names = {1: "sim", 10: "collector", 20: "relay", 21: "relay"}
    events = [
        # the simulator wakes the collector on its own CPU; the collector runs once the simulator sleeps
        Waking(1000 * US, 0, 1, 10, 0),
        Switch(1006 * US, 0, 1, True, 10),
        # the collector wakes the relay onto the other CPU, which was idle
        Waking(1100 * US, 0, 10, 20, 1),
        Switch(1120 * US, 1, 0, False, 20),
        Switch(1130 * US, 1, 20, False, 99),  # preempted by an outsider: still busy
        Switch(1140 * US, 1, 99, True, 20),  # back without a wake-up
        Switch(1150 * US, 0, 10, True, 0),  # the collector sleeps: 144 µs on its CPU
        Switch(1170 * US, 1, 20, True, 0),  # the relay sleeps: 50 µs, the preemption included
        # an interrupt on the idle CPU wakes the relay's other thread, next seen already running (its switch
        # onto the CPU not recorded): no wait is measured for it
        Waking(2000 * US, 1, 0, 21, 1),
        Waking(2050 * US, 1, 21, 10, 1),
        Waking(2060 * US, 1, 21, 99, 1),  # a thread of no traced process: not reported
    ]
    assert analyze(events, names) == {
        "collector": {
            "wakeups": 2,
            "wake_to_run_us": {"p50": 6.0, "p90": 6.0, "p99": 6.0},
            "on_wakers_cpu_pct": 100.0,
            "busy_us": {"p50": 144.0, "p90": 144.0, "p99": 144.0},
            "unseen_pct": 0.0,
            "woken_by": {"sim": 50.0, "relay": 50.0},  # the second is pending when the trace ends
        },
        "relay": {
            "wakeups": 2,
            "wake_to_run_us": {"p50": 20.0, "p90": 20.0, "p99": 20.0},
            "on_wakers_cpu_pct": 0.0,
            "busy_us": {"p50": 50.0, "p90": 50.0, "p99": 50.0},
            "unseen_pct": 50.0,
            "woken_by": {"collector": 50.0, "idle": 50.0},
        },
    }


def test_a_wake_up_while_still_on_the_cpu_does_not_stand_for_the_next_one() -> None:
    """Woken between deciding to sleep and leaving the CPU, a thread never waits; the wait measured for its next
    real wake-up must start at that wake-up, not at the stale one milliseconds before."""
    names = {10: "collector", 1: "sim"}
    events = [
        Waking(1000 * US, 0, 1, 10, 1),  # the collector is still on CPU 1
        Switch(1001 * US, 1, 10, False, 0),  # it leaves runnable: nothing to measure
        Switch(1002 * US, 1, 0, False, 10),
        Switch(1010 * US, 1, 10, True, 0),  # it sleeps
        Waking(5000 * US, 0, 1, 10, 1),
        Switch(5007 * US, 1, 0, False, 10),
    ]
    result = analyze(events, names)["collector"]
    assert result["wake_to_run_us"] == {"p50": 7.0, "p90": 7.0, "p99": 7.0}
    assert result["unseen_pct"] == 50.0


def test_tracing_needs_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sched_trace.os, "geteuid", lambda: 1000)
    with pytest.raises(ConfigError, match="only root"):
        check_available()


def test_tracing_needs_tracefs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sched_trace.os, "geteuid", lambda: 0)
    with pytest.raises(ConfigError, match="no tracefs at"):
        check_available(tmp_path)
    (tmp_path / "instances").mkdir()
    with pytest.raises(ConfigError, match="no sched/sched_waking event"):
        check_available(tmp_path)
