"""atheris: the bridge's relay input (``BridgeCore.feed_cells``). The relay's TCP port is
unauthenticated, so whatever reaches a bridge as cells must be rendered or counted as malformed,
and every subscribed client must still get well-formed JSON arrays of events.

``python e2e/fuzz/fuzz_bridge_cells.py -max_total_time=60``
"""

from collections.abc import Iterator

import atheris
from fuzz_common import run

with atheris.instrument_imports(include=["alphapulse"]):
    import orjson

    from alphapulse.bridge.core import BridgeCore
    from alphapulse.protocol import (
        CELL_BYTES,
        Exchange,
        Feed,
        FeedState,
        Gap,
        GapReason,
        Instrument,
        SnapshotBegin,
        SnapshotEnd,
        Status,
        encode,
        feed_id,
        pack_book,
        pack_quote,
        pack_trade,
        symbol_id,
    )
    from alphapulse.tokens import Principal

SYMS = ("BTC-USDT", "ETH-USDT")
SIDS = [symbol_id(Exchange.BINANCE, s) for s in SYMS]
FID = feed_id("fuzz-feed")
T0 = 1_772_461_900_000_000_000


class Sink:
    def write(self, data: bytes) -> None:
        events = orjson.loads(data)
        assert isinstance(events, list) and all(isinstance(e, dict) and "type" in e for e in events)

    def buffered_bytes(self) -> int:
        return 0

    def close(self, code: int, reason: str) -> None:
        raise AssertionError(f"unexpected close {code} {reason}")


def target(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    scale = fdp.ConsumeIntInRange(0, 18)
    ticks = [fdp.ConsumeIntInRange(1, 12) for _ in range(fdp.ConsumeIntInRange(1, 8))]
    body = fdp.ConsumeBytes(fdp.remaining_bytes())
    core = BridgeCore()
    core.feed_cells(
        encode(Feed(FID, 0, Exchange.BINANCE, "fuzz-feed", T0))
        + b"".join(
            encode(Instrument(sid, 0, Exchange.BINANCE, sym, scale, scale, 1, 1, sym.replace("-", "")))
            for sym, sid in zip(SYMS, SIDS, strict=True)
        )
    )
    client = core.add_client(Sink(), Principal("fuzz", "viewer", 2**40))
    assert client is not None
    core.subscribe(client, "binance", SYMS, ("trades", "quotes", "book"))
    at = 0
    for n in ticks:
        core.feed_cells(body[at * CELL_BYTES : (at + n) * CELL_BYTES])
        at += n
    core.feed_cells(body[at * CELL_BYTES : len(body) - len(body) % CELL_BYTES])
    core.subscribe(client, "binance", SYMS, ("trades", "quotes", "book"))


def seeds() -> Iterator[bytes]:
    sid = SIDS[0]
    frames = [
        pack_trade(sid, 1, 1, 5, T0, T0, 65000_00000000, 1_00000000),
        pack_quote(sid, 2, T0, T0, 65000_00000000, 1, 65001_00000000, 2),
        encode(SnapshotBegin(sid, 4, 2, T0, T0)),
        pack_book(sid, 5, 1, T0, T0, 64999_00000000, 3, flags=0x10),
        pack_book(sid, 6, 2, T0, T0, 65002_00000000, 3, flags=0x18),
        encode(SnapshotEnd(sid, 7, 2, T0, T0)),
        pack_book(sid, 8, 1, T0, T0, 64998_00000000, 0, flags=0x08),
        encode(Status(FID, 9, FeedState.RESYNCING, T0, 1)),
        encode(Gap(FID, 10, GapReason.CHECKSUM, T0, sid, 10, 1)),
    ]
    yield bytes([8, 2, 3, 1]) + b"".join(frames)
    yield bytes([2, 1]) + b"".join(reversed(frames))


if __name__ == "__main__":
    run("bridge_cells", target, seeds)
