"""The bridge core fed encoded relay frames directly; what each client's sink received, as JSON."""

from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from alphapulse.bridge.clients import Client
from alphapulse.bridge.core import BridgeCore, BridgeLimits
from alphapulse.bridge.messages import CloseCode
from alphapulse.protocol import (
    BookLevel,
    Exchange,
    Feed,
    FeedState,
    Gap,
    GapReason,
    Instrument,
    Side,
    SnapshotBegin,
    SnapshotEnd,
    Status,
    encode,
    feed_id,
    pack_quote,
    pack_trade,
    symbol_id,
)
from alphapulse.tokens import Principal

BTC = symbol_id(Exchange.BINANCE, "BTC-USDT")
ETH = symbol_id(Exchange.BINANCE, "ETH-USDT")
XBT = symbol_id(Exchange.KRAKEN, "BTC-USD")
FEED = feed_id("binance-spot")
T0 = 1_772_461_800_000_000_000


@dataclass
class Sink:
    """Records what the core writes; ``buffered`` simulates a socket that is backed up."""

    messages: list[list[dict[str, Any]]] = field(default_factory=list)
    buffered: int = 0
    closed: tuple[int, str] | None = None

    def write(self, data: bytes) -> None:
        self.messages.append(orjson.loads(data))

    def buffered_bytes(self) -> int:
        return self.buffered

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    @property
    def events(self) -> list[dict[str, Any]]:
        return [e for m in self.messages for e in m]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]


class FakeTime:
    def __init__(self) -> None:
        self.s = 100.0

    def __call__(self) -> float:
        return self.s


def hello() -> bytes:
    return (
        encode(Feed(FEED, 0, Exchange.BINANCE, "binance-spot", T0))
        + encode(Instrument(BTC, 2, Exchange.BINANCE, "BTC-USDT", 2, 8, 1, 1, "BTCUSDT"))
        + encode(Instrument(ETH, 4, Exchange.BINANCE, "ETH-USDT", 2, 4, 1, 1, "ETHUSDT"))
        + encode(Instrument(XBT, 0, Exchange.KRAKEN, "BTC-USD", 1, 8, 1, 1, "XBT/USD"))
    )


def trade(sid: int, seq: int, price: int = 6_500_012, qty: int = 150_000) -> bytes:
    return pack_trade(sid, seq, Side.BUY, 1000 + seq, T0 + seq, T0 + seq + 5, price, qty)


def quote(sid: int, seq: int, bid: int = 6_500_000) -> bytes:
    return pack_quote(sid, seq, T0, T0 + 1, bid, 2_00000000, bid + 1, 1_00000000)


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


@pytest.fixture
def snapshots() -> list[int]:
    return []


@pytest.fixture
def core(clock: FakeTime, snapshots: list[int]) -> BridgeCore:
    limits = BridgeLimits(
        max_queue_events=5, max_subscriptions=6, slow_client_timeout_s=2.0, trade_ring=3, book_depth=2
    )
    c = BridgeCore(limits, request_snapshot=snapshots.append, monotonic_s=clock, now_ns=lambda: T0)
    c.feed_cells(hello())
    return c


def connect(core: BridgeCore, name: str = "alice") -> tuple[Client, Sink]:
    sink = Sink()
    client = core.add_client(sink, Principal(name, "viewer", 2_000_000_000))
    assert client is not None
    return client, sink


