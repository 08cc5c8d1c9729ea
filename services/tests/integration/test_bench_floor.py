"""``alphapulse bench floor``: one hop's cost on this machine, in the four ways a stage can wait."""

import argparse
import os

from alphapulse.bench import floor
from alphapulse.timeslice import time_slice_us


def test_the_floor_measures_each_case_with_real_processes() -> None:
    report = floor.run(argparse.Namespace(messages=200))
    cases = {r["scenario"]: r["latency_ns"] for r in report["results"] if r["system"] == "unix socket hop"}
    expected = set(floor.CASES) if len(os.sched_getaffinity(0)) >= 2 else {"same_cpu"}
    if not time_slice_us():  # before Linux 6.12: no slice per thread to shorten
        expected.discard("cross_cpu_beside_busy_short_slice")
    assert set(cases) == expected
    for lat in cases.values():
        # every message arrived and took some time; a one-way hop over a Unix socket is well under a second
        assert lat["count"] == 200
        assert 0 < lat["p50"] <= lat["p99"] < 1_000_000_000


def test_the_floor_times_one_collector_message_hot_after_an_idle_millisecond_and_after_a_neighbour() -> None:
    work = floor.cold_work(n=100)
    assert set(work) == {"hot", "after_idle", "after_neighbour", "after_idle_kept_awake"}
    for lat in work.values():
        # 100 Kraken trades parsed, framed and written each way (the worker checks every one became a frame)
        assert lat["count"] == 100
        assert 0 < lat["p50"] <= lat["p99"] < 1_000_000_000
    # back to back is faster than one message per millisecond, idle or given to the neighbour, can ever be
    assert work["hot"]["per_s"] > 1000 > work["after_idle"]["per_s"] > 0
    assert 1000 > work["after_neighbour"]["per_s"] > 0
    assert 1000 > work["after_idle_kept_awake"]["per_s"] > 0


def _lat(p50: int) -> dict[str, int]:
    return {"p50": p50, "p99": 2 * p50, "count": 10}


def test_the_verdict_says_whether_the_wake_ups_alone_exceed_the_strategy_target() -> None:
    work = {"hot": _lat(5_000), "after_idle": _lat(40_000)}
    slow = floor.verdict(
        {
            "same_cpu": _lat(30_000),
            "cross_cpu": _lat(55_000),
            "cross_cpu_busy_poll": _lat(15_000),
            "cross_cpu_kept_awake": _lat(8_000),
        },
        work,
    )
    assert slow[0].endswith("165 µs of wake-ups alone, above the 150 µs p50 target before any work")
    assert slow[1] == "busy-polling on dedicated cores: 45 µs for the same hops"
    assert slow[2] == "with the CPUs kept from halting (alphapulse keep-awake): 24 µs for the same hops"
    assert (
        slow[3]
        == "a stage's work after an idle millisecond costs 8.0x its hot cost (its caches did not survive the idle time)"
    )
    fast = floor.verdict(
        {"same_cpu": _lat(5_000), "cross_cpu": _lat(20_000), "cross_cpu_busy_poll": None},
        {
            "hot": _lat(5_000),
            "after_idle": _lat(6_000),
            "after_neighbour": _lat(7_500),
            "after_idle_kept_awake": _lat(5_500),
        },
    )
    assert fast == [
        "a trade to a strategy crosses 3 hops: 60 µs of wake-ups alone, "
        "leaving 90 µs of the 150 µs p50 target for the work",
        "a stage's work after an idle millisecond costs 1.2x its hot cost",
        "after a millisecond in which another process ran on its CPU, 1.5x: what each stage pays where the "
        "pipeline's processes share the cores",
        "after an idle millisecond on a CPU kept from halting, 1.1x",
    ]


def test_the_verdict_gives_the_hop_beside_busy_work_with_and_without_a_short_slice() -> None:
    work = {"hot": _lat(5_000), "after_idle": _lat(6_000)}
    hops = {"same_cpu": _lat(5_000), "cross_cpu": _lat(60_000)}
    shared = floor.verdict(
        {**hops, "cross_cpu_beside_busy": _lat(900_000), "cross_cpu_beside_busy_short_slice": _lat(80_000)}, work
    )
    assert "beside a CPU-bound process the hop's p99 is 1800 µs, 160 µs with a 100 µs time slice (--time-slice-us)" in (
        shared
    )
    old_kernel = floor.verdict(
        {**hops, "cross_cpu_beside_busy": _lat(900_000), "cross_cpu_beside_busy_short_slice": None}, work
    )
    assert (
        "beside a CPU-bound process the hop's p99 is 1800 µs (this kernel keeps no time slice per process: "
        "--time-slice-us needs Linux 6.12)"
    ) in old_kernel
