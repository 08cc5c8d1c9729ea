"""Relay frames to writer rows, built with the protocol's own encoder."""

from alphapulse.protocol import (
    BookLevel,
    Exchange,
    Feed,
    FeedState,
    Gap,
    GapReason,
    Instrument,
    Quote,
    Side,
    Status,
    Trade,
    encode,
    feed_id,
    symbol_id,
)
from alphapulse.store.frames_to_rows import FrameConverter

SID = symbol_id(Exchange.COINBASE, "BTC-USD")
FID = feed_id("coinbase-spot")


def _instrument() -> bytes:
    return encode(Instrument(SID, 0, Exchange.COINBASE, "BTC-USD", 2, 8, 1, 1, "BTC-USD"))


def test_trades_quotes_and_book_become_rows_with_scales() -> None:
    conv = FrameConverter()
    buf = (
        _instrument()
        + encode(Trade(SID, 2, Side.SELL, (1 << 40) - 1, 10, 11, 6_000_050, 12_345))
        + encode(Quote(SID, 3, 20, 21, 100, 1, 101, 2))
        + encode(BookLevel(SID, 5, Side.SELL, 30, 31, 102, 0, last=True, snapshot=True, replay=True))
    )
    out = conv.convert(buf)
    assert out.trades.tolist() == [(SID, (1 << 40) - 1, 2, 10, 11, 6_000_050, 12_345, 2, 2, 8)]
    assert out.quotes.tolist() == [(SID, 3, 20, 21, 100, 1, 101, 2, 2, 8)]
    assert out.book.tolist() == [(SID, 5, 30, 31, 102, 0, 2, 3, 2, 8)]
    assert out.documents == [
        {"table": "instruments", "instrument_id": SID, "exchange": "coinbase", "symbol": "BTC-USD",
         "price_scale": 2, "qty_scale": 8}
    ]  # fmt: skip
    assert out.unknown_instrument_rows == 0


def test_rows_of_an_unknown_instrument_are_dropped_and_counted() -> None:
    conv = FrameConverter()
    out = conv.convert(encode(Trade(SID, 1, Side.BUY, 1, 1, 1, 1, 1)))
    assert len(out.trades) == 0
    assert out.unknown_instrument_rows == 1
    conv.convert(_instrument())
    assert len(conv.convert(encode(Trade(SID, 2, Side.BUY, 2, 1, 1, 1, 1))).trades) == 1


def test_feed_status_and_gaps_become_documents_named_by_feed() -> None:
    conv = FrameConverter()
    buf = (
        encode(Feed(FID, 0, Exchange.COINBASE, "coinbase-spot", 123))
        + encode(Status(FID, 2, FeedState.DISCONNECTED, 1_000, reconnects=3))
        + encode(Gap(FID, 3, GapReason.SLOW_CONSUMER, 2_000, first=10, count=5))
        + encode(Gap(FID, 4, GapReason.EXCHANGE, 3_000, symbol_id=SID, first=99))
    )
    docs = conv.convert(buf).documents
    assert docs[0] == {
        "table": "feed_events", "feed": "coinbase-spot", "exchange": "coinbase", "kind": "disconnected",
        "ts_ns": 1_000, "detail": {"reconnects": 3, "detail": 0},
    }  # fmt: skip
    assert docs[1]["source"] == "relay"
    assert (docs[1]["reason"], docs[1]["seq_from"], docs[1]["missed"]) == ("slow_consumer", 10, 5)
    assert docs[2]["source"] == "collector"
    assert docs[2]["missed"] is None  # COUNT_UNKNOWN
    assert docs[2]["detail"] == {"symbol_id": SID}
