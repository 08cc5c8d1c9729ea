"""FrameTranslator: frames in, NautilusTrader objects (or refusals) out, without a node."""

from nautilus_trader.model.data import OrderBookDeltas, QuoteTick, TradeTick
from nautilus_trader.model.enums import AggressorSide, BookAction, RecordFlag
from nautilus_trader.model.instruments import CurrencyPair

from alphapulse.protocol import (
    BookLevel,
    Exchange,
    Feed,
    Gap,
    GapReason,
    Instrument,
    Quote,
    Side,
    SnapshotBegin,
    SnapshotEnd,
    Trade,
    encode,
    feed_id,
    symbol_id,
)
from alphapulse.trading.translate import FrameTranslator, GapSeen, Rejection, SnapshotNeeded

SID = symbol_id(Exchange.KRAKEN, "BTC-USD")
ETH = symbol_id(Exchange.BINANCE, "ETH-USDT")
# Kraken BTC/USD: tick 0.1 (scale 1, increment 1), lot 1e-8
BTC_USD = Instrument(SID, 0, Exchange.KRAKEN, "BTC-USD", 1, 8, 1, 1, "XBT/USD")
ETH_USDT = Instrument(ETH, 0, Exchange.BINANCE, "ETH-USDT", 2, 4, 1, 1, "ETHUSDT")
KRAKEN_FEED = Feed(feed_id("kraken-spot"), 0, Exchange.KRAKEN, "kraken-spot", 1)


def _ready() -> FrameTranslator:
    t = FrameTranslator()
    out = t.translate([KRAKEN_FEED, BTC_USD, ETH_USDT], 5)
    assert [str(i.id) for i in out if isinstance(i, CurrencyPair)] == ["BTC-USD.KRAKEN", "ETH-USDT.BINANCE"]
    return t


def test_instrument_frame_becomes_a_currency_pair_with_the_wire_scales() -> None:
    t = FrameTranslator()
    (inst,) = t.translate([BTC_USD], 5)
    assert isinstance(inst, CurrencyPair)
    assert (inst.price_precision, inst.size_precision) == (1, 8)
    assert str(inst.price_increment) == "0.1" and str(inst.size_increment) == "0.00000001"
    assert str(inst.raw_symbol) == "XBT/USD" and str(inst.base_currency) == "BTC"
    assert t.translate([BTC_USD], 6) == []  # the same announcement again changes nothing


def test_trade_and_quote_values_are_exact() -> None:
    t = _ready()
    trade = Trade(SID, 7, Side.SELL, 123456, 1_000, 2_000, 600_005, 1_234)  # 60000.5 x 0.00001234
    quote = Quote(SID, 8, 1_000, 2_000, 600_000, 5, 600_010, 0)
    tick, q = t.translate([trade, quote], 9)
    assert isinstance(tick, TradeTick) and isinstance(q, QuoteTick)
    assert (str(tick.price), str(tick.size), str(tick.trade_id)) == ("60000.5", "0.00001234", "123456")
    assert tick.aggressor_side == AggressorSide.SELLER and (tick.ts_event, tick.ts_init) == (1_000, 9)
    assert (str(q.bid_price), str(q.ask_price), str(q.ask_size)) == ("60000.0", "60001.0", "0.00000000")


def test_a_quote_without_exchange_time_takes_its_receive_time() -> None:
    # Binance's bookTicker carries no time (ts_exchange 0): NautilusTrader's matching engine skips a quote
    # stamped 0 as stale, so paper orders on Binance would fill against trades only
    t = _ready()
    quote = Quote(SID, 8, 0, 2_000, 600_000, 5, 600_010, 7)
    (q,) = t.translate([quote], 9)
    (q_cells,) = t.translate_cells(encode(quote), 9)
    assert isinstance(q, QuoteTick) and isinstance(q_cells, QuoteTick)
    assert (q.ts_event, q_cells.ts_event) == (2_000, 2_000)


def test_refusals_are_reported_not_passed_on() -> None:
    t = _ready()
    frames = [
        Trade(symbol_id(Exchange.KRAKEN, "DOGE-USD"), 1, Side.BUY, 1, 1, 1, 10, 10),  # never announced
        Trade(SID, 2, Side.BUY, 2, 1, 1, 0, 10),  # a print at price 0
        Trade(SID, 3, Side.BUY, 3, 1, 1, 10, -1),  # a negative size
        Trade(ETH, 4, Side.BUY, 4, 1, 1, 1 << 62, 1),  # beyond NautilusTrader's price range
    ]
    assert t.translate(frames, 1) == []
    assert [e.reason for e in t.events if isinstance(e, Rejection)] == ["unknown_symbol", "range", "range", "range"]


def test_off_tick_prices_are_refused() -> None:
    t = FrameTranslator()
    t.translate([Instrument(SID, 0, Exchange.KRAKEN, "BTC-USD", 2, 8, 10, 1, "XBT/USD")], 1)  # tick 0.10
    assert t.translate([Trade(SID, 1, Side.BUY, 1, 1, 1, 6_000_005, 1)], 1) == []
    assert [e.reason for e in t.events if isinstance(e, Rejection)] == ["tick"]


