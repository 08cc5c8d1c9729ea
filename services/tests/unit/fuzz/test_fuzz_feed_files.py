"""Fuzz the feed file loader (``alphapulse.feeds.load_feeds``): a feed file is user input that
reaches a collector's command line and, through the same schema, the operator. Whatever the text,
the loader returns feeds that satisfy the CRD or raises ``ConfigError``; nothing else escapes."""

import re
import string

import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from alphapulse.errors import ConfigError
from alphapulse.feeds import ExchangeFeed, load_feeds

_VALID = """apiVersion: alphapulse.io/v1alpha1
kind: ExchangeFeed
metadata: {name: kraken-spot}
spec: {exchange: kraken, symbols: [BTC-USD]}
"""
# compile the CRD's CEL rules now: the CEL parser raises the recursion limit on first use, which
# Hypothesis reports as an error when it happens inside an example
load_feeds(_VALID)
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")

scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=16)
values = st.recursive(
    scalars
    | st.sampled_from(["kraken", "binance", "BTC-USD", "eth-usdt", "trades", "book", "ws://127.0.0.1:1/x", "1Gi"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=16,
)
spec_keys = st.sampled_from(
    ["exchange", "symbols", "channels", "url", "restUrl", "depth", "placement", "resources", "nodeName", "cpus"]
)
near_valid = st.fixed_dictionaries(
    {
        "apiVersion": st.sampled_from(["alphapulse.io/v1alpha1", "v1"]) | values,
        "kind": st.just("ExchangeFeed") | values,
        "metadata": st.fixed_dictionaries({"name": st.text(max_size=70) | st.just("a-feed") | values}) | values,
        "spec": st.dictionaries(spec_keys, values, max_size=6) | values,
    }
)


def _check(text: str) -> None:
    feeds: list[ExchangeFeed] = []
    message = ""
    try:
        feeds = load_feeds(text, "fuzz.yaml")
    except ConfigError as e:
        message = str(e)
    if message:
        assert message.startswith("fuzz.yaml")  # the error names the file
        return
    for f in feeds:  # what loads is what the CRD allows: a DNS-label name, a known exchange, symbols
        assert _DNS_LABEL.match(f.name) and len(f.name) <= 60, f.name
        assert f.exchange in {"kraken", "coinbase", "binance"}
        assert 1 <= len(f.symbols) <= 200


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
@example("metadata: [1]\nkind: ExchangeFeed\napiVersion: alphapulse.io/v1alpha1")  # was AttributeError
@example("apiVersion: alphapulse.io/v1alpha1\nkind: ExchangeFeed\nmetadata: name\nspec: {}")
@example("a: &a [*a]")
@example(_VALID + "---\n" + _VALID)
def test_arbitrary_text_loads_or_raises_config_error(text: str) -> None:
    _check(text)


@settings(max_examples=80, deadline=None)
@given(st.lists(near_valid, min_size=1, max_size=3))
def test_near_valid_documents_load_or_raise_config_error(docs: list[dict[str, object]]) -> None:
    _check(yaml.safe_dump_all(docs))


@settings(max_examples=100, deadline=None)
@given(st.integers(0, len(_VALID) - 1), st.text(string.printable, min_size=1, max_size=8))
def test_mutated_valid_file_loads_or_raises_config_error(at: int, insert: str) -> None:
    _check(_VALID[:at] + insert + _VALID[at:])
