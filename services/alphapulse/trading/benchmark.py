"""The measurements behind ``alphapulse bench trading`` (``alphapulse.bench.trading`` imports this lazily,
so ``alphapulse --help`` never pays NautilusTrader's import).

Scenarios (all in one process, on this machine's loop, with a real relay over Unix sockets):

- ``live-throughput``: a fake collector publishes trades as fast as the relay drains them; a
  strategy inside a real TradingNode counts them. Throughput is trades delivered to the strategy per
  second (each trade is one 48-byte frame).
- ``live-latency``: the same path at a steady rate (``--latency-rate``, default 2,000 frames/s); each
  trade carries its publish time, the strategy's handler subtracts it: feed socket -> relay -> client
  (decode, checks, TradeTick) -> DataEngine queue -> strategy.
- ``translate``: decode + checks + NautilusTrader object construction alone (no sockets, no engine).
- ``backtest``: BacktestEngine events/s on a seeded two-venue sample with both example strategies.

Peer ``nautilus_trader-direct``: the same trade ticks handed straight to the DataEngine in the same
node (no socket, relay, decoding or checks): NautilusTrader's own cost, the floor under ours.
"""

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.identifiers import ClientId, InstrumentId, TradeId
from nautilus_trader.trading.config import StrategyConfig
from nautilus_trader.trading.strategy import Strategy

from alphapulse.protocol import (
    Exchange,
    Feed,
    Instrument,
    encode,
    feed_id,
    pack_quote,
    pack_trade,
    symbol_id,
)
from alphapulse.relay import Relay
from alphapulse.relay.core import as_replay
from alphapulse.trading.backtest.catalog import convert_export
from alphapulse.trading.backtest.runner import BacktestSpec, run_backtest
from alphapulse.trading.backtest.sample import write_sample_session
from alphapulse.trading.config import StrategySpec, parse_trade_spec
from alphapulse.trading.node import DATA_CLIENT, build_node, running_node
from alphapulse.trading.translate import FrameTranslator
from alphapulse.transport import FeedServer

__all__ = ("run",)


def _latency(samples: list[int] | npt.NDArray[np.int64]) -> dict[str, float]:
    arr = np.asarray(samples, dtype=np.float64)
    if not arr.size:
        return {"p50": float("nan"), "p99": float("nan"), "p999": float("nan"), "count": 0}
    p50, p99, p999 = np.percentile(arr, [50, 99, 99.9])
    return {"p50": round(float(p50)), "p99": round(float(p99)), "p999": round(float(p999)), "count": int(arr.size)}


class Counter(Strategy):  # type: ignore[misc]  # Strategy is a Cython class (Any to mypy)
    def __init__(self) -> None:
        super().__init__(StrategyConfig(strategy_id="BenchCounter-001"))
        self.n = 0
        self.lat: list[int] = []
        self.record = False
        self.last_ns = 0

    def on_start(self) -> None:
        self.subscribe_trade_ticks(InstrumentId.from_str("BTC-USDT.BINANCE"))

    def on_trade_tick(self, tick: TradeTick) -> None:
        now = time.time_ns()
        self.n += 1
        self.last_ns = now
        if self.record:
            self.lat.append(now - tick.ts_event)


