"""``alphapulse bridge`` as a process: relay client(s) → core → WebSocket server."""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from prometheus_client import REGISTRY, CollectorRegistry

from alphapulse.bridge.core import BridgeCore, BridgeLimits
from alphapulse.bridge.metrics import BridgeMetrics
from alphapulse.bridge.server import BridgeServer
from alphapulse.protocol import Control, ControlOp, FrameType, type_mask
from alphapulse.transport import RelayClient

__all__ = ("BRIDGE_TYPES", "Bridge", "BridgeSettings", "run_bridge")

log = logging.getLogger(__name__)

# What the bridge asks the relay for (state frames — feed, instrument, status, gap — always come).
# Subscribing with the BOOK bit makes the relay ask every feed for fresh book snapshots, so the
# bridge starts (and restarts after a reconnect) from consistent books.
BRIDGE_TYPES = type_mask(
    FrameType.TRADE, FrameType.QUOTE, FrameType.BOOK, FrameType.SNAPSHOT_BEGIN, FrameType.SNAPSHOT_END
)


@dataclass(frozen=True, slots=True)
class BridgeSettings:
    relays: Sequence[str]
    key: bytes
    host: str = "127.0.0.1"
    port: int = 8765
    allowed_origins: Sequence[str] = ()
    limits: BridgeLimits = field(default_factory=BridgeLimits)


class Bridge:
    """The wired service: ``start()`` listens, ``run()`` consumes the relay until cancelled."""

    def __init__(self, settings: BridgeSettings, *, registry: CollectorRegistry = REGISTRY) -> None:
        self.core = BridgeCore(settings.limits, metrics=BridgeMetrics(registry), request_snapshot=self._snapshot)
        self.relay = RelayClient(
            settings.relays,
            self.core.feed_cells,
            controls=[Control(ControlOp.SUBSCRIBE, 0, BRIDGE_TYPES)],
            name="bridge",
        )
        self.server = BridgeServer(
            self.core,
            settings.key,
            host=settings.host,
            port=settings.port,
            allowed_origins=settings.allowed_origins,
            registry=registry,
            health=self.health,
        )

    def _snapshot(self, sid: int) -> None:
        self.relay.send(Control(ControlOp.SNAPSHOT, sid))

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
