"""The WebSocket client seam: one interface, two libraries (``websockets`` and ``picows``).

The connection machinery (:mod:`alphapulse.collectors.connection`) only needs: open with limits,
read what has arrived, send a text message, close. ``recv_batch`` returns *every* message that
arrived in one socket read (picows parses frames straight out of ``data_received``, so one wake-up of
the reader serves a whole TCP chunk); the websockets client hands over one message per ``recv``.
Both answer pings, send pings with a timeout (when configured), cap the message size, and turn the
peer's close (or a dropped socket) into :class:`WsClosed`.

Which client: ``ALPHAPULSE_WS_CLIENT`` (``picows`` or ``websockets``), default ``picows``: on the same
messages its receive path costs 0.64 µs/msg against websockets' 5.0 µs (docs/performance.md).
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from alphapulse.errors import ConfigError
from alphapulse.settings import env

__all__ = (
    "CLIENTS",
    "DEFAULT_CLIENT",
    "ClientOptions",
    "Opener",
    "WsClient",
    "WsClosed",
    "WsConnectError",
    "opener_for",
    "resolve_client",
)

CLIENTS = ("picows", "websockets")
DEFAULT_CLIENT = "picows"


class WsClosed(Exception):  # noqa: N818 - a state, like ConnectionClosed, not an error
    """The connection is closed; ``code`` is the close code received (None: no close frame)."""

    def __init__(self, code: int | None) -> None:
        super().__init__(code)
        self.code = code


class WsConnectError(Exception):
    """The handshake failed (bad status, bad upgrade, bad URL): retry like a refused connection."""


@dataclass(frozen=True, slots=True)
class ClientOptions:
    open_timeout_s: float
    max_message_bytes: int
    max_queue: int  # messages buffered unread before the client stops reading the socket
    ping_interval_s: float | None
    ping_timeout_s: float | None
    close_timeout_s: float = 2.0


class WsClient(Protocol):
    async def recv_batch(self) -> list[bytes]:
        """At least one message (bytes, text or binary alike); raises WsClosed once closed."""
        ...

    async def send(self, message: str) -> None: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


Opener = Callable[[str, ClientOptions], Awaitable[WsClient]]


def resolve_client(name: str | None = None) -> str:
    """The client to use: ``name``, else ``ALPHAPULSE_WS_CLIENT``, else the default."""
    chosen = (name or env("WS_CLIENT") or DEFAULT_CLIENT).strip().lower()
    if chosen not in CLIENTS:
        raise ConfigError(f"ALPHAPULSE_WS_CLIENT={chosen!r}: expected one of {', '.join(CLIENTS)}")
    return chosen


def opener_for(name: str | None = None) -> Opener:
    # imported on use: a deployment that pins one client needs only that library importable
    if resolve_client(name) == "picows":
        from alphapulse.collectors.ws_picows import open_picows  # noqa: PLC0415

        return open_picows
    from alphapulse.collectors.ws_websockets import open_websockets  # noqa: PLC0415

    return open_websockets
