"""One connected browser as the core sees it: a sink to write to and a bounded outbox.

The outbox holds pre-serialized events (shared bytes, never copied per client) until the tick
ends; then they go out as one WebSocket message, a JSON array. While the client's socket is
backed up ("behind"), quotes and books coalesce (latest wins per symbol) and other events queue up
to a limit; past it they are counted and announced with a gap event when the client catches up.
"""

from typing import Protocol, cast

from alphapulse.tokens import Principal

__all__ = ("Client", "ClientSink")


class ClientSink(Protocol):
    """The I/O seam: a WebSocket connection in the server, a recording list in unit tests."""

    def write(self, data: bytes) -> None:
        """Queue one text message (UTF-8 JSON) without blocking."""

    def buffered_bytes(self) -> int:
        """Bytes written but not yet accepted by the socket (the user-space write buffer)."""

    def close(self, code: int, reason: str) -> None:
        """Start closing the connection with a close code and reason; returns at once."""


class Client:
    __slots__ = (
        "behind_since_s",
        "dirty",
        "exchanges",
        "holes",
        "latest",
        "live",
        "missed",
        "name",
        "principal",
        "queue",
        "sig",
        "sink",
        "subs",
    )

    def __init__(self, sink: ClientSink, principal: Principal, name: str) -> None:
        self.sink = sink
        self.principal = principal
        self.name = name
        self.subs: set[tuple[int, int]] = set()  # (symbol id, channel)
        self.exchanges: dict[str, int] = {}  # exchange -> number of subscriptions on it
        self.queue: list[bytes | None] = []  # None: an event superseded by a later one (coalesced)
        self.live = 0  # queued events that count against the limit (trades, notices)
        self.holes = False
        self.latest: dict[tuple[int, int], int] = {}  # (symbol id, channel) -> index of its latest state event
        self.missed: dict[tuple[int, int], list[int]] = {}  # (symbol id, channel) -> [count, first seq]
        self.behind_since_s: float | None = None
        self.dirty = False
        self.sig: frozenset[int] = frozenset()  # route keys of its subscriptions: its fan-out group

    @property
    def behind(self) -> bool:
        return self.behind_since_s is not None

    def take(self) -> list[bytes]:
        """Empty the outbox, returning the events still due, in order."""
        queue, holes = self.queue, self.holes
        self.queue = []
        self.latest.clear()
        self.live = 0
        self.holes = False
        if holes:
            return [e for e in queue if e is not None]
        return cast(list[bytes], queue)  # no holes: no None in it
