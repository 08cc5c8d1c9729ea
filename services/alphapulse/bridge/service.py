"""``alphapulse bridge`` as a process: relay client(s) → core → WebSocket server."""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from alphapulse.bridge.core import BridgeCore, BridgeLimits
from alphapulse.bridge.metrics import BridgeMetrics
from alphapulse.bridge.server import BridgeServer
from alphapulse.protocol import Control, ControlOp, FrameType, type_mask
from alphapulse.transport import RelayClient

__all__ = ("BRIDGE_TYPES", "BridgeSettings", "run_bridge")

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


async def run_bridge(settings: BridgeSettings) -> None:
    relay: RelayClient | None = None

    def request_snapshot(sid: int) -> None:
        if relay is not None:
            relay.send(Control(ControlOp.SNAPSHOT, sid))

    core = BridgeCore(settings.limits, metrics=BridgeMetrics(), request_snapshot=request_snapshot)
    relay = RelayClient(
        settings.relays, core.feed_cells, controls=[Control(ControlOp.SUBSCRIBE, 0, BRIDGE_TYPES)], name="bridge"
    )

    def health() -> tuple[bool, str]:
        assert relay is not None
        if not relay.connected:
            return False, "relay not connected"
        return True, f"ok: relay connected, {len(core.clients)} clients"

    server = BridgeServer(
        core,
        settings.key,
        host=settings.host,
        port=settings.port,
        allowed_origins=settings.allowed_origins,
        health=health,
    )
    await server.start()
    try:
        await relay.run()
    finally:
        await asyncio.shield(server.close())
