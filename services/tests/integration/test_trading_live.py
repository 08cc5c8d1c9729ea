"""The relay data client inside a real TradingNode, fed by a real relay over a real Unix socket."""

import asyncio
import sys
from pathlib import Path

import pytest
from nautilus_trader.model.identifiers import InstrumentId
from prometheus_client import REGISTRY, generate_latest
from relay_harness import Recorder, eventually, running_relay
from trading_harness import BookProducer, RecordingConfig, RecordingStrategy

from alphapulse.protocol import Exchange, Quote, Side, Trade, from_fixed
from alphapulse.trading.config import parse_trade_spec
from alphapulse.trading.node import build_node, running_node

BTC = "BTC-USDT.BINANCE"


async def test_strategy_sees_what_the_relay_sends_frame_for_frame(sock_dir: Path) -> None:
    producer = BookProducer(sock_dir, "binance-t", Exchange.BINANCE, ["BTC-USDT", "ETH-USDT"])
    await producer.start()
    async with running_relay(sock_dir) as relay:
        await eventually(lambda: bool(relay.inputs), what="relay to find the feed")
        strategy = RecordingStrategy(RecordingConfig(instrument_ids=(BTC,)))
        spec = parse_trade_spec({"venues": {"BINANCE": {}}, "orders": {"enabled": False}, "audit": False}, env={})
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
            # the node's /metrics: frames handed over and reads timed, read from the client at scrape time
            text = generate_latest(REGISTRY).decode()
            assert _sample(text, 'alphapulse_trading_frames_total{type="trade"}') >= 50
            assert _sample(text, 'alphapulse_trading_frames_total{type="quote"}') >= 50
            assert _sample(text, "alphapulse_trading_latency_seconds_count") >= 1
        await eventually(lambda: len(rec.of(Trade)) == 100, what="recorder")
        await rec.stop()
    await producer.server.close()
    sid = producer.sids[0]
    seen_trades = [f for f in rec.of(Trade) if isinstance(f, Trade) and f.symbol_id == sid]
    seen_quotes = [f for f in rec.of(Quote) if isinstance(f, Quote) and f.symbol_id == sid]
    assert [
        (str(t.price), str(t.size), str(t.trade_id), t.ts_event, t.aggressor_side.value) for t in strategy.trades
    ] == [
        (f"{t.price / 100:.2f}", f"{t.qty / 1e8:.8f}", str(t.trade_id), t.ts_exchange_ns, int(t.side))
        for t in seen_trades
    ]
    assert [(str(q.bid_price), str(q.ask_price), q.ts_event) for q in strategy.quotes] == [
        (from_fixed(q.bid_price, 2), from_fixed(q.ask_price, 2), q.ts_exchange_ns) for q in seen_quotes
    ]


def _sample(text: str, prefix: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix + " "))


def _node(sock_dir: Path, strategy: RecordingStrategy):  # type: ignore[no-untyped-def]
    spec = parse_trade_spec({"venues": {"BINANCE": {}}, "orders": {"enabled": False}, "audit": False}, env={})
    return build_node(
        spec, strategies=[strategy], loop=asyncio.get_running_loop(), sock_dir=str(sock_dir), log_level="ERROR"
    )


async def test_relay_restart_under_the_node_reconnects_counts_the_gap_and_resyncs_the_book(sock_dir: Path) -> None:
    from alphapulse.relay import Relay
    from alphapulse.trading import metrics

    gaps_before = metrics.GAPS.labels("relay")._value.get()
    producer = BookProducer(sock_dir, "binance-r", Exchange.BINANCE, ["BTC-USDT"])
    await producer.start()
    strategy = RecordingStrategy(RecordingConfig(instrument_ids=(BTC,)))
    relay = Relay(sock_dir, scan_interval_s=0.02)
    relay_task = asyncio.create_task(relay.run(), name="test.relay")
    await eventually(lambda: bool(relay.inputs), what="relay to find the feed")
    node = _node(sock_dir, strategy)
    async with running_node(node):
        await eventually(lambda: len(strategy.deltas) >= 1, what="first snapshot")
        producer.server.publish(producer.level(0, Side.BUY, 8_999_500, 7))
        await eventually(lambda: len(strategy.deltas) >= 2, what="an update")
        # the relay dies; meanwhile the book changes and the node cannot hear about it
        relay_task.cancel()
        await asyncio.gather(relay_task, return_exceptions=True)
        producer.server.publish(producer.level(0, Side.BUY, 9_000_050, 3))  # new best bid, lost
        producer.server.publish(producer.level(0, Side.BUY, 8_999_500, 0))  # a deletion, lost
        await asyncio.sleep(0.2)
        assert node.trader.is_running
        snapshots = producer.snapshots_sent
        relay = Relay(sock_dir, scan_interval_s=0.02)
        relay_task = asyncio.create_task(relay.run(), name="test.relay2")
        await eventually(lambda: metrics.GAPS.labels("relay")._value.get() == gaps_before + 1, what="gap counted")
        await eventually(lambda: producer.snapshots_sent > snapshots, what="a fresh snapshot requested")
        book = strategy.book(BTC)
        assert book is not None
        await eventually(lambda: str(book.best_bid_price()) == "90000.50", what="book resynced to the lost best bid")
        assert all(str(p) != "89995.00" for p in (lvl.price for lvl in book.bids()))
        # and live updates flow again on top of the fresh book
        producer.server.publish(producer.quote(0, 9_000_050, 9_000_100) + producer.trades(1, 0))
        await eventually(lambda: len(strategy.trades) == 1 and len(strategy.quotes) == 1, what="ticks after restart")
    relay_task.cancel()
    await asyncio.gather(relay_task, return_exceptions=True)
    await producer.server.close()


