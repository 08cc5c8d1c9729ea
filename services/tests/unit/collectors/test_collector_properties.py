"""Property tests: whatever a server sends, the parsers raise nothing and account for every message."""

import json
from pathlib import Path

import pytest
from collector_harness import Harness, read_lines
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

VENUES = ("kraken", "coinbase", "binance")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
# shapes close to the venues' own, with values drawn at random: they reach deep into the parsers
keys = st.sampled_from(
    [
        "channel",
        "type",
        "data",
        "symbol",
        "price",
        "qty",
        "side",
        "trade_id",
        "timestamp",
        "checksum",
        "bids",
        "asks",
        "events",
        "trades",
        "sequence_num",
        "product_id",
        "size",
        "time",
        "stream",
        "e",
        "s",
        "t",
        "p",
        "q",
        "T",
        "m",
        "U",
        "u",
        "b",
        "a",
        "updates",
        "tickers",
        "method",
        "success",
        "result",
        "id",
    ]
)
venue_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.text(max_size=12)
    | st.sampled_from(
        [
            "trade",
            "book",
            "ticker",
            "snapshot",
            "update",
            "l2_data",
            "market_trades",
            "BTC/USD",
            "BTC-USD",
            "BTCUSDT",
            "btcusdt@trade",
            "btcusdt@depth@100ms",
            "buy",
            "SELL",
            "bid",
            "90000.1",
            "2026-03-02T14:30:00.1Z",
        ]
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=6),
    max_leaves=25,
)


def _harness(fixtures: Path, venue: str) -> Harness:
    h = Harness(fixtures, venue)
    h.feed(read_lines(fixtures / venue / "session.jsonl")[:40])
    return h


def _accounted(h: Harness) -> int:
    return sum(h.parser.stats.errors.values()) + sum(h.parser.stats.messages.values())


@pytest.mark.parametrize("venue", VENUES)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_random_bytes_raise_nothing_and_are_counted(fixtures_dir: Path, venue: str, data: bytes) -> None:
    h = _harness(fixtures_dir, venue)
    before = _accounted(h)
    h.parser.feed(data, 1)
    h.writer.flush()
    assert _accounted(h) > before
    h.decoded()  # whatever was written decodes


@pytest.mark.parametrize("venue", VENUES)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=json_values | venue_like)
def test_random_json_raises_nothing_and_is_counted(fixtures_dir: Path, venue: str, doc: object) -> None:
    h = _harness(fixtures_dir, venue)
    before = _accounted(h)
    h.parser.feed(json.dumps(doc).encode(), 1)
    h.writer.flush()
    assert _accounted(h) > before
    h.decoded()
