"""The Redis stream contract with the trading engine: exact field sets, strict event decoding."""

import uuid
from decimal import Decimal

import pytest

from alphapulse.api.streams import EventError, OrderRequest, decode_event, encode_cancel, encode_order

D = Decimal  # short literals keep the vectors readable

OID = uuid.UUID("8a0e6f2c-4c1d-4e4b-9a51-0f5d2b1c9e77")


def test_order_entry_vector() -> None:
    order = OrderRequest(
        order_id=OID,
        account_id=7,
        exchange="kraken",
        symbol="ETH-USD",
        side="sell",
        type="limit",
        quantity=D("1.2500"),
        limit_price=D("3100.5"),
        time_in_force="ioc",
        user="alice",
        created_ns=1_772_461_800_123_456_789,
    )
    assert encode_order(order) == {
        "v": "1",
        "action": "new",
        "order_id": "8a0e6f2c-4c1d-4e4b-9a51-0f5d2b1c9e77",
        "account": "7",
        "exchange": "kraken",
        "symbol": "ETH-USD",
        "side": "sell",
        "type": "limit",
        "quantity": "1.2500",
        "limit_price": "3100.5",
        "time_in_force": "ioc",
        "user": "alice",
        "created_ns": "1772461800123456789",
    }


def test_decimals_never_use_exponents() -> None:
    order = OrderRequest(
        order_id=OID,
        account_id=1,
        exchange="binance",
        symbol="SHIB-USDT",
        side="buy",
        type="market",
        quantity=D("1E+7"),
        limit_price=None,
        time_in_force="gtc",
        user="u",
        created_ns=1,
    )
    fields = encode_order(order)
    assert (fields["quantity"], fields["limit_price"]) == ("10000000", "")


def test_cancel_entry_vector() -> None:
    assert encode_cancel(
        order_id=OID, account_id=7, exchange="kraken", symbol="ETH-USD", user="alice", created_ns=5
    ) == {
        "v": "1",
        "action": "cancel",
        "order_id": str(OID),
        "account": "7",
        "exchange": "kraken",
        "symbol": "ETH-USD",
        "user": "alice",
        "created_ns": "5",
    }


def test_fill_event_decodes_from_redis_bytes() -> None:
    event = decode_event(
        {
            b"v": b"1",
            b"order_id": str(OID).encode(),
            b"type": b"partially_filled",
            b"ts_ns": b"1772461800000000000",
            b"fill_id": b"T-9",
            b"price": b"64000.5",
            b"qty": b"0.01",
            b"fee": b"0.02",
            b"fee_asset": b"USDT",
            b"liquidity": b"taker",
        }
    )
    assert (event.order_id, event.type, event.fill_id, event.price, event.qty, event.fee) == (
        OID,
        "partially_filled",
        "T-9",
        D("64000.5"),
        D("0.01"),
        D("0.02"),
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"v": "2"}, "unsupported version"),
        ({"type": "expired"}, "unknown event type"),
        ({"order_id": "42"}, "not a UUID"),
        ({"ts_ns": "soon"}, "not an integer"),
        ({"ts_ns": "-1"}, "out of range"),
        ({"type": "filled"}, "needs fill_id, price and qty"),
        ({"type": "filled", "fill_id": "f", "price": "NaN", "qty": "1"}, "out of range"),
        ({"type": "filled", "fill_id": "f", "price": "-1", "qty": "1"}, "out of range"),
        ({"type": "filled", "fill_id": "f", "price": "1", "qty": "abc"}, "not a decimal"),
        ({"liquidity": "both"}, "maker or taker"),
        ({"reason": "x" * 600}, "longer than"),
    ],
)
def test_malformed_events_are_refused(change: dict[str, str], message: str) -> None:
    fields = {"v": "1", "order_id": str(OID), "type": "accepted", "ts_ns": "1", **change}
    with pytest.raises(EventError, match=message):
        decode_event(fields)