async def test_frames_wrong_for_their_instrument_are_rejected_before_nautilus_and_the_node_survives(
    sock_dir: Path,
) -> None:
    from alphapulse.protocol import Instrument, encode, pack_trade
    from alphapulse.trading import metrics

    def rejected(reason: str) -> float:
        return float(metrics.REJECTED.labels(reason)._value.get())

    before = {r: rejected(r) for r in ("precision", "range")}
    producer = BookProducer(sock_dir, "binance-p", Exchange.BINANCE, ["BTC-USDT"])
    await producer.start()
    strategy = RecordingStrategy(RecordingConfig(instrument_ids=(BTC,)))
    async with running_relay(sock_dir) as relay:
        await eventually(lambda: bool(relay.inputs), what="relay to find the feed")
        async with running_node(_node(sock_dir, strategy)) as node:
            await eventually(lambda: len(strategy.deltas) >= 1, what="first snapshot")
            sid = producer.sids[0]

            def announce(price_scale: int) -> bytes:
                data = encode(
                    Instrument(sid, producer.seq, Exchange.BINANCE, "BTC-USDT", price_scale, 8, 1, 1, "BTCUSDT")
                )
                producer.seq += 2
                return data

            # a collector re-announces the symbol with another price scale: NautilusTrader's instrument
            # (and the live book) have precision 2, so frames at scale 3 must never reach it
            producer.server.publish(announce(3) + producer.trades(3, 0) + producer.level(0, Side.SELL, 9_000_200, 5))
            await eventually(lambda: rejected("precision") >= before["precision"] + 4, what="precision rejections")
            # back to the instrument's scale, then a negative size (the relay never forwards unknown symbols:
            # the unit tests cover those)
            bad = pack_trade(sid, producer.seq + 2, 1, 1, 1, 1, 9_000_000, -5)
            producer.server.publish(announce(2) + bad)
            producer.seq += 1
            await eventually(lambda: rejected("range") > before["range"], what="range rejection")
            producer.server.publish(producer.trades(2, 0))
            await eventually(lambda: len(strategy.trades) == 2, what="valid trades after the bad ones")
            assert node.trader.is_running and node.kernel.data_engine.is_running
            assert all(t.price.precision == 2 and t.size.precision == 8 for t in strategy.trades)
    await producer.server.close()


async def test_instruments_from_the_table_and_a_disagreeing_feed_is_refused(sock_dir: Path) -> None:
    import uuid

    import asyncpg

    from alphapulse.trading import metrics

    name = f"ap_trading_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    await admin.execute(f"CREATE DATABASE {name}")
    dsn = f"postgresql://postgres@127.0.0.1:5432/{name}"
    try:
        conn = await asyncpg.connect(dsn)
        # the storage schema's instruments table (0002_instruments.sql), plus the API's increments
        await conn.execute(
            "CREATE TABLE instruments (instrument_id bigint PRIMARY KEY, exchange text NOT NULL, symbol text NOT "
            "NULL, price_scale smallint NOT NULL, qty_scale smallint NOT NULL, price_increment numeric, "
            "qty_increment numeric)"
        )
        await conn.execute(
            "INSERT INTO instruments VALUES (1, 'binance', 'BTC-USDT', 2, 8, 0.01, 0.00000001), "
            "(2, 'binance', 'ETH-USDT', 3, 8, 0.001, 0.00000001), (3, 'kraken', 'SOL-USD', 4, 8, NULL, NULL)"
        )
        await conn.close()
        before = float(metrics.REJECTED.labels("precision")._value.get())
        producer = BookProducer(sock_dir, "binance-db", Exchange.BINANCE, ["BTC-USDT", "ETH-USDT"])  # both scale 2
        await producer.start()
        eth = "ETH-USDT.BINANCE"
        strategy = RecordingStrategy(RecordingConfig(instrument_ids=(BTC, eth), book=False))
        spec = parse_trade_spec(
            {"venues": {"BINANCE": {}}, "orders": {"enabled": False}, "audit": False, "instruments_database_url": dsn},
            env={},
        )
        async with running_relay(sock_dir) as relay:
            await eventually(lambda: bool(relay.inputs), what="relay to find the feed")
            node = build_node(
                spec, strategies=[strategy], loop=asyncio.get_running_loop(), sock_dir=str(sock_dir), log_level="ERROR"
            )
            async with running_node(node):
                sol = node.cache.instrument(InstrumentId.from_str("SOL-USD.KRAKEN"))
                assert sol is not None and sol.price_precision == 4  # known from the table alone
                eth_inst = node.cache.instrument(InstrumentId.from_str(eth))
                assert eth_inst is not None and eth_inst.price_precision == 3  # the table came first
                await eventually(lambda: len(relay.consumers) == 1, what="client")
                await asyncio.sleep(0.2)
                producer.publish_trades(3, 0)
                producer.publish_trades(4, 1)  # at the feed's scale 2: would be mis-scaled 10x at precision 3
                await eventually(lambda: len(strategy.trades) == 3, what="BTC trades")
                await eventually(
                    lambda: metrics.REJECTED.labels("precision")._value.get() >= before + 4, what="ETH refused"
                )
                assert {str(t.instrument_id) for t in strategy.trades} == {BTC}
                assert node.trader.is_running
        await producer.server.close()
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


