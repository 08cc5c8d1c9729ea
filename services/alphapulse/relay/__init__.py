"""The relay: fans every feed's cells out to every consumer, never blocking on a slow one."""

from alphapulse.relay.server import Relay

__all__ = ("Relay",)
