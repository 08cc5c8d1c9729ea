"""The strategies' arithmetic as pure functions and tiny state objects (no NautilusTrader), so they can
be tested on numbers alone."""

from dataclasses import dataclass

__all__ = ("Ema", "best_cross", "spread_bps")


@dataclass(slots=True)
class Ema:
    """Exponential moving average with ``alpha = 2 / (period + 1)``; ``None`` until it has seen ``period`` values."""

    period: int
    value: float = 0.0
    count: int = 0

    def update(self, x: float) -> float | None:
        self.count += 1
        if self.count == 1:
            self.value = x
        else:
            alpha = 2.0 / (self.period + 1)
            self.value += alpha * (x - self.value)
        return self.value if self.count >= self.period else None


def spread_bps(bid: float, ask: float) -> float:
    """How far ``bid`` (on one venue) is above ``ask`` (on another), in basis points of the ask."""
    return (bid - ask) / ask * 10_000.0


def best_cross(quotes: dict[str, tuple[float, float]]) -> tuple[str, str, float] | None:
    """(cheap venue, rich venue, spread in bps): buy at the lowest ask, compare with the highest bid elsewhere."""
    if len(quotes) < 2:
        return None
    cheap = min(quotes, key=lambda k: quotes[k][1])
    others = [k for k in quotes if k != cheap]
    rich = max(others, key=lambda k: quotes[k][0])
    return cheap, rich, spread_bps(quotes[rich][0], quotes[cheap][1])
