"""``alphapulse collector``: one ExchangeFeed, from the venue's WebSocket to its feed socket.

Order on the feed socket: a Feed frame (epoch = start time), the Instrument frames (venue metadata:
REST for Coinbase and Binance before connecting, the ``instrument`` channel for Kraken), Status frames
on every state change, then market data. New readers get Feed + Instruments + the latest Status
first (marked replay). A relay's Control(SNAPSHOT) is answered with SnapshotBegin, the book's levels
and SnapshotEnd for every synced book asked for; a Control(RESUME) with the session's recent cells
from the feed server's replay ring (``transport.FeedServer``).
"""

import asyncio
import contextlib
import functools
import logging
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry

from alphapulse.clock import Clock, SystemClock
from alphapulse.collectors import binance, coinbase, kraken, speedups
from alphapulse.collectors.connection import Backoff, ConnectionSettings, VenueConnection
from alphapulse.collectors.metadata import (
    MetadataError,
    fetch_binance_depth,
    fetch_binance_instruments,
    fetch_coinbase_instruments,
)
from alphapulse.collectors.metrics import CollectorMetrics
from alphapulse.collectors.output import FrameWriter
from alphapulse.collectors.parsing import Action, InstrumentSpec, VenueParser
from alphapulse.collectors.symbols import SymbolMap
from alphapulse.errors import ConfigError
from alphapulse.feeds import ExchangeFeed
from alphapulse.observability import MetricsServer
from alphapulse.protocol import Control, ControlOp, Exchange, FeedState, feed_id
from alphapulse.settings import feed_socket_path
from alphapulse.transport import DEFAULT_REPLAY_RING_BYTES, FeedServer

__all__ = ("Collector", "default_settings")

log = logging.getLogger(__name__)

_PARSERS: dict[str, type[VenueParser]] = {
    "kraken": kraken.KrakenParser,
    "coinbase": coinbase.CoinbaseParser,
    "binance": binance.BinanceParser,
}
_REST = {"coinbase": coinbase.DEFAULT_REST_URL, "binance": binance.DEFAULT_REST_URL}
BINANCE_ROTATE_AFTER_S = 23 * 3600.0


def default_settings(exchange: str) -> ConnectionSettings:
    if exchange == "binance":
        # quiet symbols are normal: liveness comes from the protocol pings (every 20 s from the server)
        return ConnectionSettings(idle_timeout_s=None, rotate_after_s=BINANCE_ROTATE_AFTER_S)
    return ConnectionSettings()  # Kraken and Coinbase send heartbeats every second


