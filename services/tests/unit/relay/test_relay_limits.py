"""The relay's limits: the per-consumer snapshot gate, the relay-wide snapshot coalescing, the consumer limit."""

import logging

import pytest
from prometheus_client import REGISTRY

from alphapulse.clock import FakeClock
from alphapulse.protocol import Control, ControlOp
from alphapulse.relay.limits import (
    LOG_INTERVAL_S,
    ConsumerLimit,
    SnapshotCoalescer,
    SnapshotGate,
    SnapshotLimit,
    refusal,
)

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


def test_a_refused_address_is_told_why_and_unix_consumers_count_toward_the_total_only() -> None:
    limit = ConsumerLimit(total=4, per_address=2)
    assert refusal(limit, "10.0.0.1", ["10.0.0.1", None]) is None
    assert refusal(limit, "10.0.0.1", ["10.0.0.1", "10.0.0.1"]) == "max_per_address"
    assert refusal(limit, None, [None, None, None]) is None
    assert refusal(limit, None, [None, None, None, "10.0.0.2"]) == "max_consumers"
    assert refusal(ConsumerLimit(0, 0), "10.0.0.1", ["10.0.0.1"] * 1000) is None


def snapshot(book: int, request_id: int = 0) -> Control:
    return Control(ControlOp.SNAPSHOT, book, request_id=request_id)


def test_one_request_per_feed_and_book_per_window_the_rest_merged_into_a_trailing_one() -> None:
    clock = FakeClock()
    co = SnapshotCoalescer(0.2, clock.monotonic_s)
    assert co.offer("a", snapshot(7, 1))
    assert co.offer("b", snapshot(7, 2))  # another feed: its own window
    assert co.offer("a", snapshot(8, 3))  # another book: its own window
    assert not co.offer("a", snapshot(7, 4))
    assert not co.offer("a", snapshot(7, 5))
    assert co.next_due_s() == pytest.approx(0.2)
    clock.advance(0.1)
    assert co.due() == []
    clock.advance(0.1)
    assert co.due() == [("a", snapshot(7, 5))]  # one request for both, the latest one's id
    assert co.next_due_s() is None
    assert not co.offer("a", snapshot(7, 6))  # the trailing request opened a window of its own
    clock.advance(0.2)
    assert co.due() == [("a", snapshot(7, 6))]


def test_a_request_for_every_book_covers_each_book_but_not_the_other_way_round() -> None:
    clock = FakeClock()
    co = SnapshotCoalescer(0.2, clock.monotonic_s)
    assert co.offer("a", snapshot(0))
    assert not co.offer("a", snapshot(7))  # every book just went: book 7 waits for the window's end
    clock.advance(0.2)
    assert co.due() == [("a", snapshot(7))]
    assert co.offer("a", snapshot(0))  # book 7 alone does not cover every book


def test_every_request_is_answered_by_one_sent_at_or_after_it_within_the_window() -> None:
    """Whatever the pattern, a request is sent at once or merged into one sent later, within ``interval_s``
    of it (the relay's timer calls ``due`` at ``next_due_s``): a consumer that asks always sees a snapshot
    that starts after its request. And no book is asked for twice within a window."""
    clock = FakeClock()
    window = 0.2
    co = SnapshotCoalescer(window, clock.monotonic_s)
    asked: list[tuple[float, int]] = []
    sent: list[tuple[float, int]] = []

    def run_timer_until(t: float) -> None:
        while (at := co.next_due_s()) is not None and at <= t:
            clock.advance(at - clock.monotonic_s())
            sent.extend((clock.monotonic_s(), r.request_id) for _, r in co.due())
        clock.advance(t - clock.monotonic_s())

    def book(request_id: int) -> int:
        return request_id % 2 * 7  # even ids ask for every book (0), odd ones for book 7

    for rid in range(2_000):
        now = clock.monotonic_s()
        asked.append((now, rid))
        if co.offer("a", snapshot(book(rid), rid)):
            sent.append((now, rid))
        run_timer_until(now + 0.013 * (1 + rid % 5))
    run_timer_until(clock.monotonic_s() + window)
    assert co.next_due_s() is None
    for t_ask, rid in asked:
        answers = [t for t, r in sent if t >= t_ask and r >= rid and book(r) in (book(rid), 0)]
        assert answers and min(answers) - t_ask <= window + 1e-9, (t_ask, rid)
    last: dict[int, float] = {}
    for t, r in sent:
        assert book(r) not in last or t - last[book(r)] >= window - 1e-9, (t, r)
        last[book(r)] = t


def test_interval_zero_sends_everything() -> None:
    co = SnapshotCoalescer(0, FakeClock().monotonic_s)
    assert all(co.offer("a", snapshot(0, i)) for i in range(100))
