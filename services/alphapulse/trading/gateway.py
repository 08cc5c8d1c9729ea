"""The order gateway: API order requests (Redis ``alphapulse:orders``) in, order events out.

A NautilusTrader strategy, because in NautilusTrader only strategies own orders: it turns each
request into a market or limit order with the API's order id as the client order id, submits it
(paper: the sandbox fills it against the relay's quotes and trades; live: the venue), and reports
what NautilusTrader reports on ``alphapulse:order-events``. The API consumes those events and
writes orders, fills and positions in one transaction each (it is the single writer of those
tables, so the database stays consistent even if the trading node dies mid-order).

Requests are read with a consumer group (a restarted node resumes where it stopped; a new group
starts at the stream's end, so an old backlog is never executed by surprise) and acknowledged once
handed to NautilusTrader. Events are written by one background task, never from a callback.
"""

import asyncio
import contextlib
import logging
import socket
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions
from nautilus_trader.model.enums import LiquiditySide, OrderSide, TimeInForce
from nautilus_trader.model.events import (
    OrderAccepted,
    OrderCanceled,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderRejected,
)
from nautilus_trader.model.identifiers import ClientOrderId, InstrumentId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.trading.config import StrategyConfig
from nautilus_trader.trading.strategy import Strategy

from alphapulse.trading.instruments import instrument_id
from alphapulse.trading.orderstream import CancelRequest, OrderRequest, RequestError, event_fields, parse_request

__all__ = ("OrderGateway", "OrderGatewayConfig")

log = logging.getLogger(__name__)

_TIF = {"gtc": TimeInForce.GTC, "ioc": TimeInForce.IOC, "fok": TimeInForce.FOK}
_LIQUIDITY = {LiquiditySide.MAKER: "maker", LiquiditySide.TAKER: "taker"}


class OrderGatewayConfig(StrategyConfig, frozen=True):
    redis_url: str = "redis://127.0.0.1:6379/0"
    stream: str = "alphapulse:orders"
    events: str = "alphapulse:order-events"
    group: str = "trading"
    consumer: str = ""  # default: the host name
    instrument_ids: tuple[str, ...] = ()  # markets to watch from the start (empty: every instrument known)
    block_ms: int = 200


def _exact(value: Decimal, precision: int, increment: Decimal) -> bool:
    """``value`` needs no more decimals than ``precision`` and is a multiple of ``increment``."""
    exponent = value.normalize().as_tuple().exponent
    return isinstance(exponent, int) and -exponent <= precision and value % increment == 0


