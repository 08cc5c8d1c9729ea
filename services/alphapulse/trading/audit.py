"""The audit trail: every order event, position event and strategy decision in the node, in order.

An ``Actor`` subscribed to NautilusTrader's message bus (``events.order.*``, ``events.position.*``
and our own ``alphapulse.decisions`` topic, which the example strategies publish to) appends one JSON
document per event to the Redis stream ``alphapulse:trading-audit`` (capped, approximate
``MAXLEN``) and counts order events in ``alphapulse_trading_orders_total{status}``. API orders are
additionally applied to the database by the API (``alphapulse:order-events``); this stream covers
everything, including what strategies do on their own.
"""

import asyncio
import logging
from typing import Any

import orjson
import redis.asyncio as aioredis
import redis.exceptions
from nautilus_trader.common.actor import Actor
from nautilus_trader.common.config import ActorConfig

from alphapulse.trading import metrics

__all__ = ("DECISIONS_TOPIC", "AuditTrail", "AuditTrailConfig", "publish_decision")

log = logging.getLogger(__name__)
DECISIONS_TOPIC = "alphapulse.decisions"


class AuditTrailConfig(ActorConfig, frozen=True):
    redis_url: str = "redis://127.0.0.1:6379/0"
    stream: str = "alphapulse:trading-audit"
    maxlen: int = 1_000_000


def publish_decision(actor: Any, strategy: str, action: str, detail: str, **numbers: float | str) -> None:
    """Record a strategy decision on the message bus (the audit trail picks it up) and in the log."""
    actor.log.info(f"decision: {detail}")
    actor.msgbus.publish(
        DECISIONS_TOPIC,
        {"strategy": strategy, "action": action, "detail": detail, "ts_ns": actor.clock.timestamp_ns(), **numbers},
    )


def _document(kind: str, event: Any) -> dict[str, Any]:
    if isinstance(event, dict):
        return {"kind": kind, **event}
    to_dict = getattr(type(event), "to_dict", None)
    body = to_dict(event) if to_dict is not None else {"repr": repr(event)}
    return {"kind": kind, **body}


class AuditTrail(Actor):  # type: ignore[misc]  # Actor is a Cython class (Any to mypy)
    def __init__(self, config: AuditTrailConfig | None = None) -> None:
        super().__init__(config or AuditTrailConfig())
        self.cfg: AuditTrailConfig = config or AuditTrailConfig()
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.recorded = 0

    def on_start(self) -> None:
        self.msgbus.subscribe("events.order.*", self._on_order)
        self.msgbus.subscribe("events.position.*", self._on_position)
        self.msgbus.subscribe(DECISIONS_TOPIC, self._on_decision)
        self._task = asyncio.get_running_loop().create_task(self._publish(), name="trading.audit")

    def on_stop(self) -> None:
        for topic, handler in (
            ("events.order.*", self._on_order),
            ("events.position.*", self._on_position),
            (DECISIONS_TOPIC, self._on_decision),
        ):
            self.msgbus.unsubscribe(topic, handler)
        if self._task is not None:
            self._task.cancel()

    def _on_order(self, event: Any) -> None:
        metrics.ORDERS.labels(type(event).__name__.removeprefix("Order").lower()).inc()
        self._record("order", event)

    def _on_position(self, event: Any) -> None:
        self._record("position", event)

    def _on_decision(self, decision: Any) -> None:
        self._record("decision", decision)

    def _record(self, kind: str, event: Any) -> None:
        # runs inside a NautilusTrader handler, where any exception exits the node: never raise here
        try:
            doc = orjson.dumps(_document(kind, event), default=str)
        except Exception:
            doc = orjson.dumps({"kind": kind, "repr": repr(event)})
        self.recorded += 1
        self._outbox.put_nowait(doc)

    async def _publish(self) -> None:
        client: Any = aioredis.from_url(self.cfg.redis_url)
        try:
            while True:
                doc = await self._outbox.get()
                while True:
                    try:
                        await client.xadd(self.cfg.stream, {"doc": doc}, maxlen=self.cfg.maxlen, approximate=True)
                        break
                    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as e:
                        log.warning("redis unavailable; audit entries kept in memory", extra={"error": str(e)})
                        await asyncio.sleep(1.0)
        finally:
            await client.aclose()
