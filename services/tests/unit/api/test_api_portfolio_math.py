"""Average-cost positions, PnL, balances and equity: pure arithmetic, exact decimals."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alphapulse.api.portfolio import (
    Position,
    apply_fill,
    balance_deltas,
    equity,
    split_symbol,
    unrealised_pnl,
)

D = Decimal  # short literals keep the vectors readable


def test_buys_average_the_cost() -> None:
    pos = apply_fill(Position(), side="buy", qty=D("1"), price=D("100"))
    pos = apply_fill(pos, side="buy", qty=D("3"), price=D("200"))
    assert pos == Position(D("4"), D("175"), D(0), D(0))


def test_partial_close_books_realised_pnl_and_keeps_the_average() -> None:
    pos = apply_fill(Position(D("4"), D("175")), side="sell", qty=D("1"), price=D("200"), fee=D("0.5"))
    assert pos == Position(D("3"), D("175"), D("25"), D("0.5"))


def test_flip_from_long_to_short_opens_at_the_fill_price() -> None:
    pos = apply_fill(Position(D("1"), D("100")), side="sell", qty=D("3"), price=D("90"))
    assert pos == Position(D("-2"), D("90"), D("-10"), D(0))
    closed = apply_fill(pos, side="buy", qty=D("2"), price=D("80"))
    assert closed == Position(D("0"), D("0"), D("10"), D(0))


def test_unrealised_pnl_for_long_short_and_unpriced() -> None:
    assert unrealised_pnl(Position(D("2"), D("100")), D("110")) == D("20")
    assert unrealised_pnl(Position(D("-2"), D("100")), D("110")) == D("-20")
    assert unrealised_pnl(Position(D("2"), D("100")), None) == D(0)


def test_balance_deltas_move_base_quote_and_fee() -> None:
    assert balance_deltas(
        symbol="BTC-USDT", side="buy", qty=D("0.5"), price=D("60000"), fee=D("3"), fee_asset=None
    ) == {"BTC": D("0.5"), "USDT": D("-30003")}
    assert balance_deltas(
        symbol="BTC-USDT", side="sell", qty=D("0.5"), price=D("60000"), fee=D("0.001"), fee_asset="BNB"
    ) == {"BTC": D("-0.5"), "USDT": D("30000"), "BNB": D("-0.001")}


def test_equity_values_balances_and_lists_what_has_no_price() -> None:
    total, unpriced = equity(
        {"USDT": D("100"), "BTC": D("0.5"), "XYZ": D("3"), "DUST": D(0)}, {"BTC": D("60000")}, "USDT"
    )
    assert total == D("30100")
    assert unpriced == ["XYZ"]


def test_split_symbol_refuses_non_pairs() -> None:
    assert split_symbol("ETH-USD") == ("ETH", "USD")
    with pytest.raises(ValueError, match="BASE-QUOTE"):
        split_symbol("ETHUSD")


_qty = st.decimals(min_value=D("0.001"), max_value=D("1000"), places=3)
_price = st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2)


@given(st.lists(st.tuples(st.sampled_from(["buy", "sell"]), _qty, _price), max_size=30))
def test_position_matches_cash_flow_accounting(fills: list[tuple[str, D, D]]) -> None:
    """Realised + unrealised PnL at any mark equals cash flow plus the position's value at that mark."""
    pos = Position()
    cash = D(0)
    for side, qty, price in fills:
        pos = apply_fill(pos, side=side, qty=qty, price=price)
        cash += -qty * price if side == "buy" else qty * price
    mark = D("123.45")
    total_pnl = pos.realised_pnl + unrealised_pnl(pos, mark)
    assert abs(total_pnl - (cash + pos.qty * mark)) < D("1e-12")
