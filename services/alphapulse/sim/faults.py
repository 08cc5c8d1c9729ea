"""Faults the simulator injects on demand, into every open connection of a venue (or one of them).

Each fault is something a collector must survive and make visible:

=================== ==========================================================================
``DROP_CONNECTION`` the TCP connection is aborted (no close frame), like a cut cable or a crashed
                    exchange gateway.
``CLOSE``           a clean WebSocket close (code 1001 "going away"), like a maintenance restart.
``STALL``           nothing is sent for ``seconds`` (no data, no heartbeats); what was due in the
                    meantime then arrives in one burst. Protocol pings are still answered.
``SKIP_SEQUENCE``   the next sequenced message is lost: Coinbase's ``sequence_num`` jumps (an
                    ``l2_data`` update is dropped when level2 is subscribed), Binance's next diff
                    depth event is dropped (``U`` > previous ``u`` + 1), Kraken's next book update
                    is dropped (the next checksum no longer matches the client's book).
``CORRUPT_CHECKSUM``Kraken only: the next book message carries a wrong ``checksum``.
``GARBAGE``         one text frame that is not JSON (``payload``, or a default).
``MALFORMED``       the hostile lines of the venue's ``malformed.jsonl`` (or ``lines``), one text
                    frame each, in order, between the regular messages.
``SERVER_SHUTDOWN`` Binance only: a ``serverShutdown`` event (``!serverShutdown`` on combined
                    connections), then a close 1001 after ``seconds`` -- the notice a collector
                    answers by rotating to a new connection.
=================== ==========================================================================
"""

import enum
from dataclasses import dataclass

__all__ = ("DEFAULT_GARBAGE", "Fault", "FaultRequest", "UnsupportedFaultError")

DEFAULT_GARBAGE = "\x00\x01 not json at all {{{"


class Fault(enum.StrEnum):
    DROP_CONNECTION = "drop_connection"
    CLOSE = "close"
    STALL = "stall"
    SKIP_SEQUENCE = "skip_sequence"
    CORRUPT_CHECKSUM = "corrupt_checksum"
    GARBAGE = "garbage"
    MALFORMED = "malformed"
    SERVER_SHUTDOWN = "server_shutdown"


class UnsupportedFaultError(ValueError):
    """The venue has nothing the fault could act on (e.g. a checksum fault on Binance)."""


@dataclass(frozen=True, slots=True)
class FaultRequest:
    """One injected fault with its parameters (``seconds`` for STALL, ``lines``/``payload`` for junk)."""

    fault: Fault
    seconds: float = 1.0
    payload: str = DEFAULT_GARBAGE
    lines: tuple[str, ...] = ()