class Collector:
    def __init__(
        self,
        feed: ExchangeFeed,
        sock_dir: Path,
        *,
        clock: Clock | None = None,
        settings: ConnectionSettings | None = None,
        registry: CollectorRegistry | None = None,
        metrics_host: str | None = None,
        metrics_port: int | None = None,
        agg_trades: bool = False,
        replay_ring_bytes: int = DEFAULT_REPLAY_RING_BYTES,
    ) -> None:
        if feed.exchange not in _PARSERS:
            raise ConfigError(f"feed {feed.name}: unknown exchange {feed.exchange!r}")
        self.feed = feed
        self.clock = clock or SystemClock()
        self.settings = settings or default_settings(feed.exchange)
        self.exchange = Exchange[feed.exchange.upper()]
        self.path = feed_socket_path(sock_dir, feed.name)
        self.registry = registry or CollectorRegistry()
        self.metrics = CollectorMetrics(feed.name, feed.exchange, self.registry)
        self.metrics_host, self.metrics_port = metrics_host, metrics_port
        self.writer = FrameWriter(feed_id(feed.name), self.exchange, feed.name, self.clock.now_ns())
        symbols = SymbolMap(self.exchange, feed.symbols)
        kw: dict[str, object] = {"channels": feed.channels, "depth": feed.depth}
        if feed.exchange == "binance":
            kw["agg_trades"] = agg_trades
            kw["snapshot_limit"] = max(100, min(5000, feed.depth))
        self.parser = _PARSERS[feed.exchange](self.writer, symbols, **kw)  # type: ignore[arg-type]
        self.parser.now_ns = self.clock.now_ns
        self.metrics.parser, self.metrics.writer = self.parser, self.writer
        # The feed server keeps the session's recent cells (replay ring) and answers RESUME itself:
        # a consumer that was away (a writer or relay restart) gets back what it missed.
        self.server = FeedServer(
            self.path,
            feed_id=self.writer.feed_id,
            epoch_ns=self.writer.epoch_ns,
            hello=self.writer.hello,
            on_control=self.on_control,
            replay_ring_bytes=replay_ring_bytes,
            clock=self.clock,
        )
        self.metrics.server = self.server
        self.connection: VenueConnection | None = None
        self.metrics_server: MetricsServer | None = None
        self._client: httpx.AsyncClient | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.rest_base = feed.rest_url or _REST.get(feed.exchange, "")

    # -- life cycle --------------------------------------------------------------------------------
    async def run(self) -> None:
        if not speedups.COMPILED:
            log.warning(
                "the collectors' C primitives were not built (no C compiler at install): running their "
                "pure-Python equivalents, same results, about a microsecond more per message (docs/collectors.md)"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        await self.server.start()
        # the connection flushes once per socket read already: write at once, not on the next loop iteration
        self.writer.publish = functools.partial(self.server.publish, now=True)
        self.writer.feed()
        self.writer.flush()
        metrics_server = None
        if self.metrics_port is not None:
            metrics_server = MetricsServer(
                self.metrics_host or "127.0.0.1", self.metrics_port, registry=self.registry, health=self.healthy
            )
            try:
                await metrics_server.start()
            except OSError as e:  # a busy metrics port must not stop market data
                log.error("metrics endpoint not started on port %s: %s", self.metrics_port, e)
                metrics_server = None
        self.metrics_server = metrics_server
        try:
            async with httpx.AsyncClient() as client:
                self._client = client
                for spec in await self._metadata(client):
                    self.parser.set_instrument(spec)
                self.writer.flush()
                self.connection = VenueConnection(
                    self.parser,
                    self.feed.url or self.parser.url(),
                    self.writer,
                    self.clock,
                    self.settings,
                    metrics=self.metrics,
                    on_action=self._on_action,
                )
                await self.connection.run()
        finally:
            for task in self._tasks.values():
                task.cancel()
            if metrics_server is not None:
                await metrics_server.close()
            await self.server.close()

    def healthy(self) -> tuple[bool, str]:
        state = self.writer.state
        ok = state in (FeedState.SUBSCRIBED, FeedState.RESYNCING)
        return ok, state.name.lower() if state is not None else "starting"

    async def _metadata(self, client: httpx.AsyncClient) -> list[InstrumentSpec]:
        """Coinbase/Binance scales over REST (retried with backoff until they come); Kraken's arrive on the socket."""
        fetch = {"coinbase": fetch_coinbase_instruments, "binance": fetch_binance_instruments}.get(self.feed.exchange)
        if fetch is None:
            return []
        s = self.settings
        backoff = Backoff(s.backoff_initial_s, s.backoff_max_s, s.backoff_factor, s.backoff_jitter)
        while True:
            try:
                return await fetch(client, self.rest_base, self.parser.symbols)
            except MetadataError as e:
                log.warning("instrument metadata from %s failed: %s; retrying", self.rest_base, e)
                await self.clock.sleep(backoff.next_s())

    # -- requests from the parser and the relay ------------------------------------------------------
    def _on_action(self, action: Action) -> None:
        if action.kind == "fetch_snapshot" and isinstance(self.parser, binance.BinanceParser):
            for native in action.natives:
                running = self._tasks.get(native)
                if running is None or running.done():
                    self._tasks[native] = asyncio.create_task(
                        self._fetch_snapshot(native), name=f"collector.{self.feed.name}.snapshot.{native}"
                    )

    async def _fetch_snapshot(self, native: str) -> None:
        parser = self.parser
        assert isinstance(parser, binance.BinanceParser)
        assert self._client is not None
        s = self.settings
        backoff = Backoff(s.backoff_initial_s / 5, s.backoff_max_s, s.backoff_factor, s.backoff_jitter)
        while True:
            try:
                snap = await fetch_binance_depth(self._client, self.rest_base, native, parser.snapshot_limit)
            except MetadataError as e:
                log.warning("depth snapshot for %s failed: %s; retrying", native, e)
                await self.clock.sleep(backoff.next_s())
                continue
            parser.apply_snapshot(native, snap, self.clock.now_ns())
            again = [a for a in parser.actions if a.kind == "fetch_snapshot" and native in a.natives]
            parser.actions = [a for a in parser.actions if a not in again]
            self.writer.flush()
            if not again:
                return
            await self.clock.sleep(backoff.next_s())  # the snapshot was older than the stream: ask again

    def on_control(self, ctl: Control) -> None:
        if ctl.op != ControlOp.SNAPSHOT:
            return
        now = self.clock.now_ns()
        for book in self.parser.books:
            if book.synced and (ctl.symbol_id in (0, book.symbol_id)):
                self.writer.book_snapshot(book, book.ts_exchange_ns, now, ctl.request_id)
        self.writer.flush()

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.server.close()
