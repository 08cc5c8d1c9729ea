"""The connection machinery on a FakeClock: the backoff schedule, without sleeping."""

import random
import socket

import pytest

from alphapulse.clock import FakeClock
from alphapulse.collectors.connection import Backoff, ConnectionSettings, VenueConnection
from alphapulse.collectors.kraken import KrakenParser
from alphapulse.collectors.output import FrameWriter
from alphapulse.collectors.symbols import SymbolMap
from alphapulse.protocol import Exchange, FeedState, FrameDecoder, Status


def test_backoff_is_exponential_and_capped() -> None:
    b = Backoff(0.1, 1.0, 2.0)
    assert [b.next_s() for _ in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    b.reset()
    assert b.next_s() == 0.1


def test_backoff_jitter_stays_within_bounds() -> None:
    b = Backoff(1.0, 8.0, 2.0, jitter=0.2, rng=random.Random(7))
    delays = [b.next_s() for _ in range(8)]
    bases = [1, 2, 4, 8, 8, 8, 8, 8]
    assert all(0.8 * base <= d <= min(8.0, 1.2 * base) for d, base in zip(delays, bases, strict=True))
    assert len(set(delays)) >= 5, "jittered, so reconnecting collectors spread out"


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


async def test_reconnect_schedule_on_a_fake_clock() -> None:
    clock = FakeClock()
    published: list[bytes] = []
    writer = FrameWriter(1, Exchange.KRAKEN, "t", clock.now_ns(), published.append)
    parser = KrakenParser(writer, SymbolMap(Exchange.KRAKEN, ["BTC-USD"]))
    settings = ConnectionSettings(backoff_initial_s=0.1, backoff_max_s=1.0, backoff_jitter=0.0, connect_timeout_s=2)
    conn = VenueConnection(parser, f"ws://127.0.0.1:{closed_port()}/v2", writer, clock, settings, max_failures=7)
    with pytest.raises(ConnectionRefusedError):
        await conn.run()
    assert clock.slept_s == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    frames = [f for chunk in published for f in FrameDecoder().feed(chunk)]
    assert [f.state for f in frames if isinstance(f, Status)] == [FeedState.CONNECTING]
