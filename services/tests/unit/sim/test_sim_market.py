"""The synthetic market: a consistent book, trades at the touch, values on tick, deterministic."""

from decimal import Decimal

import pytest

from alphapulse.sim.market import (
    ASK,
    BID,
    BUY,
    LEVEL,
    TRADE,
    Book,
    MarketModel,
    instrument_for,
)

SYMBOLS = ("BTC-USD", "ETH-USD", "SOL-USD")


def _model(seed: int = 3) -> MarketModel:
    return MarketModel([instrument_for("kraken", s) for s in SYMBOLS], seed=seed)


def test_events_rebuild_the_book_and_trades_hit_the_touch() -> None:
    model = _model()
    mirror = []
    for i in range(len(SYMBOLS)):
        b = Book()
        src = model.book(i)
        for p, q in src.bids.items():
            b.set(BID, p, q)
        for p, q in src.asks.items():
            b.set(ASK, p, q)
        mirror.append(b)
    trades = 0
    for _ in range(20):
        for kind, i, side, price, qty, trade_id, _ts in model.step(500, 1):
            book = mirror[i]
            if kind == TRADE:
                trades += 1
                assert qty > 0
                assert trade_id > 0
                # a taker buy lifts the best ask, a taker sell hits the best bid
                assert price == (book.best_ask() if side == BUY else book.best_bid())
            else:
                assert kind == LEVEL
                assert qty >= 0
                book.set(side, price, qty)
        for i, book in enumerate(mirror):
            src = model.book(i)
            assert book.bids == src.bids
            assert book.asks == src.asks
            assert src.bid_px == sorted(src.bids)
            assert src.ask_px == sorted(src.asks)
            bb, ba = src.best_bid(), src.best_ask()
            assert bb is not None
            assert ba is not None
            assert bb < ba
            assert len(src.bids) <= model.levels * 2
            assert len(src.asks) <= model.levels * 2
    assert trades > 100


def test_same_seed_same_market() -> None:
    assert _model(7).step(2000, 5) == _model(7).step(2000, 5)
    assert _model(7).step(2000, 5) != _model(8).step(2000, 5)


@pytest.mark.parametrize(
    ("venue", "symbol", "tick", "lot"),
    [
        ("kraken", "BTC-USD", "0.1", "0.00000001"),
        ("kraken", "ETH-USD", "0.01", "0.00000001"),
        ("coinbase", "BTC-USD", "0.01", "0.00000001"),
        ("binance", "BTC-USDT", "0.01", "0.00001"),
        ("binance", "SOL-USDT", "0.01", "0.001"),
    ],
)
def test_instrument_precisions_match_the_fixtures(venue: str, symbol: str, tick: str, lot: str) -> None:
    inst = instrument_for(venue, symbol)
    assert Decimal(1).scaleb(-inst.price_decimals) == Decimal(tick)
    assert Decimal(1).scaleb(-inst.qty_decimals) == Decimal(lot)


def test_bad_symbols_are_rejected() -> None:
    with pytest.raises(ValueError, match="BASE-QUOTE"):
        instrument_for("kraken", "BTCUSD")
    with pytest.raises(ValueError, match="venue"):
        instrument_for("bitmex", "BTC-USD")
