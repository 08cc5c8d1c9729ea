"""atheris: the feed file loader (``alphapulse.feeds.load_feeds``): YAML → CRD schema → CEL rules.
Only ``ConfigError`` may escape; what loads has a DNS-label name and a known exchange.

``python e2e/fuzz/fuzz_feeds.py -max_total_time=60``
"""

import re
from collections.abc import Iterator

import atheris
from fuzz_common import REPO, run

with atheris.instrument_imports(include=["alphapulse"]):
    from alphapulse.errors import ConfigError
    from alphapulse.feeds import load_feeds

_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def target(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    try:
        feeds = load_feeds(text, "fuzz.yaml")
    except ConfigError:
        return
    for f in feeds:
        assert _DNS_LABEL.match(f.name) and len(f.name) <= 60, f.name
        assert f.exchange in ("kraken", "coinbase", "binance")


def seeds() -> Iterator[bytes]:
    for p in sorted((REPO / "charts" / "alphapulse" / "examples").glob("*.yaml")):
        yield p.read_bytes()
    yield (
        b"apiVersion: alphapulse.io/v1alpha1\nkind: ExchangeFeed\n"
        b"metadata: {name: a}\nspec: {exchange: kraken, symbols: [BTC-USD]}\n"
    )


if __name__ == "__main__":
    load_feeds(next(iter(seeds())).decode())  # compile the CEL rules once, outside the fuzzing loop
    run("feeds", target, seeds)
