"""Stable 32-bit ids for symbols and feeds, the same on every machine without coordination.

An id is BLAKE2b with a 4-byte digest (``digest_size=4``, not a truncated BLAKE2b-512), read
little-endian, over the UTF-8 of a canonical text: for symbols
``"<exchange>:<BASE-QUOTE>"``, for feeds ``"feed:<name>"``. Id 0 is reserved ("all"), so a hash
of 0 becomes 1. Collisions are possible in principle (birthday bound: ~1 in 10,000 for 1,000
symbols), so every process registers what it sees and a collision is an error, never a silent mix-up.
"""

import hashlib

from alphapulse.protocol.errors import SymbolCollisionError
from alphapulse.protocol.wire import Exchange

__all__ = ("SymbolRegistry", "feed_id", "symbol_id")


def _hash32(text: str) -> int:
    value = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "little")
    return value or 1


def symbol_id(exchange: Exchange | str, symbol: str) -> int:
    name = exchange.name.lower() if isinstance(exchange, Exchange) else exchange.lower()
    return _hash32(f"{name}:{symbol.upper()}")


def feed_id(name: str) -> int:
    return _hash32(f"feed:{name}")


class SymbolRegistry:
    """id -> (exchange, symbol), refusing a second pair under an id already taken."""

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[Exchange, str]] = {}

    def register(self, exchange: Exchange, symbol: str) -> int:
        sid = symbol_id(exchange, symbol)
        known = self._by_id.setdefault(sid, (exchange, symbol.upper()))
        if known != (exchange, symbol.upper()):
            raise SymbolCollisionError(
                f"symbol id {sid:#010x} of {exchange.name.lower()}:{symbol} is already taken by "
                f"{known[0].name.lower()}:{known[1]}; rename one (e.g. an alias) to proceed"
            )
        return sid

    def check(self, sid: int, exchange: Exchange, symbol: str) -> None:
        """Verify an id announced by someone else (an instrument frame) against our own derivation."""
        if sid != symbol_id(exchange, symbol):
            raise SymbolCollisionError(
                f"instrument {exchange.name.lower()}:{symbol} announced with id {sid:#010x}, "
                f"expected {symbol_id(exchange, symbol):#010x}"
            )
        self.register(exchange, symbol)

    def lookup(self, sid: int) -> tuple[Exchange, str] | None:
        return self._by_id.get(sid)

    def __len__(self) -> int:
        return len(self._by_id)
