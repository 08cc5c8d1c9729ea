"""atheris: the frame parser (``alphapulse.protocol``: ``decode``, ``FrameDecoder``, ``FrameAligner``,
the bulk views) on arbitrary bytes, cut at arbitrary points. Only ``FrameError`` may escape, and
whatever decodes re-encodes to a frame that decodes equal.

``python e2e/fuzz/fuzz_frames.py -max_total_time=60``
"""

import contextlib
from collections.abc import Iterator

import atheris
from fuzz_common import run

with atheris.instrument_imports(include=["alphapulse"]):
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
        Gap,
        GapReason,
        Instrument,
        Status,
        bulk,
        decode,
        encode,
        pack_book,
        pack_quote,
        pack_trade,
    )


def target(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    cuts = [fdp.ConsumeIntInRange(1, 200) for _ in range(fdp.ConsumeIntInRange(0, 6))]
    body = fdp.ConsumeBytes(fdp.remaining_bytes())
    for off in range(0, len(body) - CELL_BYTES + 1, CELL_BYTES):
        try:
            frame = decode(body, off)
        except FrameError:
            continue
        assert decode(encode(frame)) == frame
    decoder, aligner, at = FrameDecoder(), FrameAligner(), 0
    aligned = b""
    try:
        for n in [*cuts, len(body)]:
            piece = body[at : at + n]
            at += n
            aligned += aligner.feed(piece)
            for frame in decoder.feed(piece):
                assert decode(encode(frame)) == frame
    except FrameError:
        pass
    assert len(aligned) % CELL_BYTES == 0
    for view in (bulk.cells, bulk.trades, bulk.quotes):
        with contextlib.suppress(FrameError):
            view(body)


def seeds() -> Iterator[bytes]:
    t0 = 1_772_461_900_000_000_000
    yield pack_trade(7, 1, 1, 2**39, t0, t0 + 5, 650001, 10**8)
    yield pack_quote(7, 2, t0, t0, 650000, 1, 650001, 2)
    yield pack_book(7, 4, 2, t0, t0, 650002, 3, flags=0x18)
    yield encode(Instrument(7, 5, Exchange.KRAKEN, "BTC-USD", 1, 8, 1, 1, "BTC/USD"))
    yield encode(Feed(9, 0, Exchange.KRAKEN, "kraken-spot", t0))
    yield encode(Status(9, 1, FeedState.SUBSCRIBED, t0, 2, 0))
    yield encode(Gap(9, 2, GapReason.SEQUENCE, t0, 0, 10, 5))
    yield encode(Control(ControlOp.SUBSCRIBE, 7, 0xFFF, 0b1110, 1, t0))


if __name__ == "__main__":
    run("frames", target, seeds)
