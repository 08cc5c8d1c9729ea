"""The synthetic market's arrivals: a Poisson process per venue, its rate kept, batched per tick when dense."""

import itertools
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alphapulse.sim.schedule import QUIET_TICK_S, Arrivals

TICK = 0.001


def _run(arrivals: Arrivals, rate: float, until: float, start: float) -> list[tuple[float, int]]:
    """Wake whenever the schedule asks, as the generator does, and note (time, events due) for every wake."""
    now, wakes = start, []
    while True:
        now = max(now, arrivals.wake_at())
        if now > until:
            return wakes
        wakes.append((now, arrivals.due(now, rate)))


def test_a_sparse_venue_sends_each_event_at_its_own_time_and_keeps_its_rate() -> None:
    rate, start = 1000 / 3, 5_000.0
    arrivals = Arrivals(rate, random.Random(1), start)
    assert arrivals.sparse
    wakes = _run(arrivals, rate, start + 60.0, start)
    counts = [n for _, n in wakes]
    assert max(counts) == 1, "a wake at each event's time finds that one event due"
    assert abs(sum(counts) - rate * 60) < 4 * math.sqrt(rate * 60)  # within four standard deviations
    events = [t for t, n in wakes if n]
    gaps = [b - a for a, b in itertools.pairwise(events)]
    assert min(gaps) < 0.0001, "exponential gaps: some far shorter than a tick"
    assert max(gaps) > 0.003, "and some longer than three"
    # quiet ticks still come, for what a venue does on a timer, but not four times as often as the events
    assert max(b - a for (a, _), (b, _) in itertools.pairwise(wakes)) <= QUIET_TICK_S + 1e-9
    assert len(wakes) < 1.5 * len(events)


def test_independent_venues_coincide_about_as_often_as_chance_says() -> None:
    rate, start, seconds = 1000 / 3, 100.0, 60.0
    times: list[tuple[float, int]] = []
    for venue in range(3):
        arrivals = Arrivals(rate, random.Random(f"arrivals:{venue}"), start)
        times += [(t, venue) for t, n in _run(arrivals, rate, start + seconds, start) if n]
    times.sort()
    near = sum(
        1
        for i, (t, v) in enumerate(times)
        if any(abs(t2 - t) < 100e-6 and v2 != v for t2, v2 in times[max(0, i - 3) : i + 4])
    )
    chance = 1 - math.exp(-2 * rate * 200e-6)  # another venue's event within ±100 µs
    assert chance / 2 < near / len(times) < chance * 2


def test_a_dense_venue_wakes_once_a_tick_and_sends_a_batch() -> None:
    rate, start = 10_000 / 3, 7.0
    arrivals = Arrivals(rate, random.Random(2), start)
    assert not arrivals.sparse
    wakes = _run(arrivals, rate, start + 10.0, start)
    assert len(wakes) == pytest.approx(10.0 / TICK, rel=0.001)
    assert sum(n for _, n in wakes) == pytest.approx(rate * 10.0, rel=0.02)


def test_flat_out_counts_the_backlog_by_the_rate() -> None:
    rate = 10_000_000 / 3
    arrivals = Arrivals(rate, random.Random(3), 0.0)
    assert arrivals.due(0.002, rate) == pytest.approx(rate * 0.002, rel=0.01)
    assert arrivals.next_event_at > 0.002


def test_two_venues_with_their_own_seeds_tick_at_phases_of_their_own() -> None:
    a = Arrivals(5000.0, random.Random("arrivals:1"), 0.0)
    b = Arrivals(5000.0, random.Random("arrivals:2"), 0.0)
    assert a.wake_at() != b.wake_at()
    assert 0.0 <= a.wake_at() < TICK and 0.0 <= b.wake_at() < TICK


def test_a_rate_changed_to_zero_pauses_and_back_resumes_without_a_burst() -> None:
    arrivals = Arrivals(1000.0, random.Random(4), 100.0)
    assert arrivals.due(100.5, 1000.0) > 400
    assert arrivals.due(100.5, 0.0) == 0
    assert arrivals.next_event_at == math.inf
    assert arrivals.wake_at() <= 100.5 + QUIET_TICK_S  # still ticking
    assert arrivals.due(200.0, 0.0) == 0
    assert arrivals.due(200.0, 1000.0) == 0  # nothing owed for the pause
    assert arrivals.due(200.010, 1000.0) < 40


def test_a_venue_woken_late_ticks_a_whole_tick_later() -> None:
    arrivals = Arrivals(5000.0, random.Random(5), 0.0)
    arrivals.due(0.5, 5000.0)
    assert arrivals.wake_at() == pytest.approx(0.5 + TICK)


@settings(max_examples=50)
@given(
    rate=st.floats(min_value=0.0, max_value=2_000_000.0),
    seed=st.integers(min_value=0, max_value=1000),
    steps=st.lists(st.floats(min_value=0.0, max_value=0.01), min_size=1, max_size=100),
)
def test_events_are_never_owed_twice_nor_before_their_time(rate: float, seed: int, steps: list[float]) -> None:
    arrivals = Arrivals(rate, random.Random(seed), 1_000.0)
    now = 1_000.0
    for step in steps:
        now += step
        assert arrivals.due(now, rate) >= 0
        assert arrivals.next_event_at > now
        assert arrivals.wake_at() > now


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        Arrivals(-1.0, random.Random(0), 0.0)
    with pytest.raises(ValueError, match="rate"):
        Arrivals(float("nan"), random.Random(0), 0.0)
    with pytest.raises(ValueError, match="tick_s"):
        Arrivals(1.0, random.Random(0), 0.0, tick_s=0.0)
    with pytest.raises(ValueError, match="rate"):
        Arrivals(1.0, random.Random(0), 0.0).due(1.0, -5.0)
