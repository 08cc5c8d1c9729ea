"""Loss detection and recovery without I/O: gap sessions, resyncs that end in a correct book, hostile input."""

import json
from pathlib import Path

import pytest
from collector_harness import (
    Harness,
    book_strings,
    expected_trades,
    kraken_snapshot_message,
    meta_book,
    normalized_trades,
    read_lines,
)

from alphapulse.collectors.binance import DepthSnapshot
from alphapulse.collectors.parsing import Action
from alphapulse.protocol import FeedState, Gap, GapReason, Status, from_fixed

VENUES = ("kraken", "coinbase", "binance")


def first_gap_line(h: Harness, lines: list[bytes]) -> tuple[int, Gap]:
    for n, line in enumerate(lines, start=1):
        h.feed([line])
        gaps = [f for f in h.decoded() if isinstance(f, Gap)]
        if gaps:
            return n, gaps[0]
    raise AssertionError("no gap frame")


@pytest.mark.parametrize("venue", VENUES)
def test_gap_session_gap_frame_at_the_right_line(fixtures_dir: Path, venue: str) -> None:
    meta = json.loads((fixtures_dir / venue / "gap_session.meta.json").read_text())
    h = Harness(fixtures_dir, venue)
    lines = read_lines(fixtures_dir / venue / "gap_session.jsonl")
    if venue == "binance":
        # the REST snapshot the session goes with, answered when the parser asks for it
        snap = DepthSnapshot(**json.loads((fixtures_dir / venue / "rest_depth_snapshot.json").read_text()))
        for n, line in enumerate(lines, start=1):
            h.feed([line])
            for action in h.parser.actions:
                if action.kind == "fetch_snapshot" and n < 230:
                    h.parser.apply_snapshot(action.natives[0], snap, 0)
            h.parser.actions.clear()
            gaps = [f for f in h.decoded() if isinstance(f, Gap)]
            if gaps:
                break
        line_no, gap = n, gaps[0]
    else:
        line_no, gap = first_gap_line(h, lines)
    assert line_no == meta["detected_at"]["gap_session_line"]
    expected_reason = {"kraken": GapReason.CHECKSUM, "coinbase": GapReason.EXCHANGE, "binance": GapReason.EXCHANGE}
    assert gap.reason == expected_reason[venue]
    if venue == "coinbase":
        assert (gap.first, gap.count) == (meta["dropped_message"]["sequence_num"], 1)
    if venue == "binance":
        dropped = meta["dropped_message"]
        assert (gap.first, gap.count) == (dropped["U"], dropped["u"] - dropped["U"] + 1)
    assert any(isinstance(f, Status) and f.state == FeedState.RESYNCING for f in h.decoded())


def test_kraken_checksum_mismatch_resyncs_to_the_correct_book(fixtures_dir: Path) -> None:
    session = read_lines(fixtures_dir / "kraken" / "session.jsonl")
    gap_lines = read_lines(fixtures_dir / "kraken" / "gap_session.jsonl")
    reference = Harness(fixtures_dir, "kraken")
    h = Harness(fixtures_dir, "kraken")
    reference.feed(session[:169])  # session line 169 is the one the gap session lacks
    h.feed(gap_lines[:168])
    assert h.parser.stats.checksum_failures == 0
    reference.feed(session[169:170])
    h.feed(gap_lines[168:169])  # its checksum no longer matches
    assert h.parser.stats.checksum_failures == 1
    assert h.parser.actions == [Action("resubscribe_book", ("BTC/USD",))]
    assert h.parser.resubscribe_book_messages(("BTC/USD",))[1].startswith('{"method":"subscribe"')
    h.feed([gap_lines[169]])  # updates before the new snapshot are of no use
    reference.feed([session[170]])
    h.feed([kraken_snapshot_message(reference, "BTC/USD")])
    h.feed(gap_lines[170:])
    reference.feed(session[171:])
    assert h.parser.stats.checksum_failures == 1
    assert book_strings(h, "BTC/USD") == book_strings(reference, "BTC/USD")
    assert reference.parser.stats.checksum_failures == 0  # every checksum of the session verified
    assert [f.state for f in h.decoded() if isinstance(f, Status)][-2:] == [FeedState.RESYNCING, FeedState.SUBSCRIBED]


