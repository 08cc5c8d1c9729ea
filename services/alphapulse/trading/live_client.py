"""A NautilusTrader live market data client reading the AlphaPulse relay (one client, every venue).

The I/O shell around :class:`~alphapulse.trading.translate.FrameTranslator`: a
:class:`~alphapulse.transport.RelayClient` (which reconnects on its own and re-sends our
subscriptions) delivers cells; they are decoded, translated and handed to the DataEngine with
``_handle_data``, the single entry point. Subscriptions are forwarded to the relay as Control
frames for exactly the symbol ids and frame types strategies ask for; a book subscription makes the
relay ask the feed for a fresh snapshot, and so does every gap (see ``translate`` for the resync rule).

Wire it into a node with :class:`RelayDataClientConfig` and :class:`RelayLiveDataClientFactory`
(both importable, so a JSON/YAML node config can name them).
"""

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import Callable
from typing import Any

from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock, MessageBus
from nautilus_trader.common.providers import InstrumentProvider
from nautilus_trader.config import InstrumentProviderConfig
from nautilus_trader.data.messages import (
    SubscribeOrderBook,
    SubscribeQuoteTicks,
    SubscribeTradeTicks,
    UnsubscribeOrderBook,
    UnsubscribeQuoteTicks,
    UnsubscribeTradeTicks,
)
from nautilus_trader.live.config import LiveDataClientConfig
from nautilus_trader.live.data_client import LiveMarketDataClient
from nautilus_trader.live.factories import LiveDataClientFactory
from nautilus_trader.model.identifiers import ClientId, InstrumentId
from nautilus_trader.model.instruments import Instrument as NtInstrument

from alphapulse.errors import RetryableError
from alphapulse.plain_metrics import PlainHistogram
from alphapulse.protocol import Control, ControlOp, FrameError, FrameType, type_mask
from alphapulse.settings import relay_socket_path, sock_dir
from alphapulse.trading import metrics
from alphapulse.trading.instrument_table import load_instrument_specs
from alphapulse.trading.instruments import InstrumentSpec, symbol_id_of
from alphapulse.trading.translate import FrameTranslator, GapSeen, Rejection, SnapshotNeeded
from alphapulse.transport import RelayClient

__all__ = (
    "RelayDataClient",
    "RelayDataClientConfig",
    "RelayInstrumentProvider",
    "RelayLiveDataClientFactory",
)

log = logging.getLogger(__name__)

TRADE_MASK = type_mask(FrameType.TRADE)
QUOTE_MASK = type_mask(FrameType.QUOTE)
# snapshot begin/end are keyed by symbol too: without them the relay would filter the snapshot out
BOOK_MASK = type_mask(FrameType.BOOK, FrameType.SNAPSHOT_BEGIN, FrameType.SNAPSHOT_END)
_TIMED = frozenset({FrameType.TRADE, FrameType.QUOTE, FrameType.BOOK})  # cells with ts_recv at bytes 24..32


class RelayDataClientConfig(LiveDataClientConfig, frozen=True):
    """``relays``: endpoints (``unix:PATH`` / ``tcp:HOST:PORT``); empty means ``<sock_dir>/relay.sock``.

    ``instrument_wait_s``: how long ``connect`` waits for the relay's instrument frames before
    the node starts its strategies (they need instruments in the cache to subscribe to books).
    ``resync_retry_s``: a book still waiting for its snapshot after this long asks again.
    ``instruments_dsn``: preload instruments from the database (the relay's frames must then agree).
    """

    relays: tuple[str, ...] = ()
    sock_dir: str | None = None
    instruments_dsn: str | None = None  # PostgreSQL with the instruments table, read at connect
    instrument_wait_s: float = 2.0
    instrument_quiet_s: float = 0.1
    resync_retry_s: float = 1.0


class RelayInstrumentProvider(InstrumentProvider):
    """Holds the instruments the relay announced (and any preloaded, e.g. from the instruments table)."""

    def __init__(
        self, config: InstrumentProviderConfig | None = None, preload: tuple[InstrumentSpec, ...] = ()
    ) -> None:
        super().__init__(config=config)
        self.preload = preload

    async def load_all_async(self, filters: dict[str, Any] | None = None) -> None:
        return None  # filled by the client as instrument frames arrive

    async def load_ids_async(self, instrument_ids: list[InstrumentId], filters: dict[str, Any] | None = None) -> None:
        return None

    async def load_async(self, instrument_id: InstrumentId, filters: dict[str, Any] | None = None) -> None:
        return None


