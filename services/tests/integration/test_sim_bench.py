"""The generator benchmark runs end to end (numbers are reported, never asserted)."""

import pytest

from alphapulse.sim.bench import run_bench


@pytest.mark.bench
async def test_generator_bench_reports_rates() -> None:
    result = await run_bench(seconds=1.0, rate=300_000)
    assert result["bench"] == "sim-generator"
    assert [v["venue"] for v in result["venues"]] == ["kraken", "coinbase", "binance"]
    assert all(v["messages_per_s"] > 0 and v["events_per_s"] > 0 for v in result["venues"])
    assert result["bytes_received"] > 0
    print(result)
