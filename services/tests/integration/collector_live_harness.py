"""Run a real collector against a VenueServer and read its feed socket, as the relay or tap would."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from alphapulse.collectors.connection import ConnectionSettings
from alphapulse.collectors.service import Collector
from alphapulse.feeds import ExchangeFeed
from alphapulse.framejson import FrameRenderer
from alphapulse.protocol import Control, Frame, FrameDecoder, encode
from alphapulse.settings import feed_socket_path

FAST = ConnectionSettings(
    connect_timeout_s=3,
    subscribe_timeout_s=5,
    idle_timeout_s=None,
    backoff_initial_s=0.05,
    backoff_max_s=0.2,
    backoff_jitter=0.0,
    subscribe_interval_s=0.0,
    watchdog_interval_s=0.05,
)
PATHS = {"kraken": "/v2", "coinbase": "/", "binance": "/stream"}


def read_lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def feed_for(fixtures: Path, venue: str, url: str, rest_url: str | None = None, name: str = "") -> ExchangeFeed:
    rows = [json.loads(x) for x in read_lines(fixtures / venue / "expected_normalized.jsonl")]
    symbols = tuple(sorted({r["symbol"] for r in rows}))
    return ExchangeFeed(
        name=name or f"it-{venue}",
        exchange=venue,
        symbols=symbols,
        channels=("trades", "quotes", "book"),
        url=url,
        rest_url=rest_url,
        depth=10,
    )


class FeedReader:
    """A feed-socket reader: every frame decoded, in order."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.renderer = FrameRenderer()
        self.rendered: list[dict[str, Any]] = []
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self.changed = asyncio.Event()

    async def connect(self, path: Path) -> None:
        for _ in range(200):
            if path.exists():
                break
            await asyncio.sleep(0.02)
        reader, self._writer = await asyncio.open_unix_connection(str(path))
        self._task = asyncio.create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        decoder = FrameDecoder()
        while data := await reader.read(1 << 16):
            for f in decoder.feed(data):
                self.frames.append(f)
                self.rendered.append(self.renderer.render(f))
            self.changed.set()

    def send(self, ctl: Control) -> None:
        assert self._writer is not None
        self._writer.write(encode(ctl))

    async def wait_for(self, predicate: Callable[[list[Frame]], bool], timeout_s: float = 15.0) -> None:
        async def loop() -> None:
            while not predicate(self.frames):
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(loop(), timeout_s)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def trades(self) -> list[dict[str, Any]]:
        return [
            {
                "symbol": d["symbol"],
                "side": d["side"],
                "price": Decimal(d["price"]),
                "qty": Decimal(d["qty"]),
                "ts_ns": d["ts_exchange_ns"],
                "trade_id": d["trade_id"],
                "snapshot": bool(d.get("snapshot", False)),
            }
            for d in self.rendered
            if d["type"] == "trade"
        ]


@contextlib.asynccontextmanager
async def running(
    feed: ExchangeFeed, sock_dir: Path, settings: ConnectionSettings = FAST, **kw: Any
) -> AsyncIterator[tuple[Collector, FeedReader]]:
    collector = Collector(feed, sock_dir, settings=settings, **kw)
    task = asyncio.create_task(collector.run(), name="test.collector")
    reader = FeedReader()
    try:
        await reader.connect(feed_socket_path(sock_dir, feed.name))
        yield collector, reader
    finally:
        await reader.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def expected_trades(fixtures: Path, venue: str) -> list[dict[str, Any]]:
    rows = [json.loads(x) for x in read_lines(fixtures / venue / "expected_normalized.jsonl")]
    return [
        {
            "symbol": r["symbol"],
            "side": r["side"],
            "price": Decimal(r["price"]),
            "qty": Decimal(r["qty"]),
            "ts_ns": r["ts_ns"],
            "trade_id": r["trade_id"],
            "snapshot": r["snapshot"],
        }
        for r in rows
    ]


def rest_routes(fixtures: Path, venue: str) -> dict[str, Callable[[str], bytes]]:
    d = fixtures / venue
    if venue == "coinbase":
        body = (d / "rest_products.json").read_bytes()
        return {"/api/v3/brokerage/market/products": lambda _t: body}
    if venue == "binance":
        info, depth = (d / "rest_exchange_info.json").read_bytes(), (d / "rest_depth_snapshot.json").read_bytes()
        return {"/api/v3/exchangeInfo": lambda _t: info, "/api/v3/depth": lambda _t: depth}
    return {}
