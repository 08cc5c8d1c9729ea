"""The protocol's errors, under the package's one root (``alphapulse.errors`` is a leaf module)."""

from alphapulse.errors import FatalError

__all__ = ("FixedPointError", "FrameError", "ProtocolError", "SymbolCollisionError")


class ProtocolError(FatalError):
    """Anything the wire format refuses."""


class FrameError(ProtocolError):
    """Bytes that are not a valid frame: wrong version, unknown type, bad part index, bad field."""


class FixedPointError(ProtocolError):
    """A decimal that cannot be represented exactly at its instrument's scale in a signed 64-bit integer."""


class SymbolCollisionError(ProtocolError):
    """Two different (exchange, symbol) pairs hashed to the same 32-bit symbol id."""