async def test_example_spread_strategy_trades_the_cheaper_venue_on_paper(sock_dir: Path) -> None:
    from alphapulse.trading.strategies.spread import CrossVenueSpread, CrossVenueSpreadConfig

    binance = BookProducer(sock_dir, "binance-s", Exchange.BINANCE, ["BTC-USDT"])
    kraken = BookProducer(sock_dir, "kraken-s", Exchange.KRAKEN, ["BTC-USD"])
    await binance.start()
    await kraken.start()
    strategy = CrossVenueSpread(
        CrossVenueSpreadConfig(
            instrument_ids=("BTC-USDT.BINANCE", "BTC-USD.KRAKEN"), trade_size="0.01", entry_bps=30.0, cooldown_ms=0
        )
    )
    spec = parse_trade_spec(
        {"venues": {"BINANCE": {}, "KRAKEN": {}}, "orders": {"enabled": False}, "audit": False}, env={}
    )
    async with running_relay(sock_dir) as relay:
        await eventually(lambda: len(relay.inputs) == 2, what="both feeds")
        node = build_node(
            spec, strategies=[strategy], loop=asyncio.get_running_loop(), sock_dir=str(sock_dir), log_level="ERROR"
        )
        async with running_node(node):
            await eventually(
                lambda: (
                    len(relay.consumers) == 1
                    and relay.consumers.copy().pop().filter.by_symbol.get(kraken.sids[0]) is not None
                ),
                what="subscriptions",
            )
            # Kraken asks 90,000.00 while Binance bids 90,500.00: 55 bps, above the 30 bps entry
            binance.server.publish(binance.quote(0, 9_050_000, 9_050_100))
            kraken.server.publish(kraken.quote(0, 8_999_900, 9_000_000))
            await eventually(lambda: bool(strategy.decisions), what="a decision")
            await eventually(
                lambda: float(node.portfolio.net_position(InstrumentId.from_str("BTC-USD.KRAKEN"))) == 0.01,
                what="a paper fill on Kraken",
            )
            _, action, venue, bps = strategy.decisions[0]
            assert (action, venue) == ("buy", "BTC-USD.KRAKEN") and bps == pytest.approx(55.6, abs=0.1)
            assert float(node.portfolio.net_position(InstrumentId.from_str("BTC-USDT.BINANCE"))) == 0.0
    await binance.server.close()
    await kraken.server.close()


class _CallChainStrategy(RecordingStrategy):
    """Records, per trade, the Python functions it was called from."""

    def __init__(self, config: RecordingConfig) -> None:
        super().__init__(config)
        self.callers: list[set[str]] = []

    def on_trade_tick(self, tick) -> None:  # type: ignore[no-untyped-def]
        super().on_trade_tick(tick)
        names, frame = set(), sys._getframe(1)
        while frame is not None:
            names.add(frame.f_code.co_name)
            frame = frame.f_back
        self.callers.append(names)


async def test_market_data_reaches_the_strategy_inside_the_relay_read_not_through_the_engine_queue(
    sock_dir: Path,
) -> None:
    """The data client hands ticks to the DataEngine synchronously (hand_directly_to): the strategy runs
    within the client's relay callback, not one queue hop (two loop iterations) later."""
    producer = BookProducer(sock_dir, "binance-t", Exchange.BINANCE, ["BTC-USDT"])
    await producer.start()
    async with running_relay(sock_dir) as relay:
        await eventually(lambda: bool(relay.inputs), what="relay to find the feed")
        strategy = _CallChainStrategy(RecordingConfig(instrument_ids=(BTC,)))
        async with running_node(_node(sock_dir, strategy)):
            await eventually(lambda: producer.snapshots_sent >= 1, what="subscribe to ask for a snapshot")
            for _ in range(5):
                producer.server.publish(producer.trades(1, 0))
            await eventually(lambda: len(strategy.trades) == 5, what="all trades")
    await producer.server.close()
    assert all("_on_cells" in names for names in strategy.callers), strategy.callers
    assert not any("_run_data_queue" in names for names in strategy.callers)