def test_welcome_then_subscribed_then_exact_trades(core: BridgeCore) -> None:
    c, sink = connect(core)
    core.subscribe(c, "binance", ("BTC-USDT",), ("trades",), 1)
    core.feed_cells(trade(BTC, 10) + trade(ETH, 11) + trade(BTC, 12, price=-5, qty=1))
    welcome, subscribed = sink.events[:2]
    assert welcome["type"] == "welcome"
    assert welcome["sub"] == "alice"
    assert subscribed == {
        "type": "subscribed",
        "id": 1,
        "exchange": "binance",
        "symbols": ["BTC-USDT"],
        "channels": ["trades"],
    }
    assert sink.of("trade") == [
        {
            "type": "trade",
            "exchange": "binance",
            "symbol": "BTC-USDT",
            "seq": 10,
            "ts_exchange_ns": T0 + 10,
            "ts_recv_ns": T0 + 15,
            "side": "buy",
            "price": "65000.12",
            "qty": "0.00150000",
            "trade_id": 1010,
        },
        {
            "type": "trade",
            "exchange": "binance",
            "symbol": "BTC-USDT",
            "seq": 12,
            "ts_exchange_ns": T0 + 12,
            "ts_recv_ns": T0 + 17,
            "side": "buy",
            "price": "-0.05",
            "qty": "0.00000001",
            "trade_id": 1012,
        },
    ]
    assert len(sink.messages) == 3  # welcome, subscribed, then one message for the whole tick


def test_clients_get_only_their_subscriptions(core: BridgeCore) -> None:
    a, sa = connect(core, "a")
    b, sb = connect(core, "b")
    core.subscribe(a, "binance", ("BTC-USDT",), ("trades",))
    core.subscribe(b, "binance", ("ETH-USDT",), ("trades", "quotes"))
    core.feed_cells(trade(BTC, 1) + quote(ETH, 2) + trade(ETH, 4) + quote(BTC, 5))
    assert [(e["type"], e["symbol"], e["seq"]) for e in sa.events[2:]] == [("trade", "BTC-USDT", 1)]
    assert [(e["type"], e["symbol"], e["seq"]) for e in sb.events[2:]] == [
        ("quote", "ETH-USDT", 2),
        ("trade", "ETH-USDT", 4),
    ]
    assert sb.of("quote")[0]["bid_qty"] == "20000.0000"  # ETH-USDT quantities have 4 decimals


def test_new_subscriber_starts_with_recent_trades_and_the_latest_quote(core: BridgeCore) -> None:
    core.feed_cells(b"".join(trade(BTC, s) for s in range(1, 6)) + quote(BTC, 6, bid=100) + quote(BTC, 8, bid=200))
    c, sink = connect(core)
    core.subscribe(c, "binance", ("BTC-USDT",), ("trades", "quotes"))
    assert [e["seq"] for e in sink.of("trade")] == [3, 4, 5]  # the ring keeps the last 3, oldest first
    assert [e["bid_price"] for e in sink.of("quote")] == ["2.00"]
    assert sink.events[1]["type"] == "subscribed"  # state follows the acknowledgement


