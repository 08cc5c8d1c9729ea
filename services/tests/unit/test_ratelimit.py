"""The token bucket on an injected clock: burst, sustained rate, cap, a clock stepping back."""

import pytest

from alphapulse.clock import FakeClock
from alphapulse.ratelimit import TokenBucket


def bucket(clock: FakeClock, rate_per_s: float = 5.0, burst: int = 20) -> TokenBucket:
    return TokenBucket(rate_per_s, burst, clock.monotonic_s)


def takes(b: TokenBucket, n: int) -> int:
    return sum(b.take() for _ in range(n))


def test_a_new_bucket_allows_exactly_its_burst() -> None:
    clock = FakeClock()
    b = bucket(clock)
    assert takes(b, 100) == 20
    assert not b.take()


def test_tokens_come_back_at_the_rate() -> None:
    clock = FakeClock()
    b = bucket(clock)
    takes(b, 20)
    clock.advance(0.1)  # half a token at 5/s
    assert not b.take()
    clock.advance(0.1)
    assert b.take()
    assert not b.take()
    clock.advance(2.0)  # 10 tokens
    assert takes(b, 100) == 10


def test_a_sustained_flood_gets_the_rate_and_no_more() -> None:
    clock = FakeClock()
    b = bucket(clock)
    allowed = 0
    for _ in range(1000):  # 100 requests per second for 10 s
        allowed += b.take()
        clock.advance(0.01)
    assert allowed == 20 + 50 - 1  # the burst, then 5/s for 10 s (the last token is still refilling)


def test_idle_time_refills_to_the_burst_and_no_further() -> None:
    clock = FakeClock()
    b = bucket(clock)
    takes(b, 20)
    clock.advance(3600)
    assert b.tokens == 20
    assert takes(b, 100) == 20


def test_a_clock_stepping_back_neither_refills_nor_drains() -> None:
    now = [100.0]
    b = TokenBucket(5.0, 20, lambda: now[0])
    takes(b, 15)
    now[0] = 50.0
    assert b.tokens == 5
    now[0] = 50.2  # moving forward again from the new reading refills normally
    assert b.tokens == pytest.approx(6)


@pytest.mark.parametrize(("rate", "burst"), [(0, 20), (-1, 20), (5, 0)])
def test_a_bucket_that_could_never_pass_is_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="token bucket"):
        TokenBucket(rate, burst)
