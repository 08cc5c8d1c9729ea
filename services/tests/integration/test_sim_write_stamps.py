"""Live frames carry the time they are written, not the time the generator's tick began.

A venue stamps a frame at its gateway; if the simulator kept its tick's time, its own rendering
(tens of µs per tick in Python) would sit inside every latency measured from the frames' times.
"""

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sim_testkit import recv_all
from websockets.asyncio.client import connect

from alphapulse.sim import simulator
from alphapulse.sim.bench import _subscriptions
from alphapulse.sim.render import rfc3339_ns, rfc3339_us
from alphapulse.sim.server import Conn

TICK = 1_764_129_600_123_456_789  # 2025-11-26T04:00:00.123456789Z
LATER = TICK + 37_251  # 37 µs later, in the same millisecond
NEXT_MS = TICK + 2_000_000


def _kraken_frame(ns: int) -> bytes:
    ts = rfc3339_us(ns)
    return f'{{"channel":"trade","data":[{{"trade_id":7,"timestamp":"{ts}"}}]}}{{"timestamp":"{ts}"}}'.encode()


def _coinbase_frame(ns: int) -> bytes:
    return (
        f'{{"channel":"market_trades","timestamp":"{rfc3339_ns(ns)}","sequence_num":3,'
        f'"events":[{{"trades":[{{"trade_id":"7","time":"{rfc3339_us(ns)}"}}]}}]}}'
    ).encode()


def _binance_frame(ms: int) -> bytes:
    return f'{{"e":"trade","E":{ms},"s":"BTCUSDT","t":{ms},"T":{ms},"m":true}}'.encode()


@pytest.mark.parametrize(
    ("venue", "render", "then", "now"),
    [
        ("kraken", _kraken_frame, TICK, LATER),
        ("coinbase", _coinbase_frame, TICK, LATER),
        ("binance", lambda ns: _binance_frame(ns // 1_000_000), TICK, NEXT_MS),
    ],
)
def test_restamp_replaces_every_rendering_of_the_tick_time(venue: str, render: Any, then: int, now: int) -> None:
    sim = simulator(venue, rate=0)
    got = sim.restamp(render(then), then, now)
    if venue == "binance":
        # the trade id happens to equal the old millisecond count: only the keyed times change
        old_ms, new_ms = then // 1_000_000, now // 1_000_000
        assert got == f'{{"e":"trade","E":{new_ms},"s":"BTCUSDT","t":{old_ms},"T":{new_ms},"m":true}}'.encode()
    else:
        assert got == render(now)
    assert len(got) == len(render(then))  # fixed width: frame headers stay valid


def test_restamp_leaves_frames_alone_when_the_resolution_cannot_tell() -> None:
    binance = simulator("binance", rate=0)
    frame = _binance_frame(TICK // 1_000_000)
    assert binance.restamp(frame, TICK, LATER) is frame  # same millisecond: nothing to do
    kraken = simulator("kraken", rate=0)
    frame = _kraken_frame(TICK)
    assert kraken.restamp(frame, TICK, TICK + 200) is frame  # same microsecond


_RFC = re.compile(rb'"(?:time|timestamp|event_time)":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{6,9})Z"')
# trade times only: the depth stream's event times are stamped when its 100 ms batch is rendered
_MS = re.compile(rb'"e":"(?:trade|aggTrade)","E":(\d{13}),|"T":(\d{13}),')


def _times_ns(venue: str, data: bytes) -> Iterator[tuple[int, int]]:
    """(time in ns, its resolution in ns) for every event time rendered in ``data``."""
    if venue == "binance":
        for m in _MS.finditer(data):
            yield int(m.group(1) or m.group(2)) * 1_000_000, 1_000_000
        return
    for m in _RFC.finditer(data):
        whole = datetime.fromisoformat(m.group(1).decode()).replace(tzinfo=UTC)
        frac = m.group(2)
        yield int(whole.timestamp()) * 10**9 + int(frac.ljust(9, b"0")), 10 ** (9 - len(frac))


@pytest.mark.parametrize("venue", ["kraken", "coinbase", "binance"])
async def test_live_frames_carry_their_write_time(venue: str, monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[tuple[int, bytes, int]] = []
    flush = Conn.flush

    def recording_flush(self: Conn, tick_ns: int | None = None) -> None:
        if tick_ns is None or not self.out:
            flush(self, tick_ns)
            return
        real_write = self.transport.write
        before = time.time_ns()

        def write(data: bytes | bytearray | memoryview) -> None:
            writes.append((before, bytes(data), time.time_ns()))
            real_write(data)

        self.transport.write = write  # type: ignore[method-assign]
        try:
            flush(self, tick_ns)
        finally:
            del self.transport.write

    monkeypatch.setattr(Conn, "flush", recording_flush)
    async with simulator(venue, rate=3000, seed=3) as sim:
        url, requests = _subscriptions(venue, sim)
        async with connect(url, max_size=None) as ws:
            for r in requests:
                await ws.send(r)
            await recv_all(ws, idle_s=0.5, limit=600)
    times = [(t, res, lo, hi) for lo, data, hi in writes for t, res in _times_ns(venue, data)]
    assert len(times) > 100, f"only {len(times)} stamped events in {len(writes)} tick writes"
    early = [(t, lo) for t, res, lo, hi in times if t + res <= lo]
    late = [(t, hi) for t, res, lo, hi in times if t > hi]
    assert not early, f"{len(early)} of {len(times)} event times precede their frame's write: {early[:3]}"
    assert not late, f"{len(late)} event times after their write: {late[:3]}"