def book_snapshot(sid: int, seq: int, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> bytes:
    out = encode(SnapshotBegin(sid, seq, len(bids) + len(asks), T0, T0))
    for p, q in bids:
        out += encode(BookLevel(sid, seq, Side.BUY, T0, T0, p, q, snapshot=True))
    for p, q in asks:
        out += encode(BookLevel(sid, seq, Side.SELL, T0, T0, p, q, snapshot=True))
    return out + encode(SnapshotEnd(sid, seq + 1, len(bids) + len(asks), T0, T0))


def test_book_top_levels_after_snapshot_and_updates(core: BridgeCore, snapshots: list[int]) -> None:
    c, sink = connect(core)
    core.subscribe(c, "binance", ("BTC-USDT",), ("book",))
    assert snapshots == [BTC]  # no book yet: the bridge asked the relay for a snapshot
    assert sink.of("book") == []
    core.feed_cells(book_snapshot(BTC, 20, [(100, 1), (300, 3), (200, 2)], [(400, 4), (500, 5), (600, 6)]))
    assert sink.of("book")[-1]["bids"] == [["3.00", "0.00000003"], ["2.00", "0.00000002"]]
    assert sink.of("book")[-1]["asks"] == [["4.00", "0.00000004"], ["5.00", "0.00000005"]]
    # an update in two levels: only shown once the venue message is complete (BOOK_LAST)
    core.feed_cells(encode(BookLevel(BTC, 30, Side.BUY, T0, T0, 300, 0)))
    assert len(sink.of("book")) == 1
    core.feed_cells(encode(BookLevel(BTC, 31, Side.SELL, T0, T0, 350, 7, last=True)))
    book = sink.of("book")[-1]
    assert book["seq"] == 31
    assert book["bids"] == [["2.00", "0.00000002"], ["1.00", "0.00000001"]]
    assert book["asks"] == [["3.50", "0.00000007"], ["4.00", "0.00000004"]]
    # a late subscriber gets the current top at once
    d, dsink = connect(core, "late")
    core.subscribe(d, "binance", ("BTC-USDT",), ("book",))
    assert dsink.of("book") == [book]


def test_gap_invalidates_the_book_and_is_announced(core: BridgeCore, snapshots: list[int], clock: FakeTime) -> None:
    core.feed_cells(book_snapshot(BTC, 20, [(100, 1)], [(200, 1)]))
    c, sink = connect(core)
    core.subscribe(c, "binance", ("BTC-USDT",), ("book", "trades"))
    core.feed_cells(encode(Gap(FEED, 40, GapReason.SEQUENCE, T0, 0, 33, 7)))
    assert sink.of("gap") == [
        {
            "type": "gap",
            "exchange": "binance",
            "feed": "binance-spot",
            "symbol": None,
            "reason": "sequence",
            "seq": 40,
            "first": 33,
            "count": 7,
            "ts_ns": T0,
        }
    ]
    assert snapshots == [BTC]
    core.feed_cells(encode(BookLevel(BTC, 41, Side.BUY, T0, T0, 150, 1, last=True)))
    assert len(sink.of("book")) == 1  # no book shown until a fresh snapshot
    core.feed_cells(book_snapshot(BTC, 50, [(110, 1)], [(210, 1)]))
    assert sink.of("book")[-1]["bids"] == [["1.10", "0.00000001"]]


def test_relay_lost_reaches_every_client(core: BridgeCore) -> None:
    a, sa = connect(core, "a")
    b, sb = connect(core, "b")
    core.subscribe(a, "binance", ("BTC-USDT",), ("trades",))
    core.subscribe(b, "kraken", ("BTC-USD",), ("trades",))
    core.feed_cells(encode(Gap(0, 0, GapReason.FEED_LOST, T0)))
    for sink in (sa, sb):
        gap = sink.of("gap")[0]
        assert gap["reason"] == "feed_lost"
        assert gap["count"] is None


def test_status_goes_to_clients_of_that_exchange_and_to_new_subscribers(core: BridgeCore) -> None:
    a, sa = connect(core, "a")
    b, sb = connect(core, "b")
    core.subscribe(a, "binance", ("BTC-USDT",), ("trades",))
    core.subscribe(b, "kraken", ("BTC-USD",), ("trades",))
    core.feed_cells(encode(Status(FEED, 50, FeedState.RESYNCING, T0, reconnects=2)))
    assert sa.of("status") == [
        {
            "type": "status",
            "exchange": "binance",
            "feed": "binance-spot",
            "state": "resyncing",
            "reconnects": 2,
            "ts_ns": T0,
        }
    ]
    assert sb.of("status") == []
    c, sc = connect(core, "c")
    core.subscribe(c, "binance", ("ETH-USDT",), ("quotes",))
    assert sc.of("status") == sa.of("status")


def test_unsubscribe_stops_delivery(core: BridgeCore) -> None:
    c, sink = connect(core)
    core.subscribe(c, "binance", ("BTC-USDT",), ("trades", "quotes"))
    core.unsubscribe(c, "binance", ("BTC-USDT",), ("trades",), "u")
    core.feed_cells(trade(BTC, 1) + quote(BTC, 2))
    assert sink.of("unsubscribed")[0]["id"] == "u"
    assert [e["type"] for e in sink.events[3:]] == ["quote"]


def test_subscription_limit_is_an_error_reply_not_a_disconnect(core: BridgeCore) -> None:
    c, sink = connect(core)
    core.subscribe(c, "binance", ("BTC-USDT", "ETH-USDT"), ("trades", "quotes", "book"))
    core.subscribe(c, "kraken", ("BTC-USD",), ("trades",), 9)
    error = sink.of("error")[0]
    assert error["code"] == "subscription_limit"
    assert error["id"] == 9
    assert sink.closed is None
    core.feed_cells(trade(XBT, 1))
    assert sink.of("trade") == []


def test_slow_client_gets_coalesced_quotes_then_a_gap(core: BridgeCore, clock: FakeTime) -> None:
    fast, fsink = connect(core, "fast")
    slow, ssink = connect(core, "slow")
    for c in (fast, slow):
        core.subscribe(c, "binance", ("BTC-USDT",), ("trades", "quotes"))
    ssink.buffered = 10 << 20  # the slow client's socket is backed up
    seq = 100
    for i in range(10):
        core.feed_cells(trade(BTC, seq) + quote(BTC, seq + 1, bid=1000 + i))
        seq += 3
    assert len(fsink.of("trade")) == 10
    assert len(fsink.of("quote")) == 10
    before = len(ssink.events)
    assert core.behind_clients == 1
    ssink.buffered = 0
    core.service_backlog()
    caught_up = ssink.events[before:]
    # 5 events fit the limit (trades; quotes coalesce and do not count), the other trades are announced
    assert [e["type"] for e in caught_up] == ["trade", "trade", "trade", "trade", "trade", "quote", "gap"]
    assert [e["seq"] for e in caught_up[:5]] == [100, 103, 106, 109, 112]
    assert caught_up[5]["bid_price"] == "10.09"  # the latest quote only
    gap = caught_up[6]
    assert (gap["reason"], gap["channel"], gap["symbol"], gap["first"], gap["count"]) == (
        "slow_client",
        "trades",
        "BTC-USDT",
        115,
        5,
    )
    assert core.behind_clients == 0
    core.feed_cells(trade(BTC, 200))
    assert ssink.events[-1]["seq"] == 200


def test_client_that_never_reads_is_disconnected(core: BridgeCore, clock: FakeTime) -> None:
    fast, fsink = connect(core, "fast")
    slow, ssink = connect(core, "slow")
    for c in (fast, slow):
        core.subscribe(c, "binance", ("BTC-USDT",), ("trades",))
    ssink.buffered = 10 << 20
    core.feed_cells(trade(BTC, 1))
    clock.s += 1.0
    core.service_backlog()
    assert ssink.closed is None
    clock.s += 1.5
    core.service_backlog()
    assert ssink.closed is not None
    assert ssink.closed[0] == CloseCode.SLOW_CLIENT
    assert "slow client" in ssink.closed[1]
    assert slow not in core.clients
    core.feed_cells(trade(BTC, 2))
    assert [e["seq"] for e in fsink.of("trade")] == [1, 2]


def test_frames_for_unannounced_symbols_and_malformed_cells_are_counted(core: BridgeCore) -> None:
    unknown = symbol_id(Exchange.COINBASE, "DOGE-USD")
    c, sink = connect(core)
    core.subscribe(c, "coinbase", ("DOGE-USD",), ("trades",))
    core.feed_cells(trade(unknown, 1) + b"\x09" * 48 + trade(BTC, 2))
    assert sink.of("trade") == []
    value = core.metrics.dropped.labels(reason="unknown_instrument")._value.get()
    assert value == 1
    assert core.metrics.dropped.labels(reason="malformed_frame")._value.get() == 1
    core.feed_cells(encode(Instrument(unknown, 0, Exchange.COINBASE, "DOGE-USD", 5, 1, 1, 1, "DOGE-USD")))
    core.feed_cells(trade(unknown, 3))
    assert sink.of("trade")[0]["price"] == "65.00012"


def test_client_limit(clock: FakeTime) -> None:
    core = BridgeCore(BridgeLimits(max_clients=1), monotonic_s=clock)
    connect(core)
    sink = Sink()
    assert core.add_client(sink, Principal("b", "viewer", 2_000_000_000)) is None
    assert sink.closed is not None
    assert sink.closed[0] == CloseCode.TRY_AGAIN_LATER


def test_expired_token_closes_the_connection(core: BridgeCore) -> None:
    sink = Sink()
    client = core.add_client(sink, Principal("a", "viewer", 1000))
    assert client is not None
    core.expire_tokens(999.0)
    assert sink.closed is None
    core.expire_tokens(1001.0)
    assert sink.closed is not None
    assert sink.closed[0] == CloseCode.UNAUTHORIZED


def test_a_watched_book_without_snapshot_is_asked_for_again_once_per_second(
    core: BridgeCore, snapshots: list[int], clock: FakeTime
) -> None:
    """The relay may drop a snapshot request (its per-consumer rate limit): the bridge asks again."""
    c, _sink = connect(core)
    core.subscribe(c, "binance", ("BTC-USDT",), ("book",))
    assert snapshots == [BTC]
    core.retry_snapshots()
    assert snapshots == [BTC]  # not within a second of the last request
    clock.s += 1.0
    core.retry_snapshots()
    assert snapshots == [BTC, BTC]
    core.feed_cells(book_snapshot(BTC, 20, [(100, 1)], [(200, 1)]))
    clock.s += 5.0
    core.retry_snapshots()
    assert snapshots == [BTC, BTC]  # a valid book is not asked for
    core.unsubscribe(c, "binance", ("BTC-USDT",), ("book",))
    core.feed_cells(encode(Gap(FEED, 40, GapReason.SEQUENCE, T0, 0, 33, 7)))
    clock.s += 5.0
    core.retry_snapshots()
    assert snapshots == [BTC, BTC]  # nor a book nobody watches


def test_the_relay_is_asked_for_quotes_and_books_only_while_someone_watches(
    core: BridgeCore, snapshots: list[int]
) -> None:
    interest: list[tuple[int, int, bool]] = []
    core.on_interest = lambda sid, ch, watched: interest.append((sid, ch, watched))
    a, _ = connect(core, "a")
    b, sink_b = connect(core, "b")
    core.subscribe(a, "binance", ("BTC-USDT",), ("trades", "quotes", "book"))
    core.subscribe(b, "binance", ("BTC-USDT",), ("quotes",))
    # trades always come (each symbol keeps recent ones); quotes and book once, for the first watcher;
    # the book's snapshot comes with the relay subscription, so the bridge asks for none itself
    assert interest == [(BTC, 1, True), (BTC, 2, True)]
    assert snapshots == []
    core.feed_cells(quote(BTC, 20))
    assert core.watched() == [(BTC, 1), (BTC, 2)]
    core.unsubscribe(a, "binance", ("BTC-USDT",), ("quotes", "book"))
    assert interest[2:] == [(BTC, 2, False)]  # b still watches the quotes
    core.remove_client(b)
    assert interest[3:] == [(BTC, 1, False)]
    assert core.watched() == []
    # held state that would go stale is dropped: a new watcher gets the next quote, not an old one
    c, sink_c = connect(core, "c")
    core.subscribe(c, "binance", ("BTC-USDT",), ("quotes",))
    assert sink_c.of("quote") == []
    assert sink_b.of("quote")  # b had it while it watched


def test_without_an_interest_callback_everything_is_kept(core: BridgeCore) -> None:
    a, _ = connect(core, "a")
    core.subscribe(a, "binance", ("BTC-USDT",), ("quotes",))
    core.feed_cells(quote(BTC, 20))
    core.remove_client(a)
    c, sink_c = connect(core, "c")
    core.subscribe(c, "binance", ("BTC-USDT",), ("quotes",))
    assert len(sink_c.of("quote")) == 1  # a bridge fed everything keeps the latest quote for newcomers
