"""The Redis stream contract with the trading engine (docs/api.md, "Order streams").

``alphapulse:orders`` carries order requests from the API; ``alphapulse:order-events`` carries the
engine's reports back. Every field is a UTF-8 string (Redis stream values are bytes); decimals are
plain decimal strings, never floats; times are integer nanoseconds since the Unix epoch.
Pure encode/decode here; the I/O lives in :mod:`alphapulse.api.orders` and :mod:`alphapulse.api.events`.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

__all__ = (
    "EVENT_TYPES",
    "FILL_EVENT_TYPES",
    "STREAM_VERSION",
    "EventError",
    "OrderEvent",
    "OrderRequest",
    "decode_event",
    "encode_cancel",
    "encode_order",
)

STREAM_VERSION = "1"
EVENT_TYPES = frozenset({"accepted", "rejected", "partially_filled", "filled", "cancelled"})
FILL_EVENT_TYPES = frozenset({"partially_filled", "filled"})
_MAX_FIELD_CHARS = 512


class EventError(ValueError):
    """An order event that does not follow the contract; it is recorded and skipped, never retried."""


@dataclass(frozen=True, slots=True)
class OrderRequest:
    order_id: uuid.UUID
    account_id: int
    exchange: str
    symbol: str
    side: str
    type: str
    quantity: Decimal
    limit_price: Decimal | None
    time_in_force: str
    user: str
    created_ns: int


def _dec(value: Decimal) -> str:
    return f"{value:f}"


def encode_order(order: OrderRequest) -> dict[str, str]:
    return {
        "v": STREAM_VERSION,
        "action": "new",
        "order_id": str(order.order_id),
        "account": str(order.account_id),
        "exchange": order.exchange,
        "symbol": order.symbol,
        "side": order.side,
        "type": order.type,
        "quantity": _dec(order.quantity),
        "limit_price": "" if order.limit_price is None else _dec(order.limit_price),
        "time_in_force": order.time_in_force,
        "user": order.user,
        "created_ns": str(order.created_ns),
    }


def encode_cancel(
    *, order_id: uuid.UUID, account_id: int, exchange: str, symbol: str, user: str, created_ns: int
) -> dict[str, str]:
    return {
        "v": STREAM_VERSION,
        "action": "cancel",
        "order_id": str(order_id),
        "account": str(account_id),
        "exchange": exchange,
        "symbol": symbol,
        "user": user,
        "created_ns": str(created_ns),
    }


@dataclass(frozen=True, slots=True)
class OrderEvent:
    order_id: uuid.UUID
    type: str
    ts_ns: int
    reason: str | None = None
    venue_order_id: str | None = None
    fill_id: str | None = None
    price: Decimal | None = None
    qty: Decimal | None = None
    fee: Decimal = Decimal(0)
    fee_asset: str | None = None
    liquidity: str | None = None


def _text(fields: Mapping[str, str], name: str) -> str | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    if len(value) > _MAX_FIELD_CHARS:
        raise EventError(f"field {name!r} is longer than {_MAX_FIELD_CHARS} characters")
    return value


def _positive(fields: Mapping[str, str], name: str, *, allow_zero: bool = False) -> Decimal | None:
    raw = _text(fields, name)
    if raw is None:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation as e:
        raise EventError(f"field {name!r}={raw!r} is not a decimal") from e
    if not value.is_finite() or value < 0 or (value == 0 and not allow_zero):
        raise EventError(f"field {name!r}={raw!r} is out of range")
    return value


def decode_event(raw: Mapping[bytes | str, bytes | str]) -> OrderEvent:
    """Validate one ``alphapulse:order-events`` entry. Raises :class:`EventError`."""
    try:
        fields = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in raw.items()
        }
    except UnicodeDecodeError as e:
        raise EventError("fields are not UTF-8") from e
    if fields.get("v") != STREAM_VERSION:
        raise EventError(f"unsupported version {fields.get('v')!r}")
    event_type = fields.get("type", "")
    if event_type not in EVENT_TYPES:
        raise EventError(f"unknown event type {event_type!r}")
    try:
        order_id = uuid.UUID(fields.get("order_id", ""))
    except ValueError as e:
        raise EventError(f"order_id {fields.get('order_id')!r} is not a UUID") from e
    try:
        ts_ns = int(fields.get("ts_ns", ""))
    except ValueError as e:
        raise EventError("ts_ns is not an integer") from e
    if not 0 < ts_ns < 2**63:
        raise EventError("ts_ns is out of range")
    event = OrderEvent(
        order_id=order_id,
        type=event_type,
        ts_ns=ts_ns,
        reason=_text(fields, "reason"),
        venue_order_id=_text(fields, "venue_order_id"),
        fill_id=_text(fields, "fill_id"),
        price=_positive(fields, "price"),
        qty=_positive(fields, "qty"),
        fee=_positive(fields, "fee", allow_zero=True) or Decimal(0),
        fee_asset=_text(fields, "fee_asset"),
        liquidity=_text(fields, "liquidity"),
    )
    if event_type in FILL_EVENT_TYPES and (event.fill_id is None or event.price is None or event.qty is None):
        raise EventError(f"a {event_type} event needs fill_id, price and qty")
    if event.liquidity not in {None, "maker", "taker"}:
        raise EventError(f"liquidity {event.liquidity!r} is not maker or taker")
    return event
