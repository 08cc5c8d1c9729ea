"""When does a fault count as having slowed an unaffected path? (chaos.scenarios._slowed)"""

from alphapulse.chaos.scenarios import _slowed


def test_nothing_measured_during_the_fault_is_not_slowed() -> None:
    assert not _slowed([5.0] * 100, [], 250)


def test_slowed_needs_three_times_the_baseline_and_the_margin() -> None:
    base = [100.0] * 100
    assert not _slowed(base, [340.0] * 100, 250)  # 3x the baseline but not +250 ms
    assert _slowed(base, [351.0] * 100, 250)
    assert not _slowed(base, [600.0] * 100, 1000)  # the database path's margin is a second
    assert _slowed(base, [1101.0] * 100, 1000)
    assert _slowed([1.0] * 100, [300.0] * 100, 250)  # from a tiny baseline the margin decides


def test_the_p99_not_a_single_spike_decides() -> None:
    assert not _slowed([100.0] * 100, [100.0] * 99 + [5_000.0], 250)
