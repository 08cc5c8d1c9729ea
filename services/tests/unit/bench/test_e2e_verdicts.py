"""``bench e2e``'s verdicts over repeated runs: the medians are judged, and each win is counted per run."""

import argparse
import math
import os
import threading
import time
from typing import Any

import pytest

from alphapulse.bench import e2e


def _result(
    system: str,
    browser: tuple[float, float, float],
    *,
    rate: float = 1000.0,
    clients: int = 10,
    strategy: tuple[float, float, float] = (100_000, 200_000, 400_000),
    delivered: int = 3000,
) -> dict[str, Any]:
    def hop(p: tuple[float, float, float]) -> dict[str, float]:
        return {"p50": p[0], "p99": p[1], "p999": p[2], "count": 0 if math.isnan(p[0]) else 1000}

    return {
        "system": system,
        "scenario": f"{rate:g} events/s, {clients} clients",
        "rate_events_per_s": rate,
        "clients": clients,
        "trades_to_browsers_per_s": delivered,
        "hops": {"exchange_to_browser": hop(browser), "exchange_to_strategy": hop(strategy)},
    }


def test_the_median_of_each_percentile_leaves_out_runs_without_samples() -> None:
    nan = float("nan")
    runs = [
        _result("alphapulse", (300_000, 900_000, 2_000_000), strategy=(nan, nan, nan), delivered=2990),
        _result("alphapulse", (100_000, 700_000, 9_000_000), strategy=(nan, nan, nan), delivered=3010),
        _result("alphapulse", (200_000, 800_000, 1_000_000), strategy=(nan, nan, nan), delivered=3000),
    ]
    runs[0]["hops"]["exchange_to_browser"]["p999"] = nan  # too few samples for a p99.9 in this one
    med = e2e.median_result(runs)
    assert med["hops"]["exchange_to_browser"] == {"p50": 200_000, "p99": 800_000, "p999": 5_000_000, "count": 3000}
    assert all(math.isnan(med["hops"]["exchange_to_strategy"][q]) for q in ("p50", "p99", "p999"))
    assert med["hops"]["exchange_to_strategy"]["count"] == 0
    assert med["trades_to_browsers_per_s"] == 3000 and med["runs"] == 3
    assert med["system"] == "alphapulse" and med["clients"] == 10


def test_repeated_runs_are_judged_on_medians_and_count_the_runs_won() -> None:
    ours = [(200, 700, 2_000), (210, 900, 1_500), (190, 650, 3_000)]
    peer = [(300, 800, 2_500), (310, 600, 1_000), (290, 620, 2_800)]
    tuned = [(250, 750, 9_000), (260, 760, 9_000), (240, 740, 9_000)]
    runs = [
        (
            _result("alphapulse", o, strategy=(140_000, 290_000, 500_000)),
            [_result("cryptofeed", p), _result("cryptofeed batch_max=1", t)],
        )
        for o, p, t in zip(ours, peer, tuned, strict=True)
    ]
    v = e2e.repeated_verdict(runs)
    assert v["runs"] == 3
    # p50: ours wins all three; p99: ours wins one run (700 < 800 and < 750), and its median (700) loses to the
    # peer's (620); p99.9: ours wins the first run only, but its median (2,000) beats both peers' (2,500, 9,000)
    assert v["vs_peers"]["p50"] == {
        "alphapulse_ns": 200,
        "cryptofeed_ns": 300,
        "cryptofeed batch_max=1_ns": 250,
        "better": True,
        "runs_better": 3,
    }
    assert (v["vs_peers"]["p99"]["better"], v["vs_peers"]["p99"]["runs_better"]) == (False, 1)
    assert (v["vs_peers"]["p999"]["better"], v["vs_peers"]["p999"]["runs_better"]) == (True, 1)
    assert v["targets"]["exchange_to_strategy p50"] == {"measured_ns": 140_000, "target_ns": 150_000, "met": True}
    # both pipelines ran a strategy probe: exchange → strategy is compared too (the peers' 100/200/400 µs win)
    assert v["vs_peers_strategy"]["p50"] == {
        "alphapulse_ns": 140_000,
        "cryptofeed_ns": 100_000,
        "cryptofeed batch_max=1_ns": 100_000,
        "better": False,
        "runs_better": 0,
    }
    assert v["targets"]["exchange_to_browser p99"]["measured_ns"] == 700


def test_one_run_keeps_its_own_verdict() -> None:
    ours, peer = _result("alphapulse", (1, 2, 3)), _result("cryptofeed batch_max=1", (2, 3, 4))
    assert e2e.repeated_verdict([(ours, [peer])]) == e2e.verdict(ours, [peer])
    assert "runs" not in e2e.repeated_verdict([(ours, [peer])])


def test_at_saturation_the_median_delivered_rate_is_compared() -> None:
    sat = e2e.SATURATION
    runs = [
        (
            _result("alphapulse", (1, 1, 1), rate=sat, delivered=d),
            [_result("cryptofeed", (1, 1, 1), rate=sat, delivered=p)],
        )
        for d, p in ((400_000, 250_000), (200_000, 260_000), (380_000, 240_000))
    ]
    v = e2e.repeated_verdict(runs)
    assert v["vs_peers"]["trades_to_browsers_per_s"] == {
        "alphapulse": 380_000,
        "cryptofeed": 250_000,
        "better": True,
        "runs_better": 2,
    }
    assert "targets" not in v


def test_repeat_must_be_positive() -> None:
    parser = argparse.ArgumentParser()
    e2e.add_arguments(parser)
    assert parser.parse_args(["--repeat", "3"]).repeat == 3
    assert parser.parse_args([]).repeat == 1
    with pytest.raises(SystemExit):
        parser.parse_args(["--repeat", "0"])


