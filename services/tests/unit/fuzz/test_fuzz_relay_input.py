"""Fuzz the relay's input path: bytes from a feed socket go through ``FrameAligner`` and
``relay.core.ingest``; bytes from a consumer through ``FrameDecoder``; consumers' filters through
``ConsumerFilter``. Any process that can write to the hostPath socket directory (or, with
``--listen-tcp``, reach the relay's port) can send the relay anything, so whatever arrives the relay
either forwards whole cells (with gap frames spliced in) or raises ``FrameError`` (it then closes
that one connection). The small (bytes-slicing) and NumPy paths must agree."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alphapulse.protocol import (
    CELL_BYTES,
    Control,
    ControlOp,
    Exchange,
    Feed,
    FeedState,
    FrameAligner,
    FrameDecoder,
    FrameError,
    FrameType,
    Gap,
    Instrument,
    Status,
    decode,
    encode,
    feed_id,
    pack_book,
    pack_quote,
    pack_trade,
    symbol_id,
)
from alphapulse.protocol.bulk import CELL_DTYPE
from alphapulse.relay.core import ConsumerFilter, FeedTrack, ingest

FID = feed_id("fuzz-feed")
SIDS = [symbol_id(Exchange.KRAKEN, s) for s in ("BTC-USD", "ETH-USD")]
T0 = 1_772_461_900_000_000_000


def _valid_stream(kinds: list[int]) -> bytes:
    """A plausible feed session: its feed and instrument frames, then market data numbered from 0."""
    out = [encode(Feed(FID, 0, Exchange.KRAKEN, "fuzz-feed", T0))]
    seq = 2
    for sid, sym in zip(SIDS, ("BTC-USD", "ETH-USD"), strict=True):
        out.append(encode(Instrument(sid, seq, Exchange.KRAKEN, sym, 1, 8, 1, 1, sym.replace("-", "/"))))
        seq += 2
    for i, k in enumerate(kinds):
        sid = SIDS[i % 2]
        if k == 0:
            out.append(pack_trade(sid, seq, 1, i, T0 + i, T0 + i, 650000 + i, 10**8))
            seq += 1
        elif k == 1:
            out.append(pack_quote(sid, seq, T0 + i, T0 + i, 650000, 10**8, 650001, 10**8))
            seq += 2
        elif k == 2:
            out.append(pack_book(sid, seq, 1 + i % 2, T0 + i, T0 + i, 650000 + i, 10**8))
            seq += 1
        else:
            out.append(encode(Status(FID, seq, FeedState.SUBSCRIBED, T0 + i)))
            seq += 1
    return b"".join(out)


streams = st.lists(st.integers(0, 3), max_size=40).map(_valid_stream)
mutations = st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=6)
cuts = st.lists(st.integers(1, 300), max_size=12)


def _mutate(data: bytes, muts: list[tuple[int, int]]) -> bytes:
    buf = bytearray(data)
    for pos, val in muts:
        if buf:
            buf[pos % len(buf)] = val
    return bytes(buf)


def _split(data: bytes, sizes: list[int]) -> list[bytes]:
    pieces, at = [], 0
    for n in sizes:
        pieces.append(data[at : at + n])
        at += n
    pieces.append(data[at:])
    return pieces


def _run_relay_input(pieces: list[bytes]) -> tuple[list[bytes], FeedTrack]:
    """What ``_FeedInput.data_received`` does, without the sockets. Stops at the first FrameError."""
    aligner, track = FrameAligner(), FeedTrack("fuzz")
    out: list[bytes] = []
    for piece in pieces:
        chunk = aligner.feed(piece)
        if not chunk:
            continue
        try:
            forwarded, gaps = ingest(track, chunk, T0)
        except FrameError:
            return out, track
        joined = b"".join(forwarded)
        assert len(joined) % CELL_BYTES == 0
        # every input cell is forwarded, in order; only whole gap frames are added
        assert len(joined) == len(chunk) + len(gaps) * CELL_BYTES
        assert all(isinstance(decode(encode(g)), Gap) for g in gaps)
        out.append(joined)
    return out, track


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600), cuts)
def test_random_bytes_are_forwarded_whole_or_refused(data: bytes, sizes: list[int]) -> None:
    _run_relay_input(_split(data, sizes))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams, mutations, cuts)
def test_mutated_feed_sessions_are_forwarded_whole_or_refused(
    data: bytes, muts: list[tuple[int, int]], sizes: list[int]
) -> None:
    out, track = _run_relay_input(_split(_mutate(data, muts), sizes))
    if not muts:  # an intact session: everything forwarded, no gap, the sequence followed to the end
        assert b"".join(out) == data
        assert track.next_seq == int.from_bytes(data[-CELL_BYTES + 8 : -CELL_BYTES + 12], "little") + 1


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), cuts)
def test_consumer_bytes_decode_or_raise_frame_error(data: bytes, sizes: list[int]) -> None:
    decoder = FrameDecoder()
    try:
        for piece in _split(data, sizes):
            for frame in decoder.feed(piece):
                assert decode(encode(frame)) == frame
    except FrameError:
        pass


controls = st.builds(
    Control,
    op=st.sampled_from(ControlOp),
    symbol_id=st.sampled_from([0, *SIDS, 12345]),
    type_mask=st.integers(0, (1 << 12) - 1),
    exchange_mask=st.integers(0, 15),
)


@settings(max_examples=200, deadline=None)
@given(streams, st.lists(controls, max_size=5), st.sampled_from([None, *Exchange]))
def test_filter_small_and_numpy_paths_agree(data: bytes, ops: list[Control], exchange: Exchange | None) -> None:
    filt = ConsumerFilter()
    for op in ops:
        filt.apply(op)
    if filt.everything:  # select() returns the chunk itself without looking at it
        assert filt.select(data, None, exchange) is data
        return
    arr = np.frombuffer(data, dtype=CELL_DTYPE)
    big = filt.select(data, arr, exchange)  # an array given: always the NumPy path
    small = filt._select_small(data, exchange)  # the differential is the point
    assert big == small
    kept = {bytes(data[i : i + CELL_BYTES]) for i in range(0, len(data), CELL_BYTES)}
    assert all(big[i : i + CELL_BYTES] in kept for i in range(0, len(big), CELL_BYTES))
    types = {c[1] for c in (big[i : i + CELL_BYTES] for i in range(0, len(big), CELL_BYTES))}
    assert {FrameType.FEED, FrameType.INSTRUMENT} <= types  # state frames always pass
