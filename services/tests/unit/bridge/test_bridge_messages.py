"""The client message parser: known answers, and Hypothesis feeding it anything a browser could send."""

import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alphapulse.bridge.messages import (
    Auth,
    ClientMessageError,
    CloseCode,
    Ping,
    Subscribe,
    Unsubscribe,
    parse_client_message,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"op":"auth","token":"abc"}', Auth("abc")),
        ('{"op":"auth","token":"abc","id":7}', Auth("abc", 7)),
        (
            '{"op":"subscribe","exchange":"binance","symbols":["BTC-USDT","eth-usdt"],"channels":["trades","book"]}',
            Subscribe("binance", ("BTC-USDT", "ETH-USDT"), ("trades", "book")),
        ),
        (
            '{"op":"subscribe","exchange":"Kraken","symbols":["BTC-USD","BTC-USD"],"id":"r1"}',
            Subscribe("kraken", ("BTC-USD",), ("trades", "quotes", "book"), "r1"),
        ),
        (
            '{"op":"unsubscribe","exchange":"coinbase","symbols":["ETH-USD"],"channels":["quotes"]}',
            Unsubscribe("coinbase", ("ETH-USD",), ("quotes",)),
        ),
        ('{"op":"ping","id":1}', Ping(1)),
    ],
)
def test_valid_messages(raw: str, expected: object) -> None:
    assert parse_client_message(raw) == expected


@pytest.mark.parametrize(
    ("raw", "code", "needle"),
    [
        (b'{"op":"ping"}', CloseCode.UNSUPPORTED_DATA, "binary"),
        ("not json", CloseCode.BAD_MESSAGE, "JSON"),
        ("[1,2]", CloseCode.BAD_MESSAGE, "object"),
        ('{"token":"x"}', CloseCode.BAD_MESSAGE, "op"),
        ('{"op":"hack"}', CloseCode.BAD_MESSAGE, "op"),
        ('{"op":"ping","x":1}', CloseCode.BAD_MESSAGE, "unknown field"),
        ('{"op":"auth","token":""}', CloseCode.BAD_MESSAGE, "token"),
        ('{"op":"subscribe","exchange":"ftx","symbols":["BTC-USD"]}', CloseCode.BAD_MESSAGE, "unknown exchange"),
        ('{"op":"subscribe","exchange":"binance","symbols":["BTCUSDT"]}', CloseCode.BAD_MESSAGE, "BASE-QUOTE"),
        ('{"op":"subscribe","exchange":"binance","symbols":[]}', CloseCode.BAD_MESSAGE, "symbols"),
        (
            '{"op":"subscribe","exchange":"binance","symbols":["A-B"],"channels":["candles"]}',
            CloseCode.BAD_MESSAGE,
            "channel",
        ),
        ('{"op":"subscribe","exchange":"binance","symbols":"BTC-USDT"}', CloseCode.BAD_MESSAGE, "array"),
        ('{"op":"ping","id":{"a":1}}', CloseCode.BAD_MESSAGE, "id"),
    ],
)
def test_refusals_carry_code_and_reason(raw: str | bytes, code: int, needle: str) -> None:
    with pytest.raises(ClientMessageError) as info:
        parse_client_message(raw)
    assert info.value.code == code
    assert needle.lower() in info.value.reason.lower()


def test_too_many_symbols_refused() -> None:
    raw = orjson.dumps({"op": "subscribe", "exchange": "binance", "symbols": [f"S{i}-USD" for i in range(65)]}).decode()
    with pytest.raises(ClientMessageError, match="length"):
        parse_client_message(raw)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)
_near_valid = st.fixed_dictionaries(
    {"op": st.sampled_from(["auth", "subscribe", "unsubscribe", "ping", "x"])},
    optional={
        "token": _json_values,
        "exchange": st.sampled_from(["binance", "kraken", "coinbase", "BINANCE", ""]) | _json_values,
        "symbols": st.lists(st.text(max_size=12) | st.sampled_from(["BTC-USDT", "eth-usd"]), max_size=70)
        | _json_values,
        "channels": st.lists(st.sampled_from(["trades", "quotes", "book", "x"]), max_size=4) | _json_values,
        "id": _json_values,
    },
)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_fuzz_arbitrary_input_only_raises_client_errors(raw: str | bytes) -> None:
    error: ClientMessageError | None = None
    try:
        parse_client_message(raw)
    except ClientMessageError as e:
        error = e
    if error is not None:
        assert error.code in {CloseCode.BAD_MESSAGE, CloseCode.UNSUPPORTED_DATA}
        assert error.reason


@settings(max_examples=400, deadline=None)
@given(_near_valid)
def test_fuzz_structured_input_is_validated(doc: dict[str, object]) -> None:
    try:
        msg = parse_client_message(json.dumps(doc))
    except ClientMessageError as e:
        error = e
    else:
        error = None
    if error is not None:
        assert error.code == CloseCode.BAD_MESSAGE
        return
    if isinstance(msg, Subscribe | Unsubscribe):
        assert msg.exchange in {"binance", "kraken", "coinbase"}
        assert 1 <= len(msg.symbols) <= 64
        assert all(s == s.upper() and s.count("-") == 1 for s in msg.symbols)
        assert set(msg.channels) <= {"trades", "quotes", "book"}
    elif isinstance(msg, Auth):
        assert isinstance(msg.token, str)
        assert msg.token
