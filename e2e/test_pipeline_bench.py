"""``alphapulse bench e2e`` at a tiny scale: every hop is measured and every process accounted for.

The numbers themselves belong to docs/performance.md (speed is never asserted in a test); this
checks that the benchmark measures what it says, end to end, on the real processes.
"""

import argparse
import os
from pathlib import Path

import numpy as np
import pytest

from alphapulse.bench import e2e

VENUES = {"kraken", "coinbase", "binance"}


def test_bench_e2e_measures_every_hop_and_process(tmp_path: Path) -> None:
    args = argparse.Namespace(
        rates=[300.0],
        clients=[2],
        duration_s=2.0,
        warmup_s=1.0,
        writer=True,
        peer=False,
        feed_tap=True,
        plot_dir=tmp_path,
    )
    report = e2e.run(args)
    (ours,) = report["results"]
    assert ours["system"] == "alphapulse"
    assert set(ours["trades_to_browsers_by_venue"]) == VENUES
    floor = report["machine"]["hop_floor_ns"]
    assert report["machine"]["cpu_latency_us"] is None  # not asked for: the kernel's limit is left alone
    assert report["machine"]["keep_awake"] is False  # nor were the CPUs kept from halting
    assert 0 < floor["same_cpu"]["p50"] <= floor["same_cpu"]["p99"]
    cold = report["machine"]["cold_work_ns"]
    assert cold["hot"]["p50"] > 0
    assert cold["after_idle"]["p50"] > 0
    assert cold["after_neighbour"]["p50"] > 0
    hops = ours["hops"]
    for hop in (
        "exchange_to_collector",
        "exchange_to_browser",
        "exchange_to_browser_socket",
        "collector_to_browser",
        "exchange_to_strategy",
        "collector_to_strategy",
        "strategy_to_browser",
        "collector_to_feed_tap",
        "feed_tap_to_strategy",
        "exchange_to_trading_node",
        "collector_to_trading_node",
        "trading_node_read_to_strategy",
        "strategy_probe_to_trading_node",
    ):
        assert hops[hop]["count"] > 0, hop
        assert hops[hop]["p50"] <= hops[hop]["p99"] <= hops[hop]["p999"], (hop, hops[hop])
    # the kernel's receive time of the bytes comes before the client process reads them
    assert 0 < hops["exchange_to_browser_socket"]["p50"] <= hops["exchange_to_browser"]["p50"]
    # the trades browsers got are matched to the strategy probe's copies (both subscribe to all nine symbols;
    # only those at the edges of the two windows, which open and close a moment apart, can be missing)
    assert hops["strategy_to_browser"]["count"] >= 0.8 * hops["collector_to_browser"]["count"]
    # the NautilusTrader strategy subscribes to the same nine symbols: it sees the trades the probe sees
    assert ours["trades_to_trading_node_per_s"] >= 0.8 * ours["trades_to_strategy_per_s"] > 0
    assert hops["strategy_probe_to_trading_node"]["count"] >= 0.8 * hops["exchange_to_trading_node"]["count"]
    assert ours["relay_frames_per_s"] > 0 and ours["relay_dropped_frames"] == 0
    procs = ours["processes"]
    expected = {"sim", "relay", "writer", "postgres", "bridge", "clients", "strategy-probe", "feed-tap", "trade"}
    assert expected | {f"collector:{v}" for v in ("kraken", "coinbase", "binance")} <= procs.keys()
    assert all(p["rss_mib"] > 0 for p in procs.values()), {name: p["rss_mib"] for name, p in procs.items()}
    if Path("/proc/self/task").is_dir():  # Linux keeps the run-queue wait per thread (schedstat)
        waits = {name: procs[name]["run_queue_wait_us"] for name in ("relay", "bridge", "collector:kraken")}
        assert all(isinstance(w, float) and w >= 0 for w in waits.values()), waits
        per_wake = {name: procs[name]["cpu_us_per_wake"] for name in ("relay", "bridge", "collector:kraken")}
        assert all(isinstance(c, float) and c > 0 for c in per_wake.values()), per_wake
    if Path("/proc/stat").is_file():  # the host's share of the window: 0 on bare metal, a few % on a busy host
        assert isinstance(ours["steal_pct"], float) and 0 <= ours["steal_pct"] < 100, ours["steal_pct"]
    (verdict,) = report["verdicts"]
    assert (
        set(verdict["targets"])
        == {
            "exchange_to_strategy p50",
            "exchange_to_strategy p99",
            "exchange_to_trading_node p50",
            "exchange_to_trading_node p99",
            "exchange_to_browser p50",
            "exchange_to_browser p99",
        }
        or verdict["targets"] == {}
    )  # targets are defined for 10 and 100 clients only
    assert (tmp_path / e2e.plot_name(300.0, 2)).stat().st_size > 0


