"""A bridge running in-process on real sockets, and WebSocket clients that record what they get."""

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from prometheus_client import CollectorRegistry
from websockets.asyncio.client import ClientConnection, connect

from alphapulse.bridge.core import BridgeCore, BridgeLimits
from alphapulse.bridge.metrics import BridgeMetrics
from alphapulse.bridge.server import BridgeServer
from alphapulse.bridge.service import relay_client
from alphapulse.proxies import TrustedProxies
from alphapulse.tokens import issue_token
from alphapulse.transport import RelayClient

KEY = b"bridge-test-secret-0123456789abcdef"


def token(sub: str = "alice", role: str = "viewer", ttl_s: int = 300) -> str:
    return issue_token(KEY, sub, role, now_s=int(time.time()), ttl_s=ttl_s)


@dataclass
class RunningBridge:
    core: BridgeCore
    server: BridgeServer
    registry: CollectorRegistry
    relay: RelayClient | None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.server.port}/ws"

    def shrink_send_buffer(self, sub: str, size_bytes: int = 4096) -> None:
        """Pin the kernel send buffer of ``sub``'s connection (no autotuning): a slow link, quickly full."""
        for c in self.core.clients:
            if c.principal.sub == sub:
                sock = c.sink._conn.transport.get_extra_info("socket")  # type: ignore[attr-defined]
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size_bytes)

    def metric(self, name: str, **labels: str) -> float:
        value = self.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


@contextlib.asynccontextmanager
async def running_bridge(
    relays: Sequence[str] = (),
    *,
    origins: Sequence[str] = ("http://good.example",),
    trusted_proxies: Sequence[str] = (),
    **limits: Any,
) -> AsyncIterator[RunningBridge]:
    registry = CollectorRegistry()
    relay: RelayClient | None = None
    core = BridgeCore(BridgeLimits(**limits), metrics=BridgeMetrics(registry))
    task: asyncio.Task[None] | None = None
    if relays:
        relay = relay_client(core, list(relays))  # the service's own wiring
        task = asyncio.create_task(relay.run(), name="test.bridge.relay")
    server = BridgeServer(
        core, KEY, allowed_origins=origins, registry=registry, trusted_proxies=TrustedProxies(trusted_proxies)
    )
    await server.start()
    try:
        yield RunningBridge(core, server, registry, relay)
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await server.close()


@dataclass
class Listener:
    """One browser: authenticates, subscribes, and records (receive time ns, event) in order."""

    url: str
    name: str = "alice"
    read: bool = True
    events: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    ws: ClientConnection | None = None
    task: asyncio.Task[None] | None = None
    rcvbuf_bytes: int | None = None

    async def open(self) -> None:
        sock = None
        if self.rcvbuf_bytes is not None:
            # a tiny receive buffer so a client that stops reading backs up quickly
            host, port = self.url.split("//")[1].split("/")[0].split(":")
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf_bytes)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
        self.ws = await connect(self.url, compression=None, max_queue=4 if not self.read else 64, sock=sock)
        await self.ws.send(orjson.dumps({"op": "auth", "token": token(self.name)}).decode())
        welcome = orjson.loads(await self.ws.recv())
        assert welcome[0]["type"] == "welcome", welcome
        if self.read:
            self.task = asyncio.create_task(self._read(), name=f"test.listener.{self.name}")

    async def _read(self) -> None:
        assert self.ws is not None
        with contextlib.suppress(Exception):
            async for message in self.ws:
                now = time.time_ns()
                self.events.extend((now, e) for e in orjson.loads(message))

    async def send(self, **message: Any) -> None:
        assert self.ws is not None
        await self.ws.send(orjson.dumps(message).decode())

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for _, e in self.events if e["type"] == kind]

    def events_of(self, *kinds: str) -> list[dict[str, Any]]:
        return [e for _, e in self.events if e["type"] in kinds]


async def eventually_true(check: Any, timeout_s: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
