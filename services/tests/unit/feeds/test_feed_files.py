"""Feed files: the CRD's schema and CEL rules, applied locally with clear messages."""

from pathlib import Path

import pytest

from alphapulse.errors import ConfigError
from alphapulse.feeds import load_feed_file, load_feeds

HEADER = "apiVersion: alphapulse.io/v1alpha1\nkind: ExchangeFeed\n"


def test_defaults_from_the_crd_are_applied() -> None:
    (feed,) = load_feeds(HEADER + "metadata: {name: kraken-spot}\nspec: {exchange: kraken, symbols: [BTC-USD]}\n")
    assert feed.channels == ("trades", "quotes", "book")
    assert feed.depth == 10
    assert feed.url is None


def test_multi_document_file_with_other_kinds(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: trading}\n---\n"
        + HEADER
        + "metadata: {name: a}\nspec: {exchange: binance, symbols: [BTC-USDT]}\n---\n"
        + HEADER
        + "metadata: {name: b}\nspec: {exchange: coinbase, symbols: [ETH-USD], channels: [trades]}\n"
    )
    feeds = load_feed_file(path)
    assert [(f.name, f.exchange, f.channels) for f in feeds] == [
        ("a", "binance", ("trades", "quotes", "book")),
        ("b", "coinbase", ("trades",)),
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{exchange: bitmex, symbols: [BTC-USD]}", "spec.exchange: 'bitmex' is not one of"),
        ("{exchange: kraken, symbols: [btc/usd]}", "does not match"),
        ("{exchange: kraken, symbols: []}", "should be non-empty"),
        ("{exchange: kraken, symbols: [BTC-USD], channels: [candles]}", "'candles' is not one of"),
        ("{exchange: kraken, symbols: [BTC-USD], url: http://x}", "spec.url: 'http://x' does not match"),
        ("{exchange: kraken, symbols: [BTC-USD], restUrl: 'http://x'}", "restUrl replaces the venue's REST base"),
        ("{exchange: kraken, symbols: [BTC-USD], depth: 0}", "less than the minimum"),
        ("{exchange: kraken}", "'symbols' is a required property"),
    ],
)
def test_invalid_specs_are_refused_with_the_reason(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match="feed 'x' is invalid") as err:
        load_feeds(HEADER + f"metadata: {{name: x}}\nspec: {spec}\n")
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("apiVersion: v1\nkind: ExchangeFeed\nmetadata: {name: x}\nspec: {}\n", "expected apiVersion"),
        (HEADER + "spec: {exchange: kraken, symbols: [BTC-USD]}\n", "metadata.name is required"),
        (HEADER + "metadata: {name: Bad_Name}\nspec: {exchange: kraken, symbols: [BTC-USD]}\n", "DNS label"),
        ("{{{", "not valid YAML"),
        ("- just\n- a list\n", "expected a mapping"),
    ],
)
def test_malformed_documents_get_clear_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_feeds(text)


def test_duplicate_names_and_missing_files(tmp_path: Path) -> None:
    doc = HEADER + "metadata: {name: same}\nspec: {exchange: kraken, symbols: [BTC-USD]}\n"
    with pytest.raises(ConfigError, match="unique"):
        load_feeds(doc + "---\n" + doc)
    with pytest.raises(ConfigError, match="cannot read feed file"):
        load_feed_file(tmp_path / "missing.yaml")
    (tmp_path / "empty.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n")
    with pytest.raises(ConfigError, match="no ExchangeFeed documents"):
        load_feed_file(tmp_path / "empty.yaml")