class OrderGateway(Strategy):  # type: ignore[misc]  # Strategy is a Cython class (Any to mypy)
    def __init__(self, config: OrderGatewayConfig | None = None) -> None:
        super().__init__(config or OrderGatewayConfig())
        self.cfg: OrderGatewayConfig = config or OrderGatewayConfig()
        self._tasks: list[asyncio.Task[None]] = []
        self._outbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        self._watched: set[InstrumentId] = set()
        self._accepted: set[str] = set()
        self.requests_seen = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def on_start(self) -> None:
        ids = [InstrumentId.from_str(s) for s in self.cfg.instrument_ids] or [i.id for i in self.cache.instruments()]
        for iid in ids:
            self._watch(iid)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._consume(), name="trading.gateway.orders"),
            loop.create_task(self._publish(), name="trading.gateway.events"),
        ]

    def on_stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks = []

    def _watch(self, iid: InstrumentId) -> None:
        # the sandbox fills against the quotes and trades the node receives: make sure they flow
        if iid not in self._watched:
            self._watched.add(iid)
            self.subscribe_quote_ticks(iid)
            self.subscribe_trade_ticks(iid)

    # -- requests ------------------------------------------------------------------------------

    async def _consume(self) -> None:
        client: Any = aioredis.from_url(self.cfg.redis_url)
        consumer = self.cfg.consumer or socket.gethostname()
        try:
            while True:
                try:
                    with contextlib.suppress(redis.exceptions.ResponseError):  # BUSYGROUP: it exists
                        await client.xgroup_create(self.cfg.stream, self.cfg.group, id="$", mkstream=True)
                    while True:
                        batches = await client.xreadgroup(
                            self.cfg.group, consumer, {self.cfg.stream: ">"}, count=100, block=self.cfg.block_ms
                        )
                        for _stream, entries in batches or ():
                            for entry_id, fields in entries:
                                self.requests_seen += 1
                                try:
                                    self.handle_request(fields)
                                except Exception:  # one bad request must not stop the gateway
                                    log.exception("order request failed", extra={"entry": str(entry_id)})
                                await client.xack(self.cfg.stream, self.cfg.group, entry_id)
                except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as e:
                    # Redis restarts or is not up yet: orders wait in the stream, nothing is lost
                    log.warning("redis unavailable; retrying", extra={"error": str(e)})
                    await asyncio.sleep(1.0)
        finally:
            await client.aclose()

    def handle_request(self, fields: dict[bytes | str, bytes | str]) -> None:
        try:
            request = parse_request(fields)
        except RequestError as e:
            if e.order_id:
                self._emit("rejected", e.order_id, reason=e.reason)
            else:
                log.warning("order request without a valid order id dropped", extra={"reason": e.reason})
            return
        if isinstance(request, CancelRequest):
            self._cancel(request)
        else:
            self._submit(request)

    def _submit(self, req: OrderRequest) -> None:
        iid = instrument_id(req.exchange, req.symbol)
        inst: Instrument | None = self.cache.instrument(iid)
        if inst is None:
            self._emit("rejected", req.order_id, reason=f"unknown instrument {iid}")
            return
        if not _exact(req.quantity, inst.size_precision, inst.size_increment.as_decimal()):
            self._emit(
                "rejected", req.order_id, reason=f"quantity {req.quantity:f} is not a multiple of {inst.size_increment}"
            )
            return
        if req.limit_price is not None and not _exact(
            req.limit_price, inst.price_precision, inst.price_increment.as_decimal()
        ):
            self._emit(
                "rejected",
                req.order_id,
                reason=f"price {req.limit_price:f} is not a multiple of {inst.price_increment}",
            )
            return
        self._watch(iid)
        side = OrderSide.BUY if req.side == "buy" else OrderSide.SELL
        coid = ClientOrderId(req.order_id)
        if self.cache.order(coid) is not None:
            return  # a redelivered request: the order exists and reports on its own
        if req.type == "market":
            order = self.order_factory.market(
                iid, side, inst.make_qty(req.quantity), time_in_force=_TIF[req.time_in_force], client_order_id=coid
            )
        else:
            assert req.limit_price is not None
            order = self.order_factory.limit(
                iid,
                side,
                inst.make_qty(req.quantity),
                inst.make_price(req.limit_price),
                time_in_force=_TIF[req.time_in_force],
                client_order_id=coid,
            )
        self.submit_order(order)

    def _cancel(self, req: CancelRequest) -> None:
        order = self.cache.order(ClientOrderId(req.order_id))
        if order is None or order.is_closed:
            log.info("cancel for an unknown or closed order ignored", extra={"order_id": req.order_id})
            return
        self.cancel_order(order)

    # -- events --------------------------------------------------------------------------------

    def _emit(self, event_type: str, order_id: str, **fields: str | None) -> None:
        self._outbox.put_nowait(event_fields(event_type, order_id, self.clock.timestamp_ns(), **fields))

    async def _publish(self) -> None:
        client: Any = aioredis.from_url(self.cfg.redis_url)
        try:
            while True:
                fields = await self._outbox.get()
                while True:
                    try:
                        await client.xadd(self.cfg.events, fields)
                        break
                    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as e:
                        log.warning("redis unavailable; event kept", extra={"error": str(e)})
                        await asyncio.sleep(1.0)
        finally:
            await client.aclose()

    def on_order_accepted(self, event: OrderAccepted) -> None:
        self._accept(event.client_order_id.value, event.venue_order_id.value)

    def _accept(self, order_id: str, venue_order_id: str) -> None:
        if order_id not in self._accepted:
            self._accepted.add(order_id)
            self._emit("accepted", order_id, venue_order_id=venue_order_id)

    def on_order_rejected(self, event: OrderRejected) -> None:
        self._emit("rejected", event.client_order_id.value, reason=event.reason)

    def on_order_denied(self, event: OrderDenied) -> None:
        self._emit("rejected", event.client_order_id.value, reason=f"denied: {event.reason}")

    def on_order_canceled(self, event: OrderCanceled) -> None:
        self._accepted.discard(event.client_order_id.value)
        self._emit("cancelled", event.client_order_id.value)

    def on_order_expired(self, event: OrderExpired) -> None:
        self._emit("cancelled", event.client_order_id.value, reason="expired")

    def on_order_filled(self, event: OrderFilled) -> None:
        # the sandbox fills a marketable order without an OrderAccepted: the API still expects one first
        self._accept(event.client_order_id.value, event.venue_order_id.value)
        order = self.cache.order(event.client_order_id)
        done = order is None or order.is_closed
        if done:
            self._accepted.discard(event.client_order_id.value)
        self._emit(
            "filled" if done else "partially_filled",
            event.client_order_id.value,
            venue_order_id=event.venue_order_id.value,
            fill_id=event.trade_id.value,
            price=str(event.last_px),
            qty=str(event.last_qty),
            fee=f"{event.commission.as_decimal():f}",
            fee_asset=event.commission.currency.code,
            liquidity=_LIQUIDITY.get(event.liquidity_side),
        )
