"""Property: whatever the subscriptions and however the stream is cut into ticks, each keeping-up
client receives exactly the trades and quotes it subscribed to, in stream order, once each."""

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from alphapulse.bridge.core import BridgeCore
from alphapulse.protocol import Exchange, Instrument, encode, pack_quote, pack_trade, symbol_id
from alphapulse.tokens import Principal

SYMBOLS = ["BTC-USDT", "ETH-USDT", "SOL-USDT"]
SIDS = [symbol_id(Exchange.BINANCE, s) for s in SYMBOLS]


class Sink:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        self.events.extend(orjson.loads(data))

    def buffered_bytes(self) -> int:
        return 0

    def close(self, code: int, reason: str) -> None:
        raise AssertionError(f"unexpected close {code} {reason}")


subscriptions = st.lists(
    st.tuples(
        st.sets(st.sampled_from(SYMBOLS), min_size=1), st.sets(st.sampled_from(["trades", "quotes"]), min_size=1)
    ),
    min_size=1,
    max_size=5,
)
stream = st.lists(st.tuples(st.integers(0, 2), st.booleans()), min_size=1, max_size=60)
cuts = st.lists(st.integers(1, 8), min_size=1, max_size=20)


@settings(max_examples=150, deadline=None)
@given(subscriptions, stream, cuts)
def test_each_client_gets_exactly_its_subscriptions_in_order(
    subs: list[tuple[set[str], set[str]]], items: list[tuple[int, bool]], sizes: list[int]
) -> None:
    core = BridgeCore()
    core.feed_cells(
        b"".join(
            encode(Instrument(sid, 0, Exchange.BINANCE, sym, 2, 8, 1, 1, sym.replace("-", "")))
            for sym, sid in zip(SYMBOLS, SIDS, strict=True)
        )
    )
    sinks = []
    for i, (symbols, channels) in enumerate(subs):
        sink = Sink()
        client = core.add_client(sink, Principal(f"u{i}", "viewer", 2**40))
        assert client is not None
        core.subscribe(client, "binance", tuple(sorted(symbols)), tuple(sorted(channels)))
        sinks.append(sink)
    frames: list[bytes] = []
    published: list[tuple[str, str, int]] = []
    seq = 100
    for index, is_trade in items:
        if is_trade:
            frames.append(pack_trade(SIDS[index], seq, 1, seq, 1, 1, 100, 1))
            published.append(("trade", SYMBOLS[index], seq))
            seq += 1
        else:
            frames.append(pack_quote(SIDS[index], seq, 1, 1, 100, 1, 101, 1))
            published.append(("quote", SYMBOLS[index], seq))
            seq += 2
    pos, k = 0, 0
    while pos < len(frames):
        n = sizes[k % len(sizes)]
        core.feed_cells(b"".join(frames[pos : pos + n]))
        pos += n
        k += 1
    for (symbols, channels), sink in zip(subs, sinks, strict=True):
        wanted = [p for p in published if p[1] in symbols and {"trade": "trades", "quote": "quotes"}[p[0]] in channels]
        got = [(e["type"], e["symbol"], e["seq"]) for e in sink.events if e["type"] in {"trade", "quote"}]
        assert got == wanted


class FlakySink(Sink):
    """A socket that is sometimes backed up."""

    def __init__(self) -> None:
        super().__init__()
        self.backed_up = False

    def buffered_bytes(self) -> int:
        return 1 << 30 if self.backed_up else 0


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 30), st.booleans()), min_size=1, max_size=30), st.integers(1, 40))
def test_a_slow_client_gets_every_trade_or_a_gap_counting_it(ticks: list[tuple[int, bool]], limit: int) -> None:
    from alphapulse.bridge.core import BridgeLimits

    core = BridgeCore(BridgeLimits(max_queue_events=limit, slow_client_timeout_s=1e9))
    sid = SIDS[0]
    core.feed_cells(encode(Instrument(sid, 0, Exchange.BINANCE, SYMBOLS[0], 2, 8, 1, 1, "BTCUSDT")))
    sink = FlakySink()
    client = core.add_client(sink, Principal("slow", "viewer", 2**40))
    assert client is not None
    core.subscribe(client, "binance", (SYMBOLS[0],), ("trades", "quotes"))
    seq = 1
    for n, backed_up in ticks:
        sink.backed_up = backed_up
        batch = b""
        for _ in range(n):
            batch += pack_trade(sid, seq, 1, seq, 1, 1, 100, 1) + pack_quote(sid, seq + 1, 1, 1, seq, 1, 101, 1)
            seq += 3
        core.feed_cells(batch)
        core.service_backlog()
    sink.backed_up = False
    core.service_backlog()
    trades = [e["seq"] for e in sink.events if e["type"] == "trade"]
    missed = sum(e["count"] for e in sink.events if e["type"] == "gap")
    assert trades == sorted(trades)
    assert len(trades) + missed == sum(n for n, _ in ticks)
    quotes = [e for e in sink.events if e["type"] == "quote"]
    assert quotes[-1]["seq"] == seq - 2  # whatever was coalesced, the latest quote arrives
    assert [q["seq"] for q in quotes] == sorted(q["seq"] for q in quotes)
