"""The collector against the project's own simulator (``alphapulse.sim``), replaying the fixture sessions."""

import asyncio
from pathlib import Path

import pytest
from collector_live_harness import expected_trades, feed_for, running

from alphapulse.collectors.transport import CLIENTS
from alphapulse.protocol import FeedState, Gap, GapReason, Status, Trade
from alphapulse.sim import Fault, ReplaySource, simulator

VENUES = ("kraken", "coinbase", "binance")


@pytest.fixture(autouse=True, params=CLIENTS)
def ws_client(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs with each WebSocket client (ALPHAPULSE_WS_CLIENT)."""
    name: str = request.param
    monkeypatch.setenv("ALPHAPULSE_WS_CLIENT", name)
    return name


@pytest.mark.parametrize("venue", VENUES)
async def test_simulated_session_gives_the_expected_trades(fixtures_dir: Path, sock_dir: Path, venue: str) -> None:
    expected = expected_trades(fixtures_dir, venue)
    source = ReplaySource.fixture(fixtures_dir, venue)
    async with simulator(venue, replay=source, replay_paused=True) as sim:
        feed = feed_for(fixtures_dir, venue, sim.ws_url, sim.rest_url)
        async with running(feed, sock_dir) as (collector, reader):
            await sim.wait_for_connections(1)
            sim.resume_replay()
            await reader.wait_for(lambda fs: sum(isinstance(f, Trade) for f in fs) >= len(expected))
            await asyncio.sleep(0.1)
            assert reader.trades() == expected
            assert not any(isinstance(f, Gap) for f in reader.frames)
            assert collector.parser.stats.errors == {}


async def test_simulator_drop_gives_status_gap_and_reconnect(fixtures_dir: Path, sock_dir: Path) -> None:
    expected = expected_trades(fixtures_dir, "kraken")
    source = ReplaySource.fixture(fixtures_dir, "kraken")
    async with simulator("kraken", replay=source, replay_paused=True) as sim:
        feed = feed_for(fixtures_dir, "kraken", sim.ws_url)
        async with running(feed, sock_dir) as (_collector, reader):
            await sim.wait_for_connections(1)
            sim.resume_replay()
            await reader.wait_for(lambda fs: sum(isinstance(f, Trade) for f in fs) >= len(expected))
            sim.inject(Fault.DROP_CONNECTION)
            await reader.wait_for(
                lambda fs: sum(isinstance(f, Status) and f.state == FeedState.SUBSCRIBED for f in fs) >= 2
            )
            states = [f for f in reader.frames if isinstance(f, Status)]
            down = next(
                i for i, f in enumerate(reader.frames) if isinstance(f, Status) and f.state == FeedState.DISCONNECTED
            )
            gap = reader.frames[down + 1]
            assert isinstance(gap, Gap) and gap.reason == GapReason.RECONNECT
            assert FeedState.CONNECTING in [s.state for s in states[-4:]]
            await asyncio.sleep(0.5)
            assert reader.trades() == expected, "the replayed session after the reconnect adds no duplicate"
