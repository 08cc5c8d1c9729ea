"""The Redis stream contract with the API, as pure functions (no I/O, no NautilusTrader).

``alphapulse:orders`` entries (written by the API, ``alphapulse.api.streams.encode_order``)::

    v=1 action=new order_id=<uuid> account=<int> exchange=binance symbol=BTC-USDT side=buy|sell
    type=market|limit quantity=<decimal> limit_price=<decimal or ""> time_in_force=gtc|ioc|fok
    user=<name> created_ns=<int>
    v=1 action=cancel order_id=<uuid> account=... exchange=... symbol=... user=... created_ns=...

``alphapulse:order-events`` entries (read by the API, ``alphapulse.api.streams.decode_event``)::

    v=1 type=accepted|rejected|partially_filled|filled|cancelled order_id=<uuid> ts_ns=<int>
    [reason=...] [venue_order_id=...] [fill_id=... price=<decimal> qty=<decimal> fee=<decimal>
    fee_asset=<code> liquidity=maker|taker]

Every value is a string; decimals are plain decimal strings, never floats.
"""

import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from alphapulse.protocol import Exchange

__all__ = ("STREAM_VERSION", "CancelRequest", "OrderRequest", "RequestError", "event_fields", "parse_request")

STREAM_VERSION = "1"
SIDES = frozenset({"buy", "sell"})
TYPES = frozenset({"market", "limit"})
TIFS = frozenset({"gtc", "ioc", "fok"})


class RequestError(ValueError):
    """An order request that breaks the contract; answered with a ``rejected`` event when it names an order."""

    def __init__(self, reason: str, order_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.order_id = order_id


@dataclass(frozen=True, slots=True)
class OrderRequest:
    order_id: str
    account: str
    exchange: Exchange
    symbol: str
    side: str
    type: str
    quantity: Decimal
    limit_price: Decimal | None
    time_in_force: str
    user: str
    created_ns: int


@dataclass(frozen=True, slots=True)
class CancelRequest:
    order_id: str
    exchange: Exchange
    symbol: str
    user: str


def _text_fields(raw: dict[bytes | str, bytes | str]) -> dict[str, str]:
    return {
        (k.decode() if isinstance(k, bytes) else k): (v.decode(errors="replace") if isinstance(v, bytes) else v)
        for k, v in raw.items()
    }


def _decimal(fields: dict[str, str], name: str, order_id: str) -> Decimal:
    try:
        value = Decimal(fields.get(name, ""))
    except InvalidOperation as e:
        raise RequestError(f"{name} {fields.get(name)!r} is not a decimal", order_id) from e
    if not value.is_finite() or value <= 0:
        raise RequestError(f"{name} must be a positive decimal", order_id)
    return value


def parse_request(raw: dict[bytes | str, bytes | str]) -> OrderRequest | CancelRequest:
    fields = _text_fields(raw)
    order_id = fields.get("order_id", "")
    try:
        uuid.UUID(order_id)
    except ValueError as e:
        raise RequestError(f"order_id {order_id!r} is not a UUID") from e
    if fields.get("v") != STREAM_VERSION:
        raise RequestError(f"unsupported stream version {fields.get('v')!r}", order_id)
    try:
        exchange = Exchange[fields.get("exchange", "").upper()]
    except KeyError as e:
        raise RequestError(f"unknown exchange {fields.get('exchange')!r}", order_id) from e
    symbol = fields.get("symbol", "").upper()
    if "-" not in symbol:
        raise RequestError(f"symbol {symbol!r} is not BASE-QUOTE", order_id)
    action = fields.get("action", "new")
    if action == "cancel":
        return CancelRequest(order_id, exchange, symbol, fields.get("user", ""))
    if action != "new":
        raise RequestError(f"unknown action {action!r}", order_id)
    side, otype, tif = fields.get("side", ""), fields.get("type", ""), fields.get("time_in_force", "gtc")
    if side not in SIDES:
        raise RequestError(f"side {side!r} is not buy or sell", order_id)
    if otype not in TYPES:
        raise RequestError(f"type {otype!r} is not market or limit", order_id)
    if tif not in TIFS:
        raise RequestError(f"time_in_force {tif!r} is not gtc, ioc or fok", order_id)
    quantity = _decimal(fields, "quantity", order_id)
    limit_price = _decimal(fields, "limit_price", order_id) if otype == "limit" else None
    if otype == "market" and fields.get("limit_price"):
        raise RequestError("a market order takes no limit_price", order_id)
    try:
        created_ns = int(fields.get("created_ns", "0"))
    except ValueError as e:
        raise RequestError("created_ns is not an integer", order_id) from e
    return OrderRequest(
        order_id,
        fields.get("account", ""),
        exchange,
        symbol,
        side,
        otype,
        quantity,
        limit_price,
        tif,
        fields.get("user", ""),
        created_ns,
    )


def event_fields(
    event_type: str,
    order_id: str,
    ts_ns: int,
    *,
    reason: str | None = None,
    venue_order_id: str | None = None,
    fill_id: str | None = None,
    price: str | None = None,
    qty: str | None = None,
    fee: str | None = None,
    fee_asset: str | None = None,
    liquidity: str | None = None,
) -> dict[str, str]:
    out = {"v": STREAM_VERSION, "type": event_type, "order_id": order_id, "ts_ns": str(ts_ns)}
    optional = {
        "reason": reason,
        "venue_order_id": venue_order_id,
        "fill_id": fill_id,
        "price": price,
        "qty": qty,
        "fee": fee,
        "fee_asset": fee_asset,
        "liquidity": liquidity,
    }
    out.update({k: v[:512] for k, v in optional.items() if v})
    return out
