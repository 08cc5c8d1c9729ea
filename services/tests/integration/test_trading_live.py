"""The relay data client inside a real TradingNode, fed by a real relay over a real Unix socket."""

import asyncio
from pathlib import Path

from relay_harness import Recorder, eventually
from trading_harness import BookProducer, RecordingConfig, RecordingStrategy, running_relay

from alphapulse.protocol import Exchange, Quote, Side, Trade
from alphapulse.trading.config import parse_trade_spec
from alphapulse.trading.node import build_node, running_node

BTC = "BTC-USDT.BINANCE"


async def test_strategy_sees_what_the_relay_sends_frame_for_frame(sock_dir: Path) -> None:
    producer = BookProducer(sock_dir, "binance-t", Exchange.BINANCE, ["BTC-USDT", "ETH-USDT"])
    await producer.start()
    async with running_relay(sock_dir) as relay:
        await eventually(lambda: bool(relay.inputs), what="relay to find the feed")
        strategy = RecordingStrategy(RecordingConfig(instrument_ids=(BTC,)))
        spec = parse_trade_spec({"venues": {"BINANCE": {}}, "orders": {"enabled": False}}, env={})
        node = build_node(
            spec, strategies=[strategy], loop=asyncio.get_running_loop(), sock_dir=str(sock_dir), log_level="WARNING"
        )
        rec = Recorder(f"unix:{sock_dir / 'relay.sock'}")
        rec.start()
        async with running_node(node):
            await eventually(lambda: producer.snapshots_sent >= 1, what="subscribe to ask for a snapshot")
            await eventually(lambda: len(strategy.deltas) >= 1, what="snapshot in the strategy")
            for i in range(50):
                producer.server.publish(producer.trades(1, 0) + producer.quote(0, 9_000_000 - i, 9_000_100 + i))
                producer.publish_trades(1, 1)  # ETH: not subscribed, must not arrive
                producer.server.publish(producer.level(0, Side.BUY, 8_999_000 + i, 10_000 * (i + 1)))
            await eventually(lambda: len(strategy.quotes) == 50 and len(strategy.trades) == 50, what="all ticks")
            await eventually(lambda: len(strategy.deltas) == 51, what="all book batches")
            book = strategy.book(BTC)
            assert book is not None and str(book.best_bid_price()) == "90000.00"
            assert str(book.best_ask_price()) == "90001.00"
        await eventually(lambda: len([t for t in rec.of(Trade)]) == 100, what="recorder")
        await rec.stop()
    await producer.server.close()
    sid = producer.sids[0]
    seen_trades = [f for f in rec.of(Trade) if isinstance(f, Trade) and f.symbol_id == sid]
    seen_quotes = [f for f in rec.of(Quote) if isinstance(f, Quote) and f.symbol_id == sid]
    assert [(str(t.price), str(t.size), str(t.trade_id), t.ts_event, t.aggressor_side.value) for t in strategy.trades] == [
        (f"{t.price / 100:.2f}", f"{t.qty / 1e8:.8f}", str(t.trade_id), t.ts_exchange_ns, int(t.side)) for t in seen_trades
    ]
    assert [(str(q.bid_price), str(q.ask_price), q.ts_event) for q in strategy.quotes] == [
        (f"{q.bid_price / 100:.2f}", f"{q.ask_price / 100:.2f}", q.ts_exchange_ns) for q in seen_quotes
    ]
