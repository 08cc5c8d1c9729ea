"""The relay's per-consumer snapshot gate: drops past the bucket, counts them, logs once per interval."""

import logging

import pytest
from prometheus_client import REGISTRY

from alphapulse.clock import FakeClock
from alphapulse.relay.limits import LOG_INTERVAL_S, SnapshotGate, SnapshotLimit

DROPPED = "alphapulse_relay_snapshot_requests_dropped_total"


def dropped(consumer: str) -> float:
    return REGISTRY.get_sample_value(DROPPED, {"consumer": consumer}) or 0.0


def test_past_the_burst_requests_are_dropped_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    gate = SnapshotGate(SnapshotLimit(burst=3, rate_per_s=1.0), "unit-gate-a", clock.monotonic_s)
    with caplog.at_level(logging.WARNING, logger="alphapulse.relay.limits"):
        results = [gate.allow() for _ in range(10)]
    assert results == [True] * 3 + [False] * 7
    assert dropped("unit-gate-a") == 7
    lines = [r for r in caplog.records if "snapshot request rate" in r.getMessage()]
    assert len(lines) == 1  # one line for the whole flood
    assert lines[0].consumer == "unit-gate-a"  # type: ignore[attr-defined]
    clock.advance(1.0)
    assert gate.allow()  # one token back after a second


def test_the_log_line_repeats_at_most_once_per_interval_with_the_count_since(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    gate = SnapshotGate(SnapshotLimit(burst=1, rate_per_s=0.001), "unit-gate-b", clock.monotonic_s)
    gate.allow()
    with caplog.at_level(logging.WARNING, logger="alphapulse.relay.limits"):
        for _ in range(5):
            gate.allow()
        clock.advance(LOG_INTERVAL_S / 2)
        for _ in range(5):
            gate.allow()
        assert len(caplog.records) == 1
        clock.advance(LOG_INTERVAL_S / 2)
        gate.allow()
    assert [r.dropped for r in caplog.records] == [1, 10]  # type: ignore[attr-defined]


def test_consumers_have_their_own_buckets() -> None:
    clock = FakeClock()
    limit = SnapshotLimit(burst=2, rate_per_s=1.0)
    a = SnapshotGate(limit, "unit-gate-c", clock.monotonic_s)
    b = SnapshotGate(limit, "unit-gate-d", clock.monotonic_s)
    assert [a.allow() for _ in range(5)] == [True, True, False, False, False]
    assert [b.allow() for _ in range(2)] == [True, True]


def test_rate_zero_means_no_limit() -> None:
    gate = SnapshotGate(SnapshotLimit(burst=0, rate_per_s=0), "unit-gate-e", FakeClock().monotonic_s)
    assert all(gate.allow() for _ in range(10_000))
    assert dropped("unit-gate-e") == 0


def test_a_limit_that_passes_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="burst"):
        SnapshotLimit(burst=0, rate_per_s=5.0)
