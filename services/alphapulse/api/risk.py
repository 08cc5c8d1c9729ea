"""Pre-trade risk checks: pure functions over an order request, limits and what the market says.

Run before an order is written or queued; the first failed check is returned as a reason the
client can act on (HTTP 422 with ``reason`` in the problem document).
"""

from dataclasses import dataclass
from decimal import Decimal

from alphapulse.api.settings import RiskLimits

__all__ = ("InstrumentRules", "OrderIntent", "check_order")


@dataclass(frozen=True, slots=True)
class InstrumentRules:
    """What the venue allows for one instrument (from the instruments table); ``None`` when unknown."""

    price_increment: Decimal | None
    qty_increment: Decimal | None


@dataclass(frozen=True, slots=True)
class OrderIntent:
    exchange: str
    symbol: str
    side: str
    type: str
    quantity: Decimal
    limit_price: Decimal | None


def _on_increment(value: Decimal, increment: Decimal | None) -> bool:
    return increment is None or increment <= 0 or value % increment == 0


def check_order(
    order: OrderIntent,
    limits: RiskLimits,
    *,
    instrument: InstrumentRules | None,
    reference_price: Decimal | None,
) -> str | None:
    """``None`` if the order may be queued, else the reason it may not.

    ``reference_price`` is what a market order would pay (ask for a buy, bid for a sell, else the
    last trade); a limit order is valued at its limit price.
    """
    key = f"{order.exchange}:{order.symbol}"
    if limits.allowed_symbols is not None and key not in limits.allowed_symbols:
        return f"{key} is not in the allowed symbols"
    if instrument is None:
        return f"{key} is not a known instrument"
    if limits.max_order_qty is not None and order.quantity > limits.max_order_qty:
        return f"quantity {order.quantity} exceeds the maximum order size {limits.max_order_qty}"
    if not _on_increment(order.quantity, instrument.qty_increment):
        return f"quantity {order.quantity} is not a multiple of the quantity increment {instrument.qty_increment}"
    if order.limit_price is not None and not _on_increment(order.limit_price, instrument.price_increment):
        return f"limit price {order.limit_price} is not a multiple of the price increment {instrument.price_increment}"
    price = order.limit_price if order.type == "limit" else reference_price
    if price is None:
        return f"no market price for {key}: cannot check the notional of a market order"
    notional = order.quantity * price
    if notional > limits.max_order_notional:
        return f"notional {notional.normalize():f} exceeds the maximum order notional {limits.max_order_notional}"
    return None
