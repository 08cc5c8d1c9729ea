"""``alphapulse bench e2e`` at a tiny scale: every hop is measured and every process accounted for.

The numbers themselves belong to docs/performance.md (speed is never asserted in a test); this
checks that the benchmark measures what it says, end to end, on the real processes.
"""

import argparse
from pathlib import Path

from alphapulse.bench import e2e


def test_bench_e2e_measures_every_hop_and_process(tmp_path: Path) -> None:
    args = argparse.Namespace(
        rates=[300.0], clients=2, duration_s=2.0, warmup_s=1.0, writer=True, peer=False, plot_dir=tmp_path
    )
    report = e2e.run(args)
    (ours,) = report["results"]
    assert ours["system"] == "alphapulse"
    hops = ours["hops"]
    for hop in ("exchange_to_collector", "exchange_to_browser", "collector_to_browser", "exchange_to_strategy"):
        assert hops[hop]["count"] > 0, hop
        assert 0 < hops[hop]["p50"] <= hops[hop]["p99"] <= hops[hop]["p999"], (hop, hops[hop])
    assert ours["relay_frames_per_s"] > 0
    procs = ours["processes"]
    expected = {"sim", "relay", "writer", "bridge", "clients", "strategy-probe"}
    assert expected | {f"collector:{v}" for v in ("kraken", "coinbase", "binance")} <= procs.keys()
    assert all(p["rss_mib"] > 0 for p in procs.values())
    assert (tmp_path / "e2e-latency-300.png").stat().st_size > 0
