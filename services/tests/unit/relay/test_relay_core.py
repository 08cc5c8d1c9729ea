"""The relay's chunk logic: sequence checks on whole buffers, gap splicing, consumer filters."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alphapulse.protocol import (
    CELL_BYTES,
    Control,
    ControlOp,
    Exchange,
    Feed,
    FrameDecoder,
    FrameType,
    Gap,
    GapReason,
    Trade,
    encode,
    pack_trade,
    type_mask,
)
from alphapulse.protocol.bulk import CELL_DTYPE
from alphapulse.relay.core import ConsumerFilter, FeedTrack, _member, as_replay, ingest


def trades(seqs: list[int], sid: int = 7) -> bytes:
    return b"".join(pack_trade(sid, s, 1, s, 1, 1, 1, 1) for s in seqs)


@pytest.mark.parametrize("n", [1, 10, 48, 49, 300, 1365])
def test_contiguous_chunks_pass_unchanged_and_advance_the_expectation(n: int) -> None:
    track = FeedTrack("f")
    chunk = trades(list(range(n)))
    pieces, gaps = ingest(track, chunk, 0)
    assert pieces == [chunk]
    assert gaps == []
    assert track.next_seq == n
    _, gaps = ingest(track, trades(list(range(n, 2 * n))), 0)
    assert gaps == []


@pytest.mark.parametrize(
    ("seqs", "first", "count", "at_cell"),
    [
        ([0, 1, 2, 5, 6], 3, 2, 3),  # a hole in the middle: span longer than the count
        ([0, 1, 1, 2, 3], 2, None, 2),  # a repeat: span shorter than the count (backwards -> unknown)
        ([4, 5, 6], 0, 4, 0),  # the chunk starts past the expectation
    ],
)
def test_breaks_are_found_and_gap_frames_spliced_where_they_happened(
    seqs: list[int], first: int, count: int | None, at_cell: int
) -> None:
    track = FeedTrack("f")
    track.next_seq = 0
    pieces, gaps = ingest(track, trades(seqs), 0)
    assert gaps[0].reason == GapReason.SEQUENCE
    assert gaps[0].first == first
    if count is not None:
        assert gaps[0].count == count
    frames = FrameDecoder().feed(b"".join(pieces))
    assert isinstance(frames[at_cell], Gap)
    assert [f.seq for f in frames if isinstance(f, Trade)] == seqs


def test_sequence_wraps_at_32_bits() -> None:
    track = FeedTrack("f")
    track.next_seq = 2**32 - 2
    _, gaps = ingest(track, trades([2**32 - 2, 2**32 - 1, 0, 1]), 0)
    assert gaps == []
    assert track.next_seq == 2


def test_invalid_cells_are_refused() -> None:
    bad = bytearray(trades([0, 1]))
    bad[CELL_BYTES] = 9  # version 9
    with pytest.raises(Exception, match="version"):
        ingest(FeedTrack("f"), bytes(bad), 0)
    control = encode(Control(ControlOp.SUBSCRIBE))
    with pytest.raises(Exception, match="control"):
        ingest(FeedTrack("f"), control, 0)


def test_new_epoch_reports_the_lost_tail_and_counts_from_zero() -> None:
    track = FeedTrack("f")
    ingest(track, encode(Feed(11, 0, Exchange.KRAKEN, "f", 1)) + trades([2, 3]), 0)
    assert track.next_seq == 4
    hello = as_replay(encode(Feed(11, 0, Exchange.KRAKEN, "f", 2)))
    _, gaps = ingest(track, hello + trades([5, 6]), 0)
    reasons = [g.reason for g in gaps]
    assert reasons == [GapReason.FEED_LOST, GapReason.SEQUENCE]
    assert gaps[1].first == 2  # the replayed feed frame covered cells 0 and 1 of the new session
    assert gaps[1].count == 3


def test_filter_keeps_state_frames_and_only_the_subscribed_symbol_and_types() -> None:
    f = ConsumerFilter()
    assert f.everything
    f.apply(Control(ControlOp.RESET))
    f.apply(Control(ControlOp.SUBSCRIBE, 7, type_mask(FrameType.TRADE)))
    state = encode(Feed(11, 0, Exchange.BINANCE, "f", 1))
    mixed = state + trades([2, 3], sid=7) + trades([4], sid=8)
    for size_cells in (len(mixed) // CELL_BYTES, 64):  # the small path and the NumPy path
        chunk = mixed if size_cells < 16 else mixed + trades(list(range(5, 5 + 60)), sid=8)
        kept = FrameDecoder().feed(f.select(chunk, None, Exchange.BINANCE))
        assert isinstance(kept[0], Feed)
        assert [t.symbol_id for t in kept if isinstance(t, Trade)] == [7, 7]
    f.apply(Control(ControlOp.UNSUBSCRIBE, 7, type_mask(FrameType.TRADE)))
    assert f.select(trades([9], sid=7), None, Exchange.BINANCE) == b""


_FEED_TYPES = [t for t in FrameType if t != FrameType.CONTROL]


@settings(max_examples=300, deadline=None)
@given(
    cells=st.lists(st.tuples(st.sampled_from(_FEED_TYPES), st.sampled_from([0, 7, 8, 9])), min_size=1, max_size=16),
    subs=st.lists(
        st.tuples(
            st.sampled_from([0, 7, 8]),  # symbol id (0: every symbol)
            st.integers(0, 7),  # exchange mask (with symbol 0)
            st.integers(0, (1 << 12) - 1),  # type mask
            st.booleans(),  # subscribe or unsubscribe
        ),
        max_size=5,
    ),
    exchange=st.sampled_from([None, Exchange.KRAKEN, Exchange.BINANCE]),
)
def test_the_small_path_selects_exactly_what_the_numpy_path_does(
    cells: list[tuple[FrameType, int]], subs: list[tuple[int, int, int, bool]], exchange: Exchange | None
) -> None:
    chunk = bytearray(trades(list(range(len(cells)))))
    for i, (ftype, key) in enumerate(cells):
        chunk[i * CELL_BYTES + 1] = ftype
        chunk[i * CELL_BYTES + 4 : i * CELL_BYTES + 8] = key.to_bytes(4, "little")
    f = ConsumerFilter()
    f.apply(Control(ControlOp.RESET))
    for sid, exchanges, mask, adding in subs:
        op = ControlOp.SUBSCRIBE if adding else ControlOp.UNSUBSCRIBE
        f.apply(Control(op, sid, mask, exchange_mask=exchanges))
    data = bytes(chunk)
    assert f.select(data, None, exchange) == f.select(data, np.frombuffer(data, dtype=CELL_DTYPE), exchange)


@given(
    st.lists(st.integers(0, 2**32 - 1), max_size=300),
    st.sets(st.integers(0, 2**32 - 1), min_size=1, max_size=12),
)
def test_member_is_isin_for_sorted_ids(keys: list[int], ids: set[int]) -> None:
    """The per-read membership test over symbol ids matches np.isin, past either end of the ids too."""
    sorted_ids = np.array(sorted(ids), dtype=np.uint32)
    arr = np.array(keys + sorted(ids) + [min(ids) - 1 if min(ids) else 0, 2**32 - 1], dtype=np.uint32)
    assert (_member(arr, sorted_ids) == np.isin(arr, sorted_ids)).all()
