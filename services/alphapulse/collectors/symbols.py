"""Normalized ``BASE-QUOTE`` symbols and each venue's spelling of them.

A feed file names symbols once, normalized (``BTC-USD``); each venue spells them its own way:
Kraken v2 ``BTC/USD``, Coinbase ``BTC-USD``, Binance ``BTCUSDT`` (stream names lowercase). Binance's
concatenation is ambiguous in general (``BTCUSDT`` = BTC-USDT or BTCU-SDT?), so the reverse map is
built only from the symbols a feed subscribed, never guessed.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from alphapulse.errors import ConfigError
from alphapulse.protocol import Exchange, symbol_id

__all__ = ("SymbolInfo", "SymbolMap", "native_symbol", "normalize")


def normalize(symbol: str) -> tuple[str, str]:
    base, dash, quote = symbol.upper().partition("-")
    if not dash or not base or not quote or "-" in quote:
        raise ConfigError(f"symbol {symbol!r} is not in the normalized BASE-QUOTE form (e.g. BTC-USD)")
    return base, quote


def native_symbol(exchange: Exchange, symbol: str) -> str:
    """The venue's spelling of a normalized symbol."""
    base, quote = normalize(symbol)
    if exchange is Exchange.KRAKEN:
        return f"{base}/{quote}"
    if exchange is Exchange.COINBASE:
        return f"{base}-{quote}"
    return f"{base}{quote}"


@dataclass(frozen=True, slots=True)
class SymbolInfo:
    symbol: str  # normalized BASE-QUOTE
    native: str  # venue spelling
    symbol_id: int


class SymbolMap:
    """Both directions for one feed's symbols; lookups by venue spelling are what the parsers use."""

    def __init__(self, exchange: Exchange, symbols: Iterable[str]) -> None:
        self.exchange = exchange
        self.by_native: dict[str, SymbolInfo] = {}
        self.by_symbol: dict[str, SymbolInfo] = {}
        for s in symbols:
            sym = "-".join(normalize(s))
            info = SymbolInfo(sym, native_symbol(exchange, sym), symbol_id(exchange, sym))
            if info.native in self.by_native:
                raise ConfigError(f"symbols {self.by_native[info.native].symbol} and {sym} are both {info.native}")
            self.by_native[info.native] = info
            self.by_symbol[sym] = info

    def __iter__(self) -> Iterator[SymbolInfo]:
        return iter(self.by_symbol.values())

    def __len__(self) -> int:
        return len(self.by_symbol)

    def natives(self) -> list[str]:
        return list(self.by_native)