async def _live(frames: int, latency_frames: int, latency_rate: float) -> list[dict[str, Any]]:

    with tempfile.TemporaryDirectory(prefix="ap-bt-", dir="/tmp") as d:
        sock_dir = Path(d)
        sid = symbol_id(Exchange.BINANCE, "BTC-USDT")
        fid = feed_id("bench-binance")
        hello = encode(Feed(fid, 0, Exchange.BINANCE, "bench-binance", time.time_ns())) + encode(
            Instrument(sid, 2, Exchange.BINANCE, "BTC-USDT", 2, 8, 1, 1, "BTCUSDT")
        )
        server = FeedServer(sock_dir / "feeds" / "bench-binance.sock", feed_id=fid, hello=lambda: as_replay(hello))
        await server.start()
        relay = Relay(sock_dir, scan_interval_s=0.02)
        relay_task = asyncio.create_task(relay.run(), name="bench.relay")
        seq = 4
        try:
            while not relay.inputs:  # noqa: ASYNC110 - polling counters, no event to wait on
                await asyncio.sleep(0.01)
            strategy = Counter()
            spec = parse_trade_spec({"venues": {"BINANCE": {}}, "orders": {"enabled": False}, "audit": False}, env={})
            node = build_node(
                spec, strategies=[strategy], loop=asyncio.get_running_loop(), sock_dir=str(sock_dir), log_level="ERROR"
            )
            async with running_node(node):
                while not any(c.filter.by_symbol.get(sid) for c in relay.consumers):  # noqa: ASYNC110 - polling counters, no event to wait on
                    await asyncio.sleep(0.01)

                def burst(n: int) -> bytes:
                    nonlocal seq
                    now = time.time_ns()
                    out = b"".join(
                        pack_trade(sid, seq + k, 1, seq + k, now, now, 9_000_000 + k % 100, 100_000) for k in range(n)
                    )
                    seq += n
                    return out

                # throughput: publish in batches of 500, never more than ~1 MiB ahead of the relay
                t0 = time.perf_counter()
                sent = 0
                while sent < frames:
                    n = min(500, frames - sent)
                    server.publish(burst(n))
                    sent += n
                    await asyncio.sleep(0)
                    while (  # noqa: ASYNC110 - polling state the relay and node expose no event for
                        any(p.writer and p.writer.transport.get_write_buffer_size() > 1 << 20 for p in server.peers)
                        or sent - strategy.n > 50_000
                    ):
                        await asyncio.sleep(0.001)
                deadline = time.monotonic() + 60
                while strategy.n < frames and time.monotonic() < deadline:  # noqa: ASYNC110 - polling counters, no event to wait on
                    await asyncio.sleep(0.001)
                elapsed = time.perf_counter() - t0
                got = strategy.n
                # latency: one trade at a time at a steady rate
                strategy.record = True
                interval = 1.0 / latency_rate
                next_t = time.perf_counter()
                for _ in range(latency_frames):
                    server.publish(burst(1))
                    next_t += interval
                    delay = next_t - time.perf_counter()
                    await asyncio.sleep(max(0.0, delay))
                deadline = time.monotonic() + 10
                while strategy.n < got + latency_frames and time.monotonic() < deadline:  # noqa: ASYNC110 - polling counters, no event to wait on
                    await asyncio.sleep(0.001)
                ours_lat = strategy.lat
                peer = await _direct(node, strategy, frames, latency_frames, latency_rate)
        finally:
            relay_task.cancel()
            await asyncio.gather(relay_task, return_exceptions=True)
            await server.close()
    return [
        {
            "system": "alphapulse",
            "scenario": "live-throughput",
            "throughput_per_s": round(got / elapsed),
            "latency_ns": _latency([]),
            "frames": frames,
            "delivered": got,
        },
        {
            "system": "alphapulse",
            "scenario": "live-latency",
            "throughput_per_s": round(latency_rate),
            "latency_ns": _latency(ours_lat),
            "frames": latency_frames,
            "delivered": len(ours_lat),
        },
        *peer,
    ]


async def _direct(
    node: Any, strategy: Counter, frames: int, latency_frames: int, latency_rate: float
) -> list[dict[str, Any]]:
    """The peer: the same TradeTicks handed to the DataEngine in-process (no socket, relay or decoding):
    NautilusTrader's own cost, the floor under ours."""
    client = node.kernel.data_engine._clients[ClientId(DATA_CLIENT)]  # readonly Cython attribute
    sid = symbol_id(Exchange.BINANCE, "BTC-USDT")
    data = b"".join(pack_trade(sid, k, 1, k + 1, 1, 1, 9_000_000 + k % 100, 100_000) for k in range(frames))
    ticks = FrameTranslator()
    ticks.translate([Instrument(sid, 0, Exchange.BINANCE, "BTC-USDT", 2, 8, 1, 1, "BTCUSDT")], 0)
    prebuilt = ticks.translate_cells(data, time.time_ns())  # built outside the measurement
    base = strategy.n
    strategy.record = False
    t0 = time.perf_counter()
    for i in range(0, frames, 500):
        for tick in prebuilt[i : i + 500]:
            client._handle_data(tick)
        await asyncio.sleep(0)
        while i + 500 - (strategy.n - base) > 50_000:  # noqa: ASYNC110 - polling counters, no event to wait on
            await asyncio.sleep(0.001)
    deadline = time.monotonic() + 60
    while strategy.n - base < frames and time.monotonic() < deadline:  # noqa: ASYNC110 - polling counters, no event to wait on
        await asyncio.sleep(0.001)
    elapsed = time.perf_counter() - t0
    got = strategy.n - base
    strategy.lat = []
    strategy.record = True
    inst = node.cache.instrument(InstrumentId.from_str("BTC-USDT.BINANCE"))
    px, qty = inst.make_price("90000.00"), inst.make_qty("0.001")
    interval = 1.0 / latency_rate
    next_t = time.perf_counter()
    for k in range(latency_frames):
        now = time.time_ns()
        client._handle_data(TradeTick(inst.id, px, qty, AggressorSide.BUYER, TradeId(f"D{k}"), now, now))
        next_t += interval
        await asyncio.sleep(max(0.0, next_t - time.perf_counter()))
    deadline = time.monotonic() + 10
    while len(strategy.lat) < latency_frames and time.monotonic() < deadline:  # noqa: ASYNC110 - polling counters, no event to wait on
        await asyncio.sleep(0.001)
    return [
        {
            "system": "nautilus_trader-direct",
            "scenario": "live-throughput",
            "throughput_per_s": round(got / elapsed),
            "latency_ns": _latency([]),
            "frames": frames,
            "delivered": got,
        },
        {
            "system": "nautilus_trader-direct",
            "scenario": "live-latency",
            "throughput_per_s": round(latency_rate),
            "latency_ns": _latency(strategy.lat),
            "frames": latency_frames,
            "delivered": len(strategy.lat),
        },
    ]


