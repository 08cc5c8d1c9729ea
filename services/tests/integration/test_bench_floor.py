"""``alphapulse bench floor``: one hop's cost on this machine, in the three ways a stage can wait."""

import argparse
import os

from alphapulse.bench import floor


def test_the_floor_measures_each_case_with_real_processes() -> None:
    report = floor.run(argparse.Namespace(messages=200))
    cases = {r["scenario"]: r["latency_ns"] for r in report["results"] if r["system"] == "unix socket hop"}
    expected = set(floor.CASES) if len(os.sched_getaffinity(0)) >= 2 else {"same_cpu"}
    assert set(cases) == expected
    for lat in cases.values():
        # every message arrived and took some time; a one-way hop over a Unix socket is well under a second
        assert lat["count"] == 200
        assert 0 < lat["p50"] <= lat["p99"] < 1_000_000_000


def test_the_floor_times_one_collector_message_hot_and_after_an_idle_millisecond() -> None:
    work = floor.cold_work(n=100)
    assert set(work) == {"hot", "after_idle"}
    for lat in work.values():
        # 100 Kraken trades parsed, framed and written each way (the worker checks every one became a frame)
        assert lat["count"] == 100
        assert 0 < lat["p50"] <= lat["p99"] < 1_000_000_000
    # back to back is faster than one message per idle millisecond can ever be
    assert work["hot"]["per_s"] > 1000 > work["after_idle"]["per_s"] > 0
