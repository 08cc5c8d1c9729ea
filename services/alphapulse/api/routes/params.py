"""Query parameter types shared by the route modules (validated by Litestar, shown in OpenAPI)."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from litestar.exceptions import ValidationException
from litestar.params import PathParameter, QueryParameter

from alphapulse.api.cursor import CursorError, cursor_int, cursor_uuid, decode_cursor

__all__ = (
    "AccountFilter",
    "AccountPath",
    "Cursor",
    "ExchangeFilter",
    "ExchangeQ",
    "Limit",
    "SmallLimit",
    "SymbolFilter",
    "SymbolQ",
    "TimeQ",
    "aware",
    "parse_cursor",
    "time_us",
)

_EXCHANGE = r"^[a-z0-9_-]{1,32}$"
_SYMBOL = r"^[A-Z0-9]{1,20}-[A-Z0-9]{1,20}$"
ExchangeQ = Annotated[str, QueryParameter(pattern=_EXCHANGE, description="venue, e.g. binance")]
SymbolQ = Annotated[str, QueryParameter(pattern=_SYMBOL, description="BASE-QUOTE, e.g. BTC-USDT")]
ExchangeFilter = Annotated[str | None, QueryParameter(pattern=_EXCHANGE, description="only this venue")]
SymbolFilter = Annotated[str | None, QueryParameter(pattern=_SYMBOL, description="only this BASE-QUOTE symbol")]
Cursor = Annotated[str | None, QueryParameter(max_length=200, description="next_cursor of the previous page")]
TimeQ = Annotated[datetime | None, QueryParameter(description="RFC 3339 time; UTC when no offset is given")]
Limit = Annotated[int, QueryParameter(ge=1, le=5000, description="page size")]
SmallLimit = Annotated[int, QueryParameter(ge=1, le=1000, description="page size")]
AccountFilter = Annotated[int | None, QueryParameter(ge=1, le=2**63 - 1, description="only this account")]
AccountPath = Annotated[int, PathParameter(ge=1, le=2**63 - 1)]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_TIME = _EPOCH
_MAX_TIME = datetime(2262, 1, 1, tzinfo=UTC)  # int64 nanoseconds end in April 2262
_MAX_US = int((_MAX_TIME - _EPOCH).total_seconds()) * 1_000_000


def aware(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    if not _MIN_TIME <= value < _MAX_TIME:
        raise ValidationException(f"{name} must be between 1970 and 2262")
    return value


def parse_cursor(tag: str, cursor: str | None, kinds: str) -> tuple[Any, ...] | None:
    """Decode a cursor whose parts are ``kinds`` (``i`` int, ``t`` time in µs, ``u`` UUID, ``s`` string)."""
    if cursor is None:
        return None
    try:
        parts = decode_cursor(tag, cursor, len(kinds))
        out: list[Any] = []
        for kind, part in zip(kinds, parts, strict=True):
            if kind == "s":
                out.append(part)
            elif kind == "u":
                out.append(cursor_uuid(part))
            elif kind == "t":
                out.append(_EPOCH + timedelta(microseconds=cursor_int(part, low=0, high=_MAX_US)))
            else:
                out.append(cursor_int(part))
        return tuple(out)
    except CursorError as e:
        raise ValidationException(f"cursor: {e}") from e


def time_us(value: datetime) -> int:
    """Microseconds since the epoch: exact for PostgreSQL timestamps, which is what cursors carry."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
