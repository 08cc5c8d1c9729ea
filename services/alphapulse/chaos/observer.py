"""A browser-like bridge client that records every trade, gap and per-trade latency it sees."""

import asyncio
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import websockets

__all__ = ("BridgeObserver", "Sample")


@dataclass(frozen=True, slots=True)
class Sample:
    """One trade as the client saw it: when it arrived and how old it was (collector receive → here)."""

    exchange: str
    arrived_ns: int
    latency_ns: int


@dataclass(slots=True)
class BridgeObserver:
    url: str
    token: str
    subscriptions: dict[str, list[str]]  # exchange -> symbols
    read: bool = True  # False: a stalled client that subscribes and then never reads
    trades: dict[tuple[str, str, int], int] = field(default_factory=dict)  # -> ts_recv_ns
    duplicate_count: int = 0  # a trade delivered twice on one connection (a new connection replays recent ones)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    closed_code: int | None = None
    local_port: int = 0  # our end of the (last) connection
    # light: keep no per-trade history (a soak runs for hours); duplicates are then found per
    # symbol as a trade id not above the last one seen on this connection
    light: bool = False
    trades_seen: int = 0
    _last_id: dict[tuple[str, str], int] = field(default_factory=dict)
    connections: int = 0
    _task: asyncio.Task[None] | None = None
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _seen: set[tuple[str, str, int]] = field(default_factory=set)

    async def start(self, timeout_s: float = 30.0) -> None:
        self._task = asyncio.create_task(self._run(), name="chaos.observer")
        await asyncio.wait_for(self._ready.wait(), timeout_s)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def duplicates(self) -> int:
        return self.duplicate_count

    def last_arrival_ns(self, exchange: str) -> int:
        return max((s.arrived_ns for s in reversed(self.samples[-5000:]) if s.exchange == exchange), default=0)

    def first_after(self, exchange: str, t_ns: int) -> int | None:
        """Arrival time of the first trade of ``exchange`` received by the collector after ``t_ns``."""
        for s in self.samples:
            if s.exchange == exchange and s.arrived_ns - s.latency_ns > t_ns:
                return s.arrived_ns
        return None

    async def _run(self) -> None:
        while True:  # reconnect like the documented client does (a bridge restart is one of the faults)
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except (OSError, websockets.WebSocketException):
                pass
            if not self.read:
                return  # a stalled client that was disconnected stays gone: that is the point
            await asyncio.sleep(0.2)

    async def _session(self) -> None:
        max_queue = 1 if not self.read else 1024
        sock = None
        if not self.read:
            # a tiny receive window, so the bridge's socket backs up within seconds instead of
            # after the kernel's autotuned megabytes (a frozen tab on a slow link)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            host, port = self.url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
            await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
        async with websockets.connect(
            self.url, max_queue=max_queue, open_timeout=10, ping_interval=None, sock=sock
        ) as ws:
            await ws.send(orjson.dumps({"op": "auth", "token": self.token}).decode())
            for exchange, symbols in self.subscriptions.items():
                await ws.send(orjson.dumps({"op": "subscribe", "exchange": exchange, "symbols": symbols}).decode())
            self.connections += 1
            self.local_port = ws.transport.get_extra_info("sockname")[1]
            if self.connections > 1:  # what happened while reconnecting was never sent to us: a gap
                self.gaps.append({"type": "gap", "reason": "client_reconnect", "exchange": "", "ts_ns": time.time_ns()})
            self._seen = set()
            self._last_id = {}
            if not self.read:
                # stop reading: websockets stops reading the socket once its queue is full, so the
                # bridge's writes back up exactly as with a browser tab frozen by a debugger
                self._ready.set()
                try:
                    await ws.wait_closed()
                finally:
                    self.closed_code = ws.close_code
                return
            try:
                async for message in ws:
                    self._record(message)
            finally:
                self.closed_code = ws.close_code

    def _record(self, message: str | bytes) -> None:
        now = time.time_ns()
        events = orjson.loads(message)
        # the state sent with "subscribed" (recent trades) is history, not a live latency sample
        live = not any(ev.get("type") == "subscribed" for ev in events)
        for ev in events:
            kind = ev.get("type")
            if kind == "trade":
                if ev.get("snapshot"):
                    continue
                self.trades_seen += 1
                if self.light:
                    sym = (ev["exchange"], ev["symbol"])
                    if ev["trade_id"] <= self._last_id.get(sym, -1):
                        self.duplicate_count += 1
                    self._last_id[sym] = max(ev["trade_id"], self._last_id.get(sym, -1))
                    continue
                key = (ev["exchange"], ev["symbol"], ev["trade_id"])
                if key in self._seen:
                    self.duplicate_count += 1
                self._seen.add(key)
                self.trades[key] = ev["ts_recv_ns"]
                if live:
                    self.samples.append(Sample(ev["exchange"], now, now - ev["ts_recv_ns"]))
            elif kind == "gap":
                self.gaps.append({**ev, "arrived_ns": now})
            elif kind == "subscribed":
                self._ready.set()
