"""``alphapulse bridge`` as a process: relay client(s) → core → WebSocket server."""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from prometheus_client import REGISTRY, CollectorRegistry

from alphapulse.bridge.core import BOOK, QUOTES, BridgeCore, BridgeLimits
from alphapulse.bridge.metrics import BridgeMetrics
from alphapulse.bridge.server import BridgeServer
from alphapulse.protocol import Control, ControlOp, FrameType, type_mask
from alphapulse.proxies import TrustedProxies
from alphapulse.transport import RelayClient

__all__ = ("BRIDGE_TYPES", "WATCHED_TYPES", "Bridge", "BridgeSettings", "relay_client", "run_bridge")

log = logging.getLogger(__name__)

# What the bridge asks the relay for (state frames — feed, instrument, status, gap — always come):
# every trade (each symbol keeps its recent trades for new subscribers), and the quotes and book of
# only the symbols some client watches (relay_client). Quotes and book levels are most of a feed's
# frames: a bridge whose browsers watch a few symbols' trades would otherwise wake for all of them.
# Subscribing a symbol with the BOOK bit makes the relay ask its feed for a fresh snapshot, so a
# book starts (and restarts after a reconnect) consistent.
BRIDGE_TYPES = type_mask(FrameType.TRADE)
WATCHED_TYPES = {
    QUOTES: type_mask(FrameType.QUOTE),
    BOOK: type_mask(FrameType.BOOK, FrameType.SNAPSHOT_BEGIN, FrameType.SNAPSHOT_END),
}


def relay_client(core: BridgeCore, relays: Sequence[str]) -> RelayClient:
    """The bridge's relay connection, its subscriptions following what the core's clients watch."""

    def on_connect() -> list[Control]:  # every (re)connection: what is wanted now
        return [Control(ControlOp.SUBSCRIBE, 0, BRIDGE_TYPES)] + [
            Control(ControlOp.SUBSCRIBE, sid, WATCHED_TYPES[ch]) for sid, ch in core.watched()
        ]

    def on_interest(sid: int, channel: int, watched: bool) -> None:
        op = ControlOp.SUBSCRIBE if watched else ControlOp.UNSUBSCRIBE
        client.send(Control(op, sid, WATCHED_TYPES[channel]), remember=False)

    def request_snapshot(sid: int) -> None:
        client.send(Control(ControlOp.SNAPSHOT, sid))

    client = RelayClient(relays, core.feed_cells, name="bridge", on_connect=on_connect)
    core.on_interest = on_interest
    core.request_snapshot = request_snapshot
    return client


@dataclass(frozen=True, slots=True)
class BridgeSettings:
    relays: Sequence[str]
    key: bytes
    host: str = "127.0.0.1"
    port: int = 8765
    allowed_origins: Sequence[str] = ()
    limits: BridgeLimits = field(default_factory=BridgeLimits)
    # peers whose X-Forwarded-For names the client (alphapulse.proxies); () trusts nobody
    trusted_proxies: Sequence[str] = ()


class Bridge:
    """The wired service: ``start()`` listens, ``run()`` consumes the relay until cancelled."""

    def __init__(self, settings: BridgeSettings, *, registry: CollectorRegistry = REGISTRY) -> None:
        self.core = BridgeCore(settings.limits, metrics=BridgeMetrics(registry))
        self.relay = relay_client(self.core, settings.relays)
        self.server = BridgeServer(
            self.core,
            settings.key,
            host=settings.host,
            port=settings.port,
            allowed_origins=settings.allowed_origins,
            registry=registry,
            health=self.health,
            trusted_proxies=TrustedProxies(settings.trusted_proxies),
        )

    def health(self) -> tuple[bool, str]:
        if not self.relay.connected:
            return False, "relay not connected"
        return True, f"ok: relay connected, {len(self.core.clients)} clients"

    @property
    def port(self) -> int:
        return self.server.port

    async def start(self) -> None:
        await self.server.start()

    async def run(self) -> None:
        await self.relay.run()

    async def close(self) -> None:
        await self.server.close()


async def run_bridge(settings: BridgeSettings) -> None:
    bridge = Bridge(settings)
    await bridge.start()
    try:
        await bridge.run()
    finally:
        await asyncio.shield(bridge.close())
