"""atheris: the relay's input path (``relay.core.ingest`` behind a ``FrameAligner``, what a feed
socket's bytes go through) and a consumer's filter (``ConsumerFilter.select``, both code paths).
Whatever a feed sends, the relay forwards every cell it accepted plus whole gap frames, or raises
``FrameError`` (it then closes that feed's connection); the small and NumPy filter paths agree.

``python e2e/fuzz/fuzz_relay.py -max_total_time=60``
"""

from collections.abc import Iterator

import atheris
from fuzz_common import run

with atheris.instrument_imports(include=["alphapulse"]):
    import numpy as np

    from alphapulse.protocol import (
        CELL_BYTES,
        Control,
        ControlOp,
        Exchange,
        Feed,
        FrameAligner,
        FrameError,
        Instrument,
        encode,
        pack_book,
        pack_quote,
        pack_trade,
    )
    from alphapulse.protocol.bulk import CELL_DTYPE
    from alphapulse.relay.core import ConsumerFilter, FeedTrack, ingest

T0 = 1_772_461_900_000_000_000


def target(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    controls = [
        Control(
            ControlOp(fdp.ConsumeIntInRange(1, 4)),
            fdp.PickValueInList([0, 7, 8, fdp.ConsumeUInt(4)]),
            fdp.ConsumeIntInRange(0, 0xFFF),
            fdp.ConsumeIntInRange(0, 15),
        )
        for _ in range(fdp.ConsumeIntInRange(0, 4))
    ]
    exchange = fdp.PickValueInList([None, *Exchange])
    cuts = [fdp.ConsumeIntInRange(1, 400) for _ in range(fdp.ConsumeIntInRange(0, 8))]
    body = fdp.ConsumeBytes(fdp.remaining_bytes())
    filt = ConsumerFilter()
    for c in controls:
        filt.apply(c)
    aligner, track, at = FrameAligner(), FeedTrack("fuzz"), 0
    for n in [*cuts, len(body)]:
        chunk = aligner.feed(body[at : at + n])
        at += n
        if not chunk:
            continue
        try:
            pieces, gaps = ingest(track, chunk, T0)
        except FrameError:
            return
        joined = b"".join(pieces)
        assert len(joined) == len(chunk) + CELL_BYTES * len(gaps)
        for piece in pieces:
            big = filt.select(piece, np.frombuffer(piece, dtype=CELL_DTYPE), exchange)
            if not filt.everything:
                assert big == filt._select_small(piece, exchange)
            assert len(big) % CELL_BYTES == 0


def seeds() -> Iterator[bytes]:
    head = encode(Feed(9, 0, Exchange.KRAKEN, "kraken-spot", T0)) + encode(
        Instrument(7, 2, Exchange.KRAKEN, "BTC-USD", 1, 8, 1, 1, "BTC/USD")
    )
    body = b"".join(
        [pack_trade(7, 4 + i, 1, i, T0, T0, 650000, 10**8) for i in range(5)]
        + [pack_quote(7, 9, T0, T0, 1, 1, 2, 2), pack_book(7, 11, 1, T0, T0, 1, 1, flags=8)]
    )
    yield bytes([0, 0]) + head + body
    yield bytes([2, 1, 7, 0, 0, 0, 2, 3, 0, 0, 48]) + head + body[48:]


if __name__ == "__main__":
    run("relay", target, seeds)
