"""Each venue's recorded session, parsed without I/O, gives exactly the expected normalized trades."""

from pathlib import Path

import pytest
from collector_harness import Harness, expected_trades, normalized_trades, read_lines

VENUES = ("kraken", "coinbase", "binance")


@pytest.mark.parametrize("venue", VENUES)
def test_session_gives_expected_trades(fixtures_dir: Path, venue: str) -> None:
    h = Harness(fixtures_dir, venue)
    h.feed(read_lines(fixtures_dir / venue / "session.jsonl"))
    assert normalized_trades(h.rendered()) == expected_trades(fixtures_dir, venue)
    assert h.parser.stats.errors == {}
