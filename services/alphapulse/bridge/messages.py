"""The client → bridge messages: strict parsing of small JSON objects from untrusted browsers.

``parse_client_message(data)`` returns one of :class:`Auth`, :class:`Subscribe`,
:class:`Unsubscribe`, :class:`Ping`, or raises :class:`ClientMessageError` carrying the WebSocket
close code and a reason a front-end developer can act on. It never raises anything else (fuzzed).
"""

import re
from dataclasses import dataclass
from typing import Annotated, Final

import msgspec

__all__ = (
    "CHANNELS",
    "EXCHANGES",
    "Auth",
    "ClientMessage",
    "ClientMessageError",
    "CloseCode",
    "Ping",
    "Subscribe",
    "Unsubscribe",
    "parse_client_message",
)

EXCHANGES: Final = ("kraken", "coinbase", "binance")
CHANNELS: Final = ("trades", "quotes", "book")
MAX_SYMBOLS_PER_MESSAGE: Final = 64
_SYMBOL_RE: Final = re.compile(r"[A-Z0-9]{1,15}-[A-Z0-9]{1,15}")


class CloseCode:
    """WebSocket close codes the bridge uses (4000-4999 are application codes, RFC 6455 §7.4.2)."""

    GOING_AWAY: Final = 1001  # the bridge is shutting down: reconnect
    UNSUPPORTED_DATA: Final = 1003  # a binary message: the protocol is JSON text
    MESSAGE_TOO_BIG: Final = 1009  # sent by websockets itself when a message exceeds max_size
    TRY_AGAIN_LATER: Final = 1013  # the bridge is at its client limit
    BAD_MESSAGE: Final = 4000  # malformed JSON, unknown op or invalid fields: a client bug
    UNAUTHORIZED: Final = 4001  # bad, expired or missing-claim token: get a new token, then reconnect
    AUTH_REQUIRED: Final = 4002  # no auth message first, or none within the auth timeout
    SLOW_CLIENT: Final = 4008  # the client stopped reading and fell too far behind
    RATE_LIMITED: Final = 4029  # more messages than the per-client rate (like HTTP 429): reconnect later


class ClientMessageError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


_RequestId = Annotated[int, msgspec.Meta(ge=-(2**53), le=2**53)] | Annotated[str, msgspec.Meta(max_length=64)]


class _AuthWire(msgspec.Struct, tag_field="op", tag="auth", forbid_unknown_fields=True):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
    id: _RequestId | None = None


class _SubWire(msgspec.Struct, tag_field="op", forbid_unknown_fields=True):
    exchange: str
    symbols: Annotated[list[str], msgspec.Meta(min_length=1, max_length=MAX_SYMBOLS_PER_MESSAGE)]
    channels: Annotated[list[str], msgspec.Meta(min_length=1, max_length=len(CHANNELS))] = msgspec.field(
        default_factory=lambda: list(CHANNELS)
    )
    id: _RequestId | None = None


class _SubscribeWire(_SubWire, tag="subscribe"):
    pass


class _UnsubscribeWire(_SubWire, tag="unsubscribe"):
    pass


class _PingWire(msgspec.Struct, tag_field="op", tag="ping", forbid_unknown_fields=True):
    id: _RequestId | None = None


_DECODER: Final = msgspec.json.Decoder(_AuthWire | _SubscribeWire | _UnsubscribeWire | _PingWire)


@dataclass(frozen=True, slots=True)
class Auth:
    token: str
    id: int | str | None = None


@dataclass(frozen=True, slots=True)
class Subscribe:
    exchange: str
    symbols: tuple[str, ...]
    channels: tuple[str, ...]
    id: int | str | None = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    exchange: str
    symbols: tuple[str, ...]
    channels: tuple[str, ...]
    id: int | str | None = None


@dataclass(frozen=True, slots=True)
class Ping:
    id: int | str | None = None


ClientMessage = Auth | Subscribe | Unsubscribe | Ping


def _bad(reason: str) -> ClientMessageError:
    return ClientMessageError(CloseCode.BAD_MESSAGE, reason)


def _selection(wire: _SubWire) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    exchange = wire.exchange.lower()
    if exchange not in EXCHANGES:
        raise _bad(f"unknown exchange {wire.exchange!r}; expected one of {', '.join(EXCHANGES)}")
    symbols: list[str] = []
    for raw in wire.symbols:
        symbol = raw.upper()
        if not _SYMBOL_RE.fullmatch(symbol):
            raise _bad(f"symbol {raw!r} is not BASE-QUOTE (letters and digits, e.g. BTC-USDT)")
        if symbol not in symbols:
            symbols.append(symbol)
    channels: list[str] = []
    for channel in wire.channels:
        if channel not in CHANNELS:
            raise _bad(f"unknown channel {channel!r}; expected any of {', '.join(CHANNELS)}")
        if channel not in channels:
            channels.append(channel)
    return exchange, tuple(symbols), tuple(channels)


def parse_client_message(data: str | bytes) -> ClientMessage:
    if not isinstance(data, str):
        raise ClientMessageError(CloseCode.UNSUPPORTED_DATA, "binary messages are not accepted; send JSON text")
    try:
        wire = _DECODER.decode(data.encode())
    except UnicodeEncodeError as e:  # lone surrogates: websockets never yields them, a caller might
        raise _bad("message is not valid Unicode text") from e
    except msgspec.ValidationError as e:
        raise _bad(f"invalid message: {e}") from e
    except msgspec.DecodeError as e:
        raise _bad(f"not a JSON object: {e}") from e
    match wire:
        case _AuthWire():
            return Auth(wire.token, wire.id)
        case _SubscribeWire():
            return Subscribe(*_selection(wire), id=wire.id)
        case _UnsubscribeWire():
            return Unsubscribe(*_selection(wire), id=wire.id)
        case _PingWire():
            return Ping(wire.id)
    raise _bad("unknown message")  # pragma: no cover - the decoder's union is exhaustive above
