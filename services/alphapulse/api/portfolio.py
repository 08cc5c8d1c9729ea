"""Portfolio arithmetic: positions by the average-cost method, PnL and equity. Pure functions.

Realised PnL is booked when a fill reduces a position (gross, fees kept apart); unrealised PnL is
``qty * (mark - avg_price)``. Equity values every balance in the account's base currency.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

__all__ = ("Position", "apply_fill", "balance_deltas", "equity", "split_symbol", "unrealised_pnl")

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Position:
    qty: Decimal = ZERO  # signed: negative is short
    avg_price: Decimal = ZERO
    realised_pnl: Decimal = ZERO
    fees: Decimal = ZERO


def _sign(x: Decimal) -> int:
    return (x > 0) - (x < 0)


def apply_fill(pos: Position, *, side: str, qty: Decimal, price: Decimal, fee: Decimal = ZERO) -> Position:
    """The position after one fill."""
    signed = qty if side == "buy" else -qty
    fees = pos.fees + fee
    if pos.qty == 0 or _sign(pos.qty) == _sign(signed):
        new_qty = pos.qty + signed
        avg = (abs(pos.qty) * pos.avg_price + qty * price) / abs(new_qty)
        return Position(new_qty, avg, pos.realised_pnl, fees)
    closed = min(qty, abs(pos.qty))
    realised = pos.realised_pnl + closed * (price - pos.avg_price) * _sign(pos.qty)
    new_qty = pos.qty + signed
    if new_qty == 0:
        avg = ZERO
    elif _sign(new_qty) != _sign(pos.qty):
        avg = price  # flipped: what remains was opened by this fill
    else:
        avg = pos.avg_price
    return Position(new_qty, avg, realised, fees)


def unrealised_pnl(pos: Position, mark: Decimal | None) -> Decimal:
    if mark is None or pos.qty == 0:
        return ZERO
    return pos.qty * (mark - pos.avg_price)


def split_symbol(symbol: str) -> tuple[str, str]:
    """``BTC-USDT`` -> (``BTC``, ``USDT``): normalized symbols are BASE-QUOTE (DESIGN.md)."""
    base, sep, quote = symbol.partition("-")
    if not sep or not base or not quote:
        raise ValueError(f"symbol {symbol!r} is not BASE-QUOTE")
    return base, quote


def balance_deltas(
    *, symbol: str, side: str, qty: Decimal, price: Decimal, fee: Decimal, fee_asset: str | None
) -> dict[str, Decimal]:
    """How one fill moves the account's balances, per asset."""
    base, quote = split_symbol(symbol)
    sign = 1 if side == "buy" else -1
    deltas = {base: sign * qty, quote: -sign * qty * price}
    if fee:
        asset = fee_asset or quote
        deltas[asset] = deltas.get(asset, ZERO) - fee
    return deltas


def equity(
    balances: Mapping[str, Decimal], prices: Mapping[str, Decimal], base_currency: str
) -> tuple[Decimal, list[str]]:
    """Sum of balances valued in ``base_currency`` and the assets that could not be priced.

    ``prices`` maps an asset to its price in the base currency (the base currency itself is 1).
    """
    total = ZERO
    unpriced: list[str] = []
    for asset, amount in balances.items():
        if asset == base_currency:
            total += amount
        elif asset in prices:
            total += amount * prices[asset]
        elif amount != 0:
            unpriced.append(asset)
    return total, sorted(unpriced)
