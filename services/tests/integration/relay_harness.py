"""A test producer (a fake collector speaking the real protocol) and a recording consumer."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from alphapulse.protocol import Exchange, Feed, FrameDecoder, Instrument, encode, feed_id, pack_trade, symbol_id
from alphapulse.protocol.frames import Frame
from alphapulse.relay import Relay
from alphapulse.transport import FeedServer, RelayClient


@contextlib.asynccontextmanager
async def running_relay(sock_dir: Path, **kwargs: Any) -> AsyncIterator[Relay]:
    """A relay on ``sock_dir`` (feed sockets found within 20 ms), running until the block ends."""
    relay = Relay(sock_dir, scan_interval_s=0.02, **kwargs)
    await relay.start()
    task = asyncio.create_task(relay.run(), name="test.relay")
    try:
        yield relay
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


class Producer:
    """Publishes trades for ``symbols`` on a feed socket with contiguous sequence numbers."""

    def __init__(
        self,
        sock_dir: Path,
        name: str,
        exchange: Exchange,
        symbols: list[str],
        epoch_ns: int = 0,
        replay_ring_bytes: int = 0,
    ) -> None:
        self.name = name
        self.exchange = exchange
        self.fid = feed_id(name)
        self.epoch_ns = epoch_ns or time.time_ns()
        self.symbols = symbols
        self.sids = [symbol_id(exchange, s) for s in symbols]
        self.seq = 0
        self.state = b""
        self.controls: list[object] = []
        self.server = FeedServer(
            sock_dir / "feeds" / f"{name}.sock",
            feed_id=self.fid,
            epoch_ns=self.epoch_ns,
            hello=self.hello,
            on_control=self.controls.append,
            replay_ring_bytes=replay_ring_bytes,
        )
        self._state_frames()

    def _state_frames(self) -> None:
        out = encode(Feed(self.fid, self.seq, self.exchange, self.name, self.epoch_ns))
        self.seq += 2
        for sym, sid in zip(self.symbols, self.sids, strict=True):
            out += encode(Instrument(sid, self.seq, self.exchange, sym, 2, 8, 1, 1, sym.replace("-", "")))
            self.seq += 2
        self.state = out

    def hello(self) -> bytes:
        from alphapulse.relay.core import as_replay

        return as_replay(self.state)

    async def start(self) -> None:
        await self.server.start()

    def trades(self, n: int, symbol_index: int = 0, *, ts_ns: int | None = None) -> bytes:
        sid = self.sids[symbol_index]
        now = ts_ns if ts_ns is not None else time.time_ns()
        parts = []
        for _ in range(n):
            parts.append(pack_trade(sid, self.seq, 1, self.seq, now, now, 9_000_001, 100_000_000))
            self.seq += 1
        return b"".join(parts)

    def publish_trades(self, n: int, symbol_index: int = 0) -> None:
        self.server.publish(self.trades(n, symbol_index))


class Recorder:
    """A relay consumer that decodes and keeps every frame."""

    def __init__(self, endpoint: str, name: str = "rec", **kwargs: object) -> None:
        self.frames: list[Frame] = []
        self.decoder = FrameDecoder()
        self.client = RelayClient([endpoint], self.on_cells, name=name, **kwargs)  # type: ignore[arg-type]
        self.task: asyncio.Task[None] | None = None

    def on_cells(self, data: bytes) -> None:
        self.frames.extend(self.decoder.feed(data))

    def start(self) -> None:
        self.task = asyncio.create_task(self.client.run(), name="test.recorder")

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    def of(self, cls: type) -> list[Frame]:
        return [f for f in self.frames if isinstance(f, cls)]


async def eventually(check: Callable[[], bool], timeout_s: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
