"""The soak: the pipeline at a steady rate, the resident memory of every process sampled.

The default suite runs ~30 s (is every process sampled, is the bound computed and met, nothing
lost or doubled); the 5-minute version is ``slow``; the hour is ``alphapulse chaos soak``.
"""

import pytest

from alphapulse.chaos.soak import GrowthBound, run_soak

PROCESSES = {"relay", "writer", "bridge", "collector-binance", "collector-kraken", "chaos (sim + clients)"}


async def test_short_soak_samples_every_process_and_stays_in_bound() -> None:
    r = await run_soak(30, rate=300, interval_s=0.5, warmup_s=10, bound=GrowthBound())
    assert {p.process for p in r.processes} == PROCESSES
    assert all(p.samples >= 40 for p in r.processes), r.processes
    assert all(p.start_mib > 10 for p in r.processes), "RSS readings look wrong"
    assert r.passed, f"soak failed: {r.as_dict()}"
    assert r.trades > 1000 and r.lost == 0 and r.duplicated == 0


@pytest.mark.slow
@pytest.mark.timeout(900)  # 300 s measured, plus the stack's start, the warm-up's settling and the audit
async def test_five_minute_soak_memory_growth_within_bound() -> None:
    r = await run_soak(300, rate=500, interval_s=2.0, warmup_s=60, bound=GrowthBound())
    assert {p.process for p in r.processes} == PROCESSES
    assert r.passed, f"soak failed: {r.as_dict()}"