def test_a_changed_scale_refuses_the_symbol_until_it_agrees_again() -> None:
    t = _ready()
    rescaled = Instrument(SID, 0, Exchange.KRAKEN, "BTC-USD", 2, 8, 1, 1, "XBT/USD")
    trade = Trade(SID, 1, Side.BUY, 1, 1, 1, 600_000, 1)
    assert t.translate([rescaled, trade], 1) == []
    assert {e.reason for e in t.events if isinstance(e, Rejection)} == {"precision"}
    (tick,) = t.translate([BTC_USD, trade], 1)
    assert isinstance(tick, TradeTick) and tick.price.precision == 1


def test_book_waits_for_a_snapshot_then_applies_batches_and_resyncs_after_a_gap() -> None:
    t = _ready()
    t.subscribe_book(SID)
    update = BookLevel(SID, 1, Side.BUY, 1, 1, 600_000, 5, last=True)
    assert t.translate([update], 1) == []  # no snapshot yet: dropped, not applied to an empty book
    snapshot = [
        SnapshotBegin(SID, 2, 2, 10, 10),
        BookLevel(SID, 3, Side.BUY, 10, 10, 600_000, 5, snapshot=True),
        BookLevel(SID, 4, Side.SELL, 10, 10, 600_010, 7, snapshot=True),
        SnapshotEnd(SID, 5, 2, 10, 10),
    ]
    (snap,) = t.translate(snapshot, 11)
    assert isinstance(snap, OrderBookDeltas)
    actions = [d.action for d in snap.deltas]
    assert actions == [BookAction.CLEAR, BookAction.ADD, BookAction.ADD]
    assert snap.deltas[-1].flags & RecordFlag.F_LAST and snap.deltas[1].flags & RecordFlag.F_SNAPSHOT
    batch = [BookLevel(SID, 6, Side.BUY, 1, 1, 600_000, 0), BookLevel(SID, 7, Side.SELL, 1, 1, 600_020, 3, last=True)]
    (deltas,) = t.translate(batch, 12)
    assert isinstance(deltas, OrderBookDeltas)
    assert [d.action for d in deltas.deltas] == [BookAction.DELETE, BookAction.UPDATE]
    # a gap on another venue's feed leaves this book alone; one on the Kraken feed resyncs it
    binance = Feed(feed_id("binance-spot"), 0, Exchange.BINANCE, "binance-spot", 1)
    t.translate([binance, Gap(binance.feed_id, 0, GapReason.SEQUENCE, 1)], 13)
    assert t.resyncing() == ()
    t.events.clear()
    t.translate([Gap(KRAKEN_FEED.feed_id, 0, GapReason.RECONNECT, 1)], 13)
    gap, need = t.events
    assert isinstance(gap, GapSeen) and gap.feed == "kraken-spot" and gap.resync == (SID,)
    assert isinstance(need, SnapshotNeeded) and need.symbol_ids == (SID,)
    assert t.translate(batch, 14) == [] and t.resyncing() == (SID,)
    assert len(t.translate(snapshot, 15)) == 1 and t.resyncing() == ()


def test_relay_connection_loss_resyncs_every_book() -> None:
    t = _ready()
    t.subscribe_book(SID)
    t.subscribe_book(ETH)
    t.translate([Gap(0, 0, GapReason.FEED_LOST, 1)], 1)
    gap = t.events[0]
    assert isinstance(gap, GapSeen) and gap.feed == "relay" and set(gap.resync) == {SID, ETH}
    t.events.clear()
    t.translate([Gap(feed_id("unannounced"), 0, GapReason.SEQUENCE, 1)], 2)  # unknown feed: resync all
    gap = t.events[0]
    assert isinstance(gap, GapSeen) and gap.feed.startswith("0x") and set(gap.resync) == {SID, ETH}


def test_cells_and_frames_translate_alike() -> None:
    from alphapulse.protocol import encode

    frames = [
        KRAKEN_FEED,
        BTC_USD,
        Trade(SID, 1, Side.BUY, (7 << 32) | 5, 10, 20, 600_005, 3),
        Trade(SID, 2, Side.SELL, 6, 10, 20, 600_005, 3, snapshot=True),  # history: skipped both ways
        Quote(SID, 3, 11, 21, 600_000, 1, 600_010, 2),
        SnapshotBegin(SID, 5, 1, 12, 22),
        BookLevel(SID, 6, Side.BUY, 12, 22, 600_000, 4, snapshot=True),
        SnapshotEnd(SID, 7, 1, 12, 22),
        BookLevel(SID, 8, Side.SELL, 13, 23, 600_020, 9, last=True),
        Trade(ETH, 9, Side.BUY, 1, 1, 1, 1, 1),  # unknown here: refused both ways
    ]
    by_frames, by_cells = FrameTranslator(), FrameTranslator()
    by_frames.subscribe_book(SID)
    by_cells.subscribe_book(SID)
    a = by_frames.translate(frames, 99)
    b = by_cells.translate_cells(b"".join(encode(f) for f in frames), 99)
    assert [repr(x) for x in a] == [repr(x) for x in b]
    assert [type(x).__name__ for x in b] == [
        "CurrencyPair",
        "TradeTick",
        "QuoteTick",
        "OrderBookDeltas",
        "OrderBookDeltas",
    ]
    assert str(b[1].trade_id) == str((7 << 32) | 5)
    assert by_frames.counts == by_cells.counts and by_cells.counts["rejected_unknown_symbol"] == 1
