"""Exchange simulators: Kraken v2, Coinbase Advanced Trade and Binance spot, over real WebSockets.

Each venue serves its exact public market-data protocol from a recorded session (replayed
verbatim) or from a synthetic market, with faults injected on demand. See ``docs/simulator.md``.
"""

from alphapulse.sim.faults import Fault, UnsupportedFaultError
from alphapulse.sim.replay import ReplaySource, default_fixtures_dir
from alphapulse.sim.server import VenueSimulator

__all__ = (
    "Fault",
    "ReplaySource",
    "UnsupportedFaultError",
    "VenueSimulator",
    "default_fixtures_dir",
    "simulator",
)


def simulator(venue: str, **kwargs: object) -> VenueSimulator:  # type: ignore[type-arg]
    """A (not yet started) simulator for ``venue``; ``kwargs`` go to :class:`VenueSimulator`."""
    if venue == "kraken":
        from alphapulse.sim.kraken import KrakenSim

        return KrakenSim(**kwargs)  # type: ignore[arg-type]
    if venue == "coinbase":
        from alphapulse.sim.coinbase import CoinbaseSim

        return CoinbaseSim(**kwargs)  # type: ignore[arg-type]
    if venue == "binance":
        from alphapulse.sim.binance import BinanceSim

        return BinanceSim(**kwargs)  # type: ignore[arg-type]
    raise ValueError(f"unknown venue {venue!r} (kraken, coinbase or binance)")