def _translate(frames: int) -> dict[str, Any]:

    sid = symbol_id(Exchange.BINANCE, "BTC-USDT")
    t = FrameTranslator()
    t.translate([Instrument(sid, 0, Exchange.BINANCE, "BTC-USDT", 2, 8, 1, 1, "BTCUSDT")], 0)
    half = frames // 2
    data = b"".join(pack_trade(sid, k, 1, k, k, k, 9_000_000 + k % 100, 100_000) for k in range(half))
    data += b"".join(pack_quote(sid, k, k, k, 9_000_000, 1, 9_000_100, 1) for k in range(half))
    t0 = time.perf_counter()
    out = t.translate_cells(data, 1)
    elapsed = time.perf_counter() - t0
    return {
        "system": "alphapulse",
        "scenario": "translate",
        "throughput_per_s": round(len(out) / elapsed),
        "latency_ns": {"p50": round(elapsed / len(out) * 1e9), "p99": float("nan"), "p999": float("nan")},
        "frames": len(out),
    }


def _backtest(quotes: int) -> dict[str, Any]:

    with tempfile.TemporaryDirectory(prefix="ap-btc-") as d:
        root = Path(d)
        write_sample_session(root / "export", quotes=quotes)
        convert_export(root / "export", root / "catalog")
        outcome = run_backtest(
            BacktestSpec(
                root / "catalog",
                (
                    StrategySpec(
                        "alphapulse.trading.strategies.ema_reversion:EmaReversion",
                        {"instrument_id": "BTC-USDT.BINANCE", "trade_size": "0.1", "entry_bps": 20.0},
                    ),
                    StrategySpec(
                        "alphapulse.trading.strategies.spread:CrossVenueSpread",
                        {"instrument_ids": ["BTC-USDT.BINANCE", "BTC-USD.KRAKEN"], "entry_bps": 30.0},
                    ),
                ),
            )
        )
    return {
        "system": "alphapulse",
        "scenario": "backtest",
        "throughput_per_s": round(outcome.stats["events_per_s"]),
        "latency_ns": _latency([]),
        "events": outcome.events,
        "fills": len(outcome.fills),
    }


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    frames = int(getattr(args, "frames", None) or 100_000)
    latency_frames = int(getattr(args, "latency_frames", None) or 4_000)
    latency_rate = float(getattr(args, "latency_rate", None) or 2_000.0)
    bt_quotes = int(getattr(args, "backtest_quotes", None) or 20_000)
    results = asyncio.run(_live(frames, latency_frames, latency_rate))
    results.append(_translate(min(frames, 100_000)))
    results.append(_backtest(bt_quotes))
    return {
        "bench": "trading",
        "results": results,
        "notes": [
            "live: fake collector -> feed socket -> relay -> RelayDataClient -> DataEngine -> strategy, one process",
            "latency: publish time to the strategy's on_trade_tick, at a steady rate (not saturated)",
        ],
    }
