"""Exchange simulators: Kraken v2, Coinbase Advanced Trade and Binance spot, over real WebSockets.

Each venue serves its exact public market-data protocol from a recorded session (replayed
verbatim) or from a synthetic market, with faults injected on demand. See ``docs/simulator.md``.
"""

from typing import Any

from alphapulse.sim.binance import BinanceSim
from alphapulse.sim.coinbase import CoinbaseSim
from alphapulse.sim.faults import Fault, UnsupportedFaultError
from alphapulse.sim.kraken import KrakenSim
from alphapulse.sim.replay import ReplaySource, default_fixtures_dir
from alphapulse.sim.server import VenueSimulator

__all__ = (
    "BinanceSim",
    "CoinbaseSim",
    "Fault",
    "KrakenSim",
    "ReplaySource",
    "UnsupportedFaultError",
    "VenueSimulator",
    "default_fixtures_dir",
    "simulator",
)


_VENUES: dict[str, type[VenueSimulator[Any]]] = {
    "kraken": KrakenSim,
    "coinbase": CoinbaseSim,
    "binance": BinanceSim,
}


def simulator(venue: str, **kwargs: Any) -> VenueSimulator[Any]:
    """A (not yet started) simulator for ``venue``; ``kwargs`` go to :class:`VenueSimulator`."""
    try:
        cls = _VENUES[venue]
    except KeyError:
        raise ValueError(f"unknown venue {venue!r} (kraken, coinbase or binance)") from None
    return cls(**kwargs)
