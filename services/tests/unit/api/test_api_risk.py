"""Pre-trade risk checks."""

from decimal import Decimal

import pytest

from alphapulse.api.risk import InstrumentRules, OrderIntent, check_order
from alphapulse.api.settings import RiskLimits

D = Decimal  # short literals keep the vectors readable

RULES = InstrumentRules(price_increment=D("0.01"), qty_increment=D("0.001"))
LIMITS = RiskLimits(max_order_qty=D("10"), max_order_notional=D("50000"), allowed_symbols=None)


def _order(**changes: object) -> OrderIntent:
    values: dict[str, object] = {
        "exchange": "binance",
        "symbol": "BTC-USDT",
        "side": "buy",
        "type": "limit",
        "quantity": D("0.5"),
        "limit_price": D("60000.00"),
    }
    values.update(changes)
    return OrderIntent(**values)  # type: ignore[arg-type]


def test_a_sound_order_passes() -> None:
    assert check_order(_order(), LIMITS, instrument=RULES, reference_price=None) is None
    assert (
        check_order(_order(type="market", limit_price=None), LIMITS, instrument=RULES, reference_price=D("60000"))
        is None
    )


@pytest.mark.parametrize(
    ("order", "limits", "rules", "reference", "reason"),
    [
        (
            _order(),
            RiskLimits(allowed_symbols=frozenset({"kraken:BTC-USDT"})),
            RULES,
            None,
            "allowed symbols",
        ),
        (_order(), LIMITS, None, None, "not a known instrument"),
        (_order(quantity=D("11")), LIMITS, RULES, None, "maximum order size"),
        (_order(quantity=D("0.0005")), LIMITS, RULES, None, "quantity increment"),
        (_order(limit_price=D("60000.001")), LIMITS, RULES, None, "price increment"),
        (_order(quantity=D("1")), LIMITS, RULES, None, "notional 60000 exceeds"),
        (_order(type="market", limit_price=None), LIMITS, RULES, None, "no market price"),
        (_order(type="market", limit_price=None, quantity=D("2")), LIMITS, RULES, D("30000"), "notional"),
    ],
)
def test_each_limit_refuses_with_a_reason(
    order: OrderIntent, limits: RiskLimits, rules: InstrumentRules | None, reference: D | None, reason: str
) -> None:
    got = check_order(order, limits, instrument=rules, reference_price=reference)
    assert got is not None
    assert reason in got


def test_allowed_symbols_admit_the_listed_pair() -> None:
    limits = RiskLimits(allowed_symbols=frozenset({"binance:BTC-USDT"}))
    assert check_order(_order(), limits, instrument=RULES, reference_price=None) is None
