"""Opaque pagination cursors: a tag and a few key values, URL-safe base64 encoded.

Keyset pagination (``WHERE (ts, id) > (cursor)``) stays fast at any depth, unlike OFFSET, and
the tag stops a cursor minted for one endpoint from being replayed against another.
"""

import base64
import binascii
import re
import uuid

__all__ = ("CursorError", "cursor_int", "cursor_uuid", "decode_cursor", "encode_cursor")

_PART = re.compile(r"^-?[A-Za-z0-9-]{1,40}$")


class CursorError(ValueError):
    """The cursor is not one this API issued for this endpoint."""


def encode_cursor(tag: str, *values: int | str) -> str:
    raw = ":".join([tag, *(str(v) for v in values)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(tag: str, cursor: str, arity: int) -> tuple[str, ...]:
    if len(cursor) > 200:
        raise CursorError("cursor too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as e:
        raise CursorError("cursor is not valid") from e
    parts = raw.split(":")
    if len(parts) != arity + 1 or parts[0] != tag or not all(_PART.fullmatch(p) for p in parts[1:]):
        raise CursorError("cursor does not belong to this endpoint")
    return tuple(parts[1:])


def cursor_int(part: str, *, low: int = -(2**63), high: int = 2**63 - 1) -> int:
    try:
        value = int(part)
    except ValueError as e:
        raise CursorError("cursor is not valid") from e
    if not low <= value <= high:
        raise CursorError("cursor is out of range")
    return value


def cursor_uuid(part: str) -> uuid.UUID:
    try:
        return uuid.UUID(part)
    except ValueError as e:
        raise CursorError("cursor is not valid") from e