def test_bench_e2e_without_the_probe_feeds_the_bridge_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--no-probe (like for like with the peer's one consumer): no strategy probe runs beside the bridge, and no
    exchange → strategy hop is claimed. With --sched-trace, who woke whom along the way."""
    args = argparse.Namespace(
        rates=[300.0], clients=[2], duration_s=1.0, warmup_s=1.0, writer=False, peer=False, trading_node=False,
        probe=False, sched_trace=True,
    )  # fmt: skip
    report = e2e.run(args)
    progress = capsys.readouterr().err  # one line per step on stderr, what was measured after each
    assert "bench e2e: [1/1] alphapulse, 300 events/s, 2 clients" in progress
    assert "exchange → browser p50 / p99 / p99.9" in progress and "exchange → strategy" not in progress
    (ours,) = report["results"]
    assert set(ours["trades_to_browsers_by_venue"]) == VENUES
    assert ours["trades_to_strategy_per_s"] is None
    assert "strategy-probe" not in ours["processes"] and "bridge" in ours["processes"]
    assert set(ours["hops"]) == {
        "exchange_to_collector", "exchange_to_browser", "exchange_to_browser_socket", "collector_to_browser"
    }  # fmt: skip
    assert ours["hops"]["exchange_to_browser"]["count"] > 0
    assert ours["sched_trace"]["events"] > 0 and ours["sched_trace"]["lost_events"] == 0
    sched = {name: p["sched"] for name, p in ours["processes"].items()}
    # each stage is woken by the one before it: the venue's writes, the collectors' cells, the relay's
    assert max(sched["collector:kraken"]["woken_by"], key=sched["collector:kraken"]["woken_by"].get) == "sim"
    assert set(sched["relay"]["woken_by"]) >= {f"collector:{v}" for v in VENUES}
    assert max(sched["bridge"]["woken_by"], key=sched["bridge"]["woken_by"].get) == "relay"
    assert max(sched["clients"]["woken_by"], key=sched["clients"]["woken_by"].get) == "bridge"


def test_bench_e2e_dedicates_a_cpu_to_the_busy_polling_relay(tmp_path: Path) -> None:
    """--dedicate relay --busy-poll: the relay alone on the last CPU, spinning there, everything else on the rest;
    the pipeline still delivers every venue's trades."""
    args = argparse.Namespace(
        rates=[300.0], clients=[2], duration_s=1.0, warmup_s=1.0, writer=False, peer=False, trading_node=False,
        dedicate=["relay"], busy_poll=True,
    )  # fmt: skip
    report = e2e.run(args)
    (ours,) = report["results"]
    assert set(ours["trades_to_browsers_by_venue"]) == VENUES
    assert ours["busy_polling"] == ["relay"]
    cpus = sorted(os.sched_getaffinity(0))
    assert ours["cpus"]["relay"] == cpus[-1:]
    assert all(where == cpus[:-1] for name, where in ours["cpus"].items() if name != "relay")
    # at 300 events/s a sleeping relay uses a few % of a CPU (docs/performance.md); a spinning one all of its own
    assert ours["processes"]["relay"]["cpu_pct"] > 50


def test_busy_polling_needs_a_dedicated_cpu() -> None:
    with pytest.raises(SystemExit, match="--busy-poll needs --dedicate"):
        e2e.run(argparse.Namespace(busy_poll=True))


def test_hops_match_the_same_trade_across_readers() -> None:
    """Reader-to-reader hops pair each trade by (symbol, trade id), whatever order the readers saw them in."""
    k = np.array([e2e.trade_key(7, 1), e2e.trade_key(7, 2), e2e.trade_key(9, 1)], dtype=np.uint64)
    probe = {
        "key": k,
        "t_user": np.array([1_100, 2_100, 3_100]),
        "ts_exchange": np.array([900, 1_900, 2_900]),
        "ts_recv": np.array([1_000, 2_000, 3_000]),
        "fine": np.array([True, True, False]),
    }
    order = [2, 0, 1]
    browsers = {
        "key": np.concatenate([k[order], np.array([e2e.trade_key(5, 5)], dtype=np.uint64)]),  # one the probe missed
        "t_user": np.array([3_500, 1_400, 2_300, 9_000]),
        "t_kernel": np.array([3_400, 1_300, 2_200, 8_900]),
        "ts_exchange": np.array([2_900, 900, 1_900, 8_000]),
        "ts_recv": np.array([3_000, 1_000, 2_000, 8_500]),
        "fine": np.array([False, True, True, True]),
    }
    hops = e2e.hop_samples(browsers, probe)
    assert sorted(hops["strategy_to_browser"].tolist()) == [200, 300, 400]
    assert sorted(hops["exchange_to_strategy"].tolist()) == [200, 200]
    assert sorted(hops["exchange_to_browser_socket"].tolist()) == [300, 400, 900]
    assert e2e.trade_key(7, 1) != e2e.trade_key(9, 1) != e2e.trade_key(7, 2)
    node = {
        "key": np.array([e2e.trade_key(9, 1), e2e.trade_key(7, 1)], dtype=np.uint64),
        "t_user": np.array([3_300, 1_250]),
        "ts_node_read": np.array([3_200, 1_150]),
        "ts_exchange": np.array([2_900, 900]),
        "fine": np.array([False, True]),
    }
    hops = e2e.hop_samples(browsers, probe, node=node)
    assert hops["exchange_to_trading_node"].tolist() == [350]
    assert sorted(hops["trading_node_read_to_strategy"].tolist()) == [100, 100]
    assert sorted(hops["collector_to_trading_node"].tolist()) == [250, 300]
    assert sorted(hops["strategy_probe_to_trading_node"].tolist()) == [150, 200]


def test_the_peer_takes_every_venue_and_runs_pinned(tmp_path: Path) -> None:
    """The cryptofeed pipeline gets the same venues and channels as ours: trades of all three reach its browsers
    (its Binance connection once went to a wrong path and the comparison ran on two venues unnoticed)."""
    where = e2e.CRYPTOFEED_PYTHON
    assert where.exists(), f"the peer's environment is missing: run `make peer` ({where})"
    opts = argparse.Namespace(duration_s=2.0, warmup_s=1.0, pin=True)
    peer, samples = e2e._cryptofeed(300.0, 2, opts, tmp_path, batch_max=1)
    assert set(peer["trades_to_browsers_by_venue"]) == VENUES, peer["trades_to_browsers_by_venue"]
    assert peer["hops"]["exchange_to_browser"]["count"] > 0
    assert samples["exchange_to_browser"].size == peer["latency_ns"]["count"]
    outside, pipeline = peer["cpus"]["sim"], peer["cpus"]["cryptofeed"]
    assert peer["cpus"]["clients"] == outside and peer["cpus"]["consumer"] == pipeline
    # its strategy probe (a second TradeZMQ to a SUB of its own, as ours reads the relay) gets the same trades
    assert peer["cpus"]["strategy-probe"] == pipeline and peer["trades_to_strategy_per_s"] > 0
    assert peer["hops"]["exchange_to_strategy"]["count"] > 0
    assert peer["hops"]["strategy_to_browser"]["count"] >= 0.8 * peer["hops"]["collector_to_browser"]["count"]
    assert not set(outside) & set(pipeline)


def test_pinning_puts_the_outside_world_on_one_cpu_and_the_pipeline_on_the_rest() -> None:
    names = ["sim", "clients", "writer", "relay", "bridge", "collector:kraken", "strategy-probe"]
    layout = e2e.pin_layout(names, [0, 1, 2, 3])
    assert all(layout[n] == [0] for n in ("sim", "clients", "writer"))
    assert all(layout[n] == [1, 2, 3] for n in names if n not in e2e.OUTSIDE_PROCESSES)
    with pytest.raises(SystemExit, match="at least two CPUs"):
        e2e.pin_layout(names, [3])


def test_dedicated_processes_get_a_cpu_each_from_the_last_one_down() -> None:
    names = ["sim", "clients", "relay", "bridge", "collector:kraken"]
    layout = e2e.pin_layout(names, [0, 1, 2, 3], pin=False, dedicated=["relay", "bridge"])
    assert (layout["relay"], layout["bridge"]) == ([3], [2])
    assert all(layout[n] == [0, 1] for n in ("sim", "clients", "collector:kraken"))
    pinned = e2e.pin_layout(names, [0, 1, 2, 3], dedicated=["relay"])  # with --pin: outside apart from the rest
    assert pinned["relay"] == [3] and pinned["sim"] == [0] and pinned["collector:kraken"] == [1, 2]
    with pytest.raises(SystemExit, match="need 3 CPUs"):
        e2e.pin_layout(names, [0, 1], pin=False, dedicated=["relay", "bridge"])
    with pytest.raises(SystemExit, match="besides the dedicated ones"):
        e2e.pin_layout(names, [0, 1], dedicated=["relay"])


def test_bench_e2e_spreads_the_clients_over_several_bridges(tmp_path: Path) -> None:
    """--bridges 2: two bridge processes, the clients split between them as a load balancer would, every
    client still getting every venue's trades."""
    args = argparse.Namespace(
        rates=[300.0], clients=[4], duration_s=1.0, warmup_s=1.0, writer=False, peer=False, trading_node=False,
        probe=False, bridges=2,
    )  # fmt: skip
    report = e2e.run(args)
    (ours,) = report["results"]
    assert ours["clients_per_bridge"] == {"bridge": 2, "bridge:2": 2}
    assert {"bridge", "bridge:2"} <= ours["processes"].keys()
    assert set(ours["trades_to_browsers_by_venue"]) == VENUES
    assert ours["browser_disconnects"] == 0


def test_several_bridges_are_ours_alone() -> None:
    with pytest.raises(SystemExit, match="--bridges needs --no-peer"):
        e2e.run(argparse.Namespace(bridges=2))
