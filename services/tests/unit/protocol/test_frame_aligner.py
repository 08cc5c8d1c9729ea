"""FrameAligner cuts at frame boundaries: never inside a quote, an instrument or a feed frame."""

from alphapulse.protocol import Exchange, FrameAligner, Instrument, Quote, encode, pack_trade


def test_pieces_end_on_frame_boundaries_whatever_the_reads() -> None:
    wire = (
        pack_trade(1, 0, 1, 1, 1, 1, 1, 1)
        + encode(Quote(1, 1, 1, 1, 1, 1, 1, 1))
        + encode(Instrument(1, 3, Exchange.KRAKEN, "BTC-USD", 1, 8, 1, 1, "BTC/USD"))
        + pack_trade(1, 5, 1, 2, 1, 1, 1, 1)
    )
    boundaries = {0, 48, 144, 240, 288}
    for step in (1, 7, 47, 48, 49, 96, 100):
        aligner = FrameAligner()
        total = 0
        for i in range(0, len(wire), step):
            piece = aligner.feed(wire[i : i + step])
            total += len(piece)
            assert total in boundaries, (step, total)
        assert total == len(wire)
        assert aligner.pending_bytes == 0