def test_exchange_to_strategy_is_compared_only_where_every_pipeline_measured_it() -> None:
    ours = _result("alphapulse", (1, 2, 3), strategy=(10, 20, 30))
    peer = _result("cryptofeed batch_max=1", (2, 3, 4), strategy=(11, 19, 31))
    v = e2e.verdict(ours, [peer])
    assert [v["vs_peers_strategy"][q]["better"] for q in ("p50", "p99", "p999")] == [True, False, True]
    del peer["hops"]["exchange_to_strategy"]  # run with --no-probe: neither has the hop to compare
    assert "vs_peers_strategy" not in e2e.verdict(ours, [peer])


def test_the_table_says_each_verdict_in_words() -> None:
    ours = [(200, 700, 2_000), (210, 900, 1_500), (190, 650, 3_000)]
    peer = [(300, 800, 2_500), (310, 600, 1_000), (290, 620, 2_800)]
    runs = [
        (_result("alphapulse", o, strategy=(90_000, 350_000, 300_000)), [_result("cryptofeed batch_max=1", p)])
        for o, p in zip(ours, peer, strict=True)
    ]
    (line,) = e2e.verdict_notes([e2e.repeated_verdict(runs)])
    assert line == (
        "1000 events/s, 10 clients: exchange → browser better than every peer at p50, p99.9, not at p99 "
        "(medians of 3 runs; runs won 3 / 1 / 1); exchange → strategy better than every peer at p50, p99.9, not at "
        "p99 (medians of 3 runs; runs won 3 / 0 / 3); targets met: 3 of 4"
    )
    flat_out = e2e.verdict(
        _result("alphapulse", (1, 2, 3), rate=e2e.SATURATION, delivered=9),
        [_result("cryptofeed", (1, 2, 3), rate=e2e.SATURATION, delivered=10)],
    )
    assert e2e.verdict_notes([flat_out]) == [
        f"{e2e.SATURATION:g} events/s, 10 clients: trades to browsers per second not above every peer's"
    ]


def test_run_queue_wait_is_the_mean_wait_per_time_on_a_cpu() -> None:
    # 3 ms waited over 3 slices in the window: 1,000 µs each
    before = e2e.SchedCounters(on_cpu_ns=0, waited_ns=5_000_000, slices=10, sleeps=0)
    assert e2e.run_queue_wait_us(before, before._replace(waited_ns=8_000_000, slices=13)) == 1000.0
    assert e2e.run_queue_wait_us(before, before) is None  # never ran in the window
    assert e2e.run_queue_wait_us(None, before) is None  # the kernel keeps no schedstat


def test_cpu_per_wake_is_the_cpu_time_over_the_sleeps() -> None:
    # 6 ms on a CPU in the window, over 40 sleeps (and so 40 wakes), preempted twice besides: 150 µs a wake
    before = e2e.SchedCounters(on_cpu_ns=1_000_000, waited_ns=0, slices=100, sleeps=90)
    after = e2e.SchedCounters(on_cpu_ns=7_000_000, waited_ns=0, slices=142, sleeps=130)
    assert e2e.cpu_us_per_wake(before, after) == 150.0
    assert e2e.cpu_us_per_wake(before, before) is None  # never slept in the window
    assert e2e.cpu_us_per_wake(before, None) is None


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="schedstat is Linux's")
def test_sched_counters_read_every_thread_of_a_process() -> None:
    slept, finish = threading.Event(), threading.Event()

    def sleeper() -> None:
        for _ in range(20):
            time.sleep(0.001)  # twenty sleeps of its own accord, each ended by a wake-up
        slept.set()
        finish.wait()

    first = e2e.sched_counters([os.getpid()])
    thread = threading.Thread(target=sleeper)
    thread.start()
    slept.wait()
    counters = e2e.sched_counters([os.getpid()])
    finish.set()
    thread.join()
    assert first is not None and counters is not None
    assert counters.on_cpu_ns > first.on_cpu_ns and counters.slices > first.slices
    assert counters.sleeps - first.sleeps >= 20  # the sleeping thread's count is in the sum
    assert e2e.sched_counters([2**22 + 12345]) is None  # no such process: nothing, not an error


def test_steal_is_the_share_of_the_cpus_time_the_host_took() -> None:
    # /proc/stat's first line: user nice system idle iowait irq softirq steal guest guest_nice
    before = e2e.cpu_time_ticks("cpu  1000 0 200 700 0 0 0 100 50 0\ncpu0 500 0 100 350 0 0 0 50 25 0\n")
    after = e2e.cpu_time_ticks("cpu  1500 0 300 1170 0 0 0 130 80 0\ncpu0 750 0 150 585 0 0 0 65 40 0\n")
    assert before == (2000, 100) and after == (3100, 130)  # guest time is inside user already: not added again
    assert e2e.steal_pct(before, after) == round(100 * 30 / 1100, 2)
    assert e2e.steal_pct(before, before) is None  # no time passed
    assert e2e.steal_pct(None, after) is None
    assert e2e.cpu_time_ticks("intr 1 2 3\n") is None  # not the CPU line
    assert e2e.cpu_time_ticks("cpu  1 2 3\n") is None  # a kernel too old to count steal
    assert e2e.cpu_time_ticks("cpu  a b c d e f g h\n") is None
    live = e2e.cpu_time_ticks()
    assert live is None or live[0] > live[1] >= 0  # this machine's own counters, where it has /proc
