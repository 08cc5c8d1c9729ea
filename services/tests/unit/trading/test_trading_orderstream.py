"""The order stream contract with the API (alphapulse.api.streams): requests in, events out."""

import uuid
from decimal import Decimal

import pytest

from alphapulse.protocol import Exchange
from alphapulse.trading.orderstream import CancelRequest, OrderRequest, RequestError, event_fields, parse_request

OID = str(uuid.uuid4())
NEW = {
    "v": "1", "action": "new", "order_id": OID, "account": "3", "exchange": "kraken", "symbol": "BTC-USD",
    "side": "sell", "type": "limit", "quantity": "0.25", "limit_price": "95000.1", "time_in_force": "ioc",
    "user": "bob", "created_ns": "17",
}  # fmt: skip


def test_a_new_order_request_as_the_api_encodes_it() -> None:
    req = parse_request({k.encode(): v.encode() for k, v in NEW.items()})  # redis hands us bytes
    assert req == OrderRequest(
        OID, "3", Exchange.KRAKEN, "BTC-USD", "sell", "limit", Decimal("0.25"), Decimal("95000.1"), "ioc", "bob", 17
    )


def test_cancel_request() -> None:
    req = parse_request({"v": "1", "action": "cancel", "order_id": OID, "exchange": "binance", "symbol": "ETH-USDT"})
    assert req == CancelRequest(OID, Exchange.BINANCE, "ETH-USDT", "")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"side": "short"}, "side"),
        ({"type": "stop"}, "type"),
        ({"quantity": "-1"}, "quantity"),
        ({"quantity": "NaN"}, "quantity"),
        ({"limit_price": ""}, "limit_price"),
        ({"exchange": "ftx"}, "exchange"),
        ({"time_in_force": "day"}, "time_in_force"),
        ({"v": "2"}, "version"),
        ({"type": "market"}, "market order takes no limit_price"),
    ],
)
def test_invalid_requests_are_rejected_with_their_order_id(change: dict[str, str], reason: str) -> None:
    with pytest.raises(RequestError, match=reason) as info:
        parse_request({**NEW, **change})
    assert info.value.order_id == OID


def test_a_request_without_an_order_id_cannot_be_answered() -> None:
    with pytest.raises(RequestError) as info:
        parse_request({**NEW, "order_id": "not-a-uuid"})
    assert info.value.order_id is None


def test_event_fields_follow_the_api_decoder() -> None:
    fields = event_fields("filled", OID, 5, fill_id="T-1", price="90001.00", qty="0.5", fee="45.0005",
                          fee_asset="USDT", liquidity="taker", reason=None)  # fmt: skip
    assert fields == {
        "v": "1", "type": "filled", "order_id": OID, "ts_ns": "5", "fill_id": "T-1", "price": "90001.00",
        "qty": "0.5", "fee": "45.0005", "fee_asset": "USDT", "liquidity": "taker",
    }  # fmt: skip