class RelayDataClient(LiveMarketDataClient):
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        client_id: ClientId,
        msgbus: MessageBus,
        cache: Cache,
        clock: LiveClock,
        instrument_provider: RelayInstrumentProvider,
        config: RelayDataClientConfig,
    ) -> None:
        super().__init__(
            loop=loop,
            client_id=client_id,
            venue=None,  # one client for every venue
            msgbus=msgbus,
            cache=cache,
            clock=clock,
            instrument_provider=instrument_provider,
            config=config,
        )
        self._cfg = config
        self._provider = instrument_provider
        endpoints = list(config.relays) or [f"unix:{relay_socket_path(sock_dir(config.sock_dir))}"]
        self.translator = FrameTranslator()
        # RESET first: until a strategy subscribes, the relay sends only state frames (instruments, gaps)
        self.relay = RelayClient(endpoints, self._on_cells, controls=[Control(ControlOp.RESET)], name="trading")
        self._relay_task: asyncio.Task[None] | None = None
        self._retry_task: asyncio.Task[None] | None = None
        self._last_instrument_s = 0.0
        self._warned: set[tuple[str, int]] = set()
        self._nt_ts = clock.timestamp_ns
        self.latency = PlainHistogram(metrics.LATENCY_BOUNDS_S)  # alphapulse_trading_latency_seconds
        metrics.PER_READ.clients.add(self)  # and the translator's counts: alphapulse_trading_frames_total
        self._deliver: Callable[[Any], None] = self._handle_data  # see hand_directly_to
        self.gaps_seen = 0
        self.rejected = 0
        self.reads = 0

    def hand_directly_to(self, engine: Any) -> None:
        """Give market data to ``engine`` (the node's LiveDataEngine) synchronously, inside the relay
        read, instead of through its queue.

        ``_handle_data`` ends in ``LiveDataEngine.process``, which puts every object on an asyncio
        queue with ``call_soon_threadsafe`` (an eventfd write, a syscall, per object) and a task
        takes it off one loop iteration later, then another for the queue's own wake-up: two loop
        iterations and a syscall per object between the relay read and the strategy. This client
        runs on the loop's thread, which the queue exists to protect, so it only adds latency.
        Everything this client produces (instruments too) goes the same way, so the order holds; an
        exception from a handler gets the engine's own treatment (``_handle_queue_exception``).
        """
        handle = engine._handle_data
        on_error = engine._handle_queue_exception

        def deliver(obj: Any) -> None:
            try:
                handle(obj)
            except Exception as e:
                on_error(e, "Data")

        self._deliver = deliver

    # -- lifecycle ---------------------------------------------------------------------------

    async def _connect(self) -> None:
        now = self._nt_ts()
        preload = list(self._provider.preload)
        if self._cfg.instruments_dsn:
            try:
                preload += await load_instrument_specs(self._cfg.instruments_dsn)
            except RetryableError as e:
                # the relay announces every live instrument anyway: start without the table
                self._log.warning(f"Instruments table unavailable, relying on the relay: {e}")
        for spec in preload:
            inst = self.translator.add_instrument(spec, now)
            if inst is not None:
                self._publish_instrument(inst)
        self._relay_task = self._loop.create_task(self.relay.run(), name="trading.relay-client")
        self._retry_task = self._loop.create_task(self._retry_resyncs(), name="trading.book-resync")
        # strategies start once every client is connected: give the relay's hello time to arrive
        # (instruments are needed before a strategy may subscribe to a book), but never block start-up
        deadline = time.monotonic() + self._cfg.instrument_wait_s
        while time.monotonic() < deadline:
            quiet = time.monotonic() - self._last_instrument_s
            if self.reads and self.translator.markets and quiet >= self._cfg.instrument_quiet_s:
                break  # the relay's hello has been read (preloaded instruments alone do not count)
            await asyncio.sleep(0.01)
        self._log.info(f"Relay client up: {len(self.translator.markets)} instruments, relay {self.relay.endpoints}")

    async def _disconnect(self) -> None:
        for task in (self._relay_task, self._retry_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._relay_task = self._retry_task = None

    # -- subscriptions -----------------------------------------------------------------------

    def _relay_subscribe(self, iid: InstrumentId, mask: int, subscribe: bool) -> int:
        sid = symbol_id_of(iid)
        op = ControlOp.SUBSCRIBE if subscribe else ControlOp.UNSUBSCRIBE
        self.relay.send(Control(op, sid, mask, ts_ns=time.time_ns()))
        return sid

    async def _subscribe_trade_ticks(self, command: SubscribeTradeTicks) -> None:
        self._relay_subscribe(command.instrument_id, TRADE_MASK, True)

    async def _subscribe_quote_ticks(self, command: SubscribeQuoteTicks) -> None:
        self._relay_subscribe(command.instrument_id, QUOTE_MASK, True)

    async def _subscribe_order_book_deltas(self, command: SubscribeOrderBook) -> None:
        # the relay asks the feed for a fresh snapshot on every SUBSCRIBE with the BOOK bit (gotcha 2)
        sid = symbol_id_of(command.instrument_id)
        self.translator.subscribe_book(sid)
        self._relay_subscribe(command.instrument_id, BOOK_MASK, True)

    async def _subscribe_order_book_snapshots(self, command: SubscribeOrderBook) -> None:
        await self._subscribe_order_book_deltas(command)

    async def _unsubscribe_trade_ticks(self, command: UnsubscribeTradeTicks) -> None:
        self._relay_subscribe(command.instrument_id, TRADE_MASK, False)

    async def _unsubscribe_quote_ticks(self, command: UnsubscribeQuoteTicks) -> None:
        self._relay_subscribe(command.instrument_id, QUOTE_MASK, False)

    async def _unsubscribe_order_book_deltas(self, command: UnsubscribeOrderBook) -> None:
        self.translator.unsubscribe_book(self._relay_subscribe(command.instrument_id, BOOK_MASK, False))

    async def _unsubscribe_order_book_snapshots(self, command: UnsubscribeOrderBook) -> None:
        await self._unsubscribe_order_book_deltas(command)

    # -- the hot path --------------------------------------------------------------------------

    def _on_cells(self, data: bytes) -> None:
        self.reads += 1
        translator = self.translator
        try:
            out = translator.translate_cells(data, self._nt_ts())
        except (FrameError, struct.error, IndexError) as e:
            # cannot happen with a correct relay (whole, versioned cells); drop this read, keep the node
            metrics.REJECTED.labels("frame").inc()
            log.error("undecodable cells from the relay; dropped them", extra={"error": str(e)})
            return
        except Exception:
            # a bug of ours must cost this read, not the node (NautilusTrader exits on unhandled errors)
            metrics.REJECTED.labels("internal").inc()
            log.exception("translating a relay read failed; dropped it")
            return
        handle = self._deliver
        for obj in out:
            if isinstance(obj, NtInstrument):
                self._publish_instrument(obj)
            else:
                handle(obj)
        if translator.events:
            self._drain_events()
        if out:
            # sampled once per read: the feed's receive time of the newest frame to its hand-off here
            ts_recv = int.from_bytes(data[-24:-16], "little", signed=True)  # ts_recv of the last cell, if any
            if data[-47] in _TIMED and ts_recv > 0:
                self.latency.observe(max(0, time.time_ns() - ts_recv) / 1e9)

    def _publish_instrument(self, inst: NtInstrument) -> None:
        self._provider.add(inst)
        self._deliver(inst)  # caches it (the sandbox reads venue instruments from the cache)
        self._last_instrument_s = time.monotonic()

    def _drain_events(self) -> None:
        events, self.translator.events = self.translator.events, []
        for ev in events:
            if isinstance(ev, Rejection):
                self.rejected += 1
                metrics.REJECTED.labels(ev.reason).inc()
                if (ev.reason, ev.symbol_id) not in self._warned:  # once per symbol and reason: counts go to metrics
                    self._warned.add((ev.reason, ev.symbol_id))
                    log.warning(
                        "frame rejected before NautilusTrader",
                        extra={"reason": ev.reason, "symbol_id": ev.symbol_id, "detail": ev.detail},
                    )
            elif isinstance(ev, GapSeen):
                self.gaps_seen += 1
                metrics.GAPS.labels(ev.feed).inc()
                log.warning(
                    "gap in the feed; resyncing books",
                    extra={
                        "feed": ev.feed,
                        "reason": ev.gap.reason.name.lower(),
                        "first": ev.gap.first,
                        "count": ev.gap.count,
                        "books": [str(self.translator.markets[s].iid) for s in ev.resync],
                    },
                )
            elif isinstance(ev, SnapshotNeeded):
                # after the current callback: on a reconnect the RelayClient re-sends our subscriptions
                # right after delivering its synthetic gap, and the request must follow them
                self._loop.call_soon(self._request_snapshots, ev.symbol_ids)

    def _request_snapshots(self, sids: tuple[int, ...]) -> None:
        for sid in sids:
            exchange = self.translator.exchange_of(sid)
            metrics.RESYNCS.labels(exchange.name.lower() if exchange else "unknown").inc()
            self.relay.send(Control(ControlOp.SNAPSHOT, sid, BOOK_MASK, ts_ns=time.time_ns()))

    async def _retry_resyncs(self) -> None:
        """A snapshot request can go unanswered (the feed was not connected to the relay yet): ask again."""
        waiting_since: dict[int, float] = {}
        while True:
            await asyncio.sleep(self._cfg.resync_retry_s / 2)
            now = time.monotonic()
            current = set(self.translator.resyncing())
            waiting_since = {sid: waiting_since.get(sid, now) for sid in current}
            due = tuple(s for s, t0 in waiting_since.items() if now - t0 >= self._cfg.resync_retry_s)
            if due and self.relay.connected:
                self._request_snapshots(due)
                for s in due:
                    waiting_since[s] = now


class RelayLiveDataClientFactory(LiveDataClientFactory):
    @staticmethod
    def create(  # type: ignore[override]
        loop: asyncio.AbstractEventLoop,
        name: str,
        config: RelayDataClientConfig,
        msgbus: MessageBus,
        cache: Cache,
        clock: LiveClock,
    ) -> RelayDataClient:
        provider = RelayInstrumentProvider(config=config.instrument_provider)
        return RelayDataClient(loop, ClientId(name), msgbus, cache, clock, provider, config)