def test_binance_broken_update_chain_resyncs_to_the_correct_book(fixtures_dir: Path) -> None:
    meta = json.loads((fixtures_dir / "binance" / "session_meta.json").read_text())
    session = read_lines(fixtures_dir / "binance" / "session.jsonl")
    gap_lines = read_lines(fixtures_dir / "binance" / "gap_session.jsonl")
    rest = DepthSnapshot(**json.loads((fixtures_dir / "binance" / "rest_depth_snapshot.json").read_text()))
    reference, h = Harness(fixtures_dir, "binance"), Harness(fixtures_dir, "binance")

    def run(harness: Harness, lines: list[bytes]) -> None:
        for line in lines:
            harness.feed([line])
            actions, harness.parser.actions[:] = list(harness.parser.actions), []
            for action in actions:
                if action.kind == "fetch_snapshot":
                    harness.parser.apply_snapshot(action.natives[0], rest, 0)

    # gap line k >= 227 is session line k + 1 (session line 227 was dropped)
    run(reference, session[:231])  # up to the event that reveals the loss (gap line 230)
    run(h, gap_lines[:229])
    assert h.parser.actions == []
    h.feed([gap_lines[229]])  # U jumps past local + 1
    assert h.parser.actions == [Action("fetch_snapshot", ("BTCUSDT",))]
    h.parser.actions.clear()
    spec = reference.parser.instruments["BTCUSDT"]
    book = reference.parser.books.get(spec.info.symbol_id)
    ps, qs = spec.price_scale, spec.qty_scale
    fresh = DepthSnapshot(  # what GET /api/v3/depth answers now: the reference book and its update id
        lastUpdateId=reference.parser._sync[spec.info.symbol_id].local,
        bids=[(from_fixed(p, ps), from_fixed(q, qs)) for p, q in book.bids],
        asks=[(from_fixed(p, ps), from_fixed(q, qs)) for p, q in book.asks],
    )
    h.parser.apply_snapshot("BTCUSDT", fresh, 0)
    run(h, gap_lines[230:])
    assert book_strings(h, "BTCUSDT") == meta_book(meta["final_book_BTCUSDT"])
    assert [f.state for f in h.decoded() if isinstance(f, Status)][-2:] == [FeedState.RESYNCING, FeedState.SUBSCRIBED]


def test_coinbase_full_session_book_matches(fixtures_dir: Path) -> None:
    meta = json.loads((fixtures_dir / "coinbase" / "session_meta.json").read_text())
    h = Harness(fixtures_dir, "coinbase")
    h.feed(read_lines(fixtures_dir / "coinbase" / "session.jsonl"))
    assert book_strings(h, "BTC-USD") == meta_book(meta["final_book_BTC-USD"])


def test_binance_full_session_book_matches(fixtures_dir: Path) -> None:
    meta = json.loads((fixtures_dir / "binance" / "session_meta.json").read_text())
    rest = DepthSnapshot(**json.loads((fixtures_dir / "binance" / "rest_depth_snapshot.json").read_text()))
    h = Harness(fixtures_dir, "binance")
    for line in read_lines(fixtures_dir / "binance" / "session.jsonl"):
        h.feed([line])
        actions, h.parser.actions[:] = list(h.parser.actions), []
        for action in actions:
            if action.kind == "fetch_snapshot":
                h.parser.apply_snapshot(action.natives[0], rest, 0)
    assert book_strings(h, "BTCUSDT") == meta_book(meta["final_book_BTCUSDT"])


# -- hostile input -------------------------------------------------------------------------------------
PRELUDE = {"kraken": 3, "coinbase": 0, "binance": 0}  # Kraken's scales come from session line 3


@pytest.mark.parametrize("venue", VENUES)
def test_every_malformed_line_is_counted_and_skipped(fixtures_dir: Path, venue: str) -> None:
    index = json.loads((fixtures_dir / venue / "malformed_index.json").read_text())
    lines = read_lines(fixtures_dir / venue / "malformed.jsonl")
    assert len(lines) == len(index)
    h = Harness(fixtures_dir, venue)
    h.feed(read_lines(fixtures_dir / venue / "session.jsonl")[: PRELUDE[venue]])
    before = len(h.decoded())
    for entry, line in zip(index, lines, strict=True):
        errors_before = sum(h.parser.stats.errors.values())
        other_before = h.parser.stats.messages.get("other", 0)
        h.feed([line])
        errors = sum(h.parser.stats.errors.values()) - errors_before
        if entry["expect"] in ("reject", "error"):
            assert errors == 1, entry
        else:
            assert errors == 0, entry
            assert h.parser.stats.messages.get("other", 0) == other_before + 1, entry
    assert len(h.decoded()) == before, "no frame may come out of a malformed message"
    if venue != "kraken":
        assert "venue_error" in h.parser.stats.errors


@pytest.mark.parametrize("venue", VENUES)
def test_malformed_lines_inside_a_session_leave_it_intact(fixtures_dir: Path, venue: str) -> None:
    session = read_lines(fixtures_dir / venue / "session.jsonl")
    bad = read_lines(fixtures_dir / venue / "malformed.jsonl")
    at = 60  # after the prelude, books and instruments are established
    h = Harness(fixtures_dir, venue)
    rest = None
    if venue == "binance":
        rest = DepthSnapshot(**json.loads((fixtures_dir / venue / "rest_depth_snapshot.json").read_text()))
    for line in session[:at] + bad + session[at:]:
        h.feed([line])
        actions, h.parser.actions[:] = list(h.parser.actions), []
        for action in actions:
            if action.kind == "fetch_snapshot" and rest is not None:
                h.parser.apply_snapshot(action.natives[0], rest, 0)
    assert normalized_trades(h.rendered()) == expected_trades(fixtures_dir, venue)
    assert not any(isinstance(f, Gap) for f in h.decoded())
