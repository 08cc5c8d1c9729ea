"""The bridge's core: relay cells in, per-client JSON out. No I/O of its own.

``feed_cells(data)`` is one *tick*: it decodes the cells, updates per-symbol state, renders each
event once (shared bytes), appends it to the outbox of every subscriber, then flushes every touched
client with one write. Clients, subscriptions and the slow-client policy live here too, so the
whole behaviour is testable by feeding encoded frames and reading what sinks received.
"""

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from prometheus_client import CollectorRegistry

from alphapulse.bridge.clients import Client, ClientSink
from alphapulse.bridge.market import Book, SymbolState
from alphapulse.bridge.messages import CHANNELS, CloseCode
from alphapulse.bridge.metrics import BridgeMetrics
from alphapulse.bridge.render import (
    EXCHANGE_NAMES,
    InstrumentInfo,
    render_book,
    render_client_gap,
    render_error,
    render_feed_gap,
    render_quote,
    render_reply,
    render_status,
    render_trade,
)
from alphapulse.protocol import (
    COUNT_UNKNOWN,
    Exchange,
    Feed,
    FrameError,
    Gap,
    Instrument,
    SnapshotBegin,
    SnapshotEnd,
    Status,
    cells_of,
    decode,
    symbol_id,
)
from alphapulse.protocol.wire import CELL, CELL_BYTES, VERSION, FrameType, TradeFlag
from alphapulse.tokens import Principal

__all__ = ("BOOK", "QUOTES", "TRADES", "BridgeCore", "BridgeLimits")

log = logging.getLogger(__name__)

TRADES, QUOTES, BOOK = 0, 1, 2
CHANNEL_NUMBER: Final = {name: i for i, name in enumerate(CHANNELS)}

_TRADE = CELL[FrameType.TRADE]
_QUOTE = CELL[FrameType.QUOTE]
_BOOK = CELL[FrameType.BOOK]
_T_TRADE, _T_QUOTE, _T_BOOK = int(FrameType.TRADE), int(FrameType.QUOTE), int(FrameType.BOOK)
_SNAPSHOT_RETRY_S = 1.0
# plain ints: IntFlag arithmetic costs ~2 µs per frame on the hot path
_F_SNAPSHOT, _F_BOOK_LAST = int(TradeFlag.SNAPSHOT), int(TradeFlag.BOOK_LAST)


@dataclass(frozen=True, slots=True)
class BridgeLimits:
    max_clients: int = 1000
    # connections that have not authenticated yet (each may wait auth_timeout_s); more are refused at once (HTTP 503
    # before the upgrade), so unauthenticated sockets cannot pile up without bound
    max_pending: int = 200
    # of those, from one client address (behind an Ingress, the address it forwards: --trusted-proxies), so that
    # one peer cannot take every slot and keep everyone else from connecting
    max_pending_per_address: int = 50
    max_subscriptions: int = 256  # (symbol, channel) pairs per client
    max_queue_events: int = 5000  # trades and notices held for a client that is behind
    high_water_bytes: int = 256 * 1024  # a client whose unsent bytes exceed this is "behind"
    # the kernel's send buffer per client (SO_SNDBUF; the kernel doubles it; 0 = its autotuning, up to ~4 MB): a
    # client that stops reading fills this before the bridge sees its unsent bytes grow, so it bounds both the
    # kernel memory a frozen client pins and how late it is noticed
    client_send_buffer_bytes: int = 256 * 1024
    slow_client_timeout_s: float = 10.0  # behind for longer than this: disconnected (4008)
    book_depth: int = 10
    trade_ring: int = 50
    auth_timeout_s: float = 5.0
    max_message_bytes: int = 4096  # client → bridge; a subscribe with 64 symbols fits
    # client → bridge messages after auth: a token bucket per client, closed with 4029 beyond it (0: no limit).
    # A dashboard sends a few per page change and a token refresh a minute; a flood costs parsing and
    # subscription work per message.
    client_messages_burst: int = 50
    client_messages_per_s: float = 10.0


# Route keys: symbol events are ``symbol_id << 2 | channel``; feed notices are negative: one key
# per exchange, and _GLOBAL_KEY for notices about no known exchange (e.g. the relay connection).
_GLOBAL_KEY: Final = -1
_EXCHANGE_KEYS: Final = {e.name.lower(): -2 - int(e) for e in Exchange}


def _exchange_key(exchange: str | None) -> int:
    return _GLOBAL_KEY if exchange is None else _EXCHANGE_KEYS.get(exchange, _GLOBAL_KEY)


class BridgeCore:
    def __init__(
        self,
        limits: BridgeLimits | None = None,
        *,
        metrics: BridgeMetrics | None = None,
        request_snapshot: Callable[[int], None] | None = None,
        on_interest: Callable[[int, int, bool], None] | None = None,
        monotonic_s: Callable[[], float] = time.monotonic,
        now_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.limits = limits or BridgeLimits()
        self.metrics = metrics or BridgeMetrics(CollectorRegistry())
        self.request_snapshot = request_snapshot
        # (symbol id, QUOTES or BOOK, watched): called when the first client starts or the last one stops
        # watching a symbol's quotes or book, so the relay sends the bridge only those (trades always come)
        self.on_interest = on_interest
        # called when a client falls behind and none was: the backlog needs servicing (service_backlog)
        # only while someone is behind, so an idle bridge need not wake to check
        self.on_behind: Callable[[], None] | None = None
        self._monotonic_s = monotonic_s
        self._now_ns = now_ns
        self._symbols: dict[int, SymbolState] = {}
        self._by_exchange: dict[str, set[int]] = {}
        self._feeds: dict[int, tuple[str, str]] = {}  # feed id -> (exchange, feed name)
        self._status: dict[int, bytes] = {}  # feed id -> latest status event
        self._snapshot_asked_s: dict[int, float] = {}
        self.clients: set[Client] = set()
        self._dirty: list[Client] = []
        # this tick's events, in stream order: (route key, event bytes, seq); keys as _GLOBAL_KEY explains
        self._tick: list[tuple[int, bytes, int]] = []
        # clients grouped by identical subscriptions: one payload per group per tick
        self._groups: dict[frozenset[int], set[Client]] = {}
        self._books_dirty: set[SymbolState] = set()
        self._behind: set[Client] = set()
        self._client_seq = 0
        # per-tick counters, pushed to Prometheus once per tick
        self._unknown = 0
        self._dropped_slow = 0
        self._coalesced = 0
        self.ticks = 0
        self.events_out = 0

    # ---- relay input -------------------------------------------------------------------------

    def feed_cells(self, data: bytes) -> None:
        """One tick: whole cells from the relay (multi-cell frames never split across calls)."""
        t0 = time.perf_counter_ns()
        self.ticks += 1
        self._ingest(data)
        self._end_tick(t0)

    def _end_tick(self, t0_ns: int) -> None:
        if self._books_dirty:
            self._publish_books()
        out = self._fan_out() if self._tick else 0
        if self._dirty:
            out += self._flush_dirty()
        if out:
            self.metrics.send_latency.observe((time.perf_counter_ns() - t0_ns) / 1e9)
        self._count()

    def _ingest(self, data: bytes) -> None:
        symbols = self._symbols
        tick = self._tick
        end = len(data)
        off = 0
        malformed = 0
        while end - off >= CELL_BYTES:
            ftype = data[off + 1]
            if data[off] != VERSION:
                malformed += 1
                off += CELL_BYTES
                continue
            if ftype == _T_TRADE:
                _, _, flags, hi, sid, seq, lo, tex, trc, px, qty = _TRADE.unpack_from(data, off)
                off += CELL_BYTES
                st = symbols.get(sid)
                info = None if st is None else st.info
                if st is None or info is None:
                    self._unknown += 1
                    continue
                ev = render_trade(
                    info, seq, flags & 0x03, (hi << 32) | lo, tex, trc, px, qty, bool(flags & _F_SNAPSHOT)
                )
                st.trades.append(ev)
                if st.routes[TRADES]:
                    tick.append((sid << 2 | TRADES, ev, seq))
            elif ftype == _T_QUOTE:
                if end - off < 2 * CELL_BYTES:
                    malformed += 1
                    break
                _, _, _, _, sid, seq, _, tex, trc, bp, bq = _QUOTE.unpack_from(data, off)
                _, _, _, part, sid2, _, _, _, _, ap, aq = _QUOTE.unpack_from(data, off + CELL_BYTES)
                off += 2 * CELL_BYTES
                if part != 1 or sid2 != sid:
                    malformed += 1
                    continue
                st = symbols.get(sid)
                info = None if st is None else st.info
                if st is None or info is None:
                    self._unknown += 1
                    continue
                ev = render_quote(info, seq, tex, trc, bp, bq, ap, aq)
                st.quote = ev
                if st.routes[QUOTES]:
                    tick.append((sid << 2 | QUOTES, ev, seq))
            elif ftype == _T_BOOK:
                _, _, flags, _, sid, seq, _, tex, trc, px, qty = _BOOK.unpack_from(data, off)
                off += CELL_BYTES
                st = symbols.get(sid)
                if st is None:
                    continue
                st.book.apply(flags & 0x03, px, qty, seq, tex, trc, bool(flags & _F_BOOK_LAST))
                if st.book.ready():
                    self._books_dirty.add(st)
            else:
                size = cells_of(ftype) * CELL_BYTES
                try:
                    frame = decode(data, off)
                except FrameError:
                    malformed += 1
                    off += CELL_BYTES  # resynchronise on the next cell boundary
                    continue
                off += size
                self._control_frame(frame)
        if malformed:
            self.metrics.drop("malformed_frame", malformed)

    def _control_frame(self, frame: object) -> None:
        match frame:
            case Instrument():
                self._instrument(frame)
            case SnapshotBegin():
                st = self._symbols.get(frame.symbol_id)
                if st is not None:
                    st.book.begin_snapshot()
            case SnapshotEnd():
                st = self._symbols.get(frame.symbol_id)
                if st is not None and st.book.in_snapshot:
                    st.book.end_snapshot(frame.seq, frame.ts_exchange_ns, frame.ts_recv_ns)
                    self._books_dirty.add(st)
            case Feed():
                self._feeds[frame.feed_id] = (EXCHANGE_NAMES.get(frame.exchange, "unknown"), frame.name)
            case Status():
                self._feed_status(frame)
            case Gap():
                self._feed_gap(frame)
            case _:
                pass  # heartbeats and controls carry nothing for browsers

    def _instrument(self, frame: Instrument) -> None:
        exchange = EXCHANGE_NAMES.get(frame.exchange, "unknown")
        if frame.symbol_id != symbol_id(exchange, frame.symbol):
            log.warning(
                "instrument id does not match its name; ignored",
                extra={"exchange": exchange, "symbol": frame.symbol, "symbol_id": frame.symbol_id},
            )
            return
        st = self._state(frame.symbol_id, exchange, frame.symbol)
        st.info = InstrumentInfo(frame.symbol_id, exchange, frame.symbol, frame.price_scale, frame.qty_scale)

    def _feed_status(self, frame: Status) -> None:
        exchange, name = self._feeds.get(frame.feed_id, (None, None))
        ev = render_status(exchange, name, frame.state, frame.reconnects, frame.ts_ns)
        self._status[frame.feed_id] = ev
        self._tick.append((_exchange_key(exchange), ev, frame.seq))

    def _feed_gap(self, frame: Gap) -> None:
        exchange, name = self._feeds.get(frame.feed_id, (None, None))
        symbol: str | None = None
        affected: Iterable[int]
        if frame.symbol_id:
            st = self._symbols.get(frame.symbol_id)
            symbol = st.symbol if st is not None else None
            exchange = exchange or (st.exchange if st is not None else None)
            affected = (frame.symbol_id,)
        elif exchange is not None:
            affected = tuple(self._by_exchange.get(exchange, ()))
        else:  # a feed we never saw announced, or the bridge's own relay connection: assume everything
            affected = tuple(self._symbols)
        for sid in affected:
            st = self._symbols.get(sid)
            if st is not None:
                st.book.invalidate()
                st.book_event = None
                if st.routes[BOOK]:
                    self._ask_snapshot(sid)
        ev = render_feed_gap(
            exchange=exchange,
            feed=name,
            symbol=symbol,
            reason=frame.reason,
            seq=frame.seq,
            first=frame.first,
            count=None if frame.count == COUNT_UNKNOWN else frame.count,
            ts_ns=frame.ts_ns,
        )
        self._tick.append((_exchange_key(exchange), ev, frame.seq))

    def _publish_books(self) -> None:
        depth = self.limits.book_depth
        for st in self._books_dirty:
            book = st.book
            if not book.ready():
                continue
            book.changed = False
            info = st.info
            if info is None or not st.routes[BOOK]:
                st.book_event = None  # rendered on demand when someone subscribes
                continue
            bids, asks = book.top(depth)
            ev = render_book(info, book.seq, book.ts_exchange_ns, book.ts_recv_ns, bids, asks)
            st.book_event = ev
            self._tick.append((info.symbol_id << 2 | BOOK, ev, book.seq))
        self._books_dirty.clear()

    def retry_snapshots(self) -> None:
        """Ask again for every watched book still without a snapshot (at most once per symbol per
        ``_SNAPSHOT_RETRY_S``): the relay drops snapshot requests past a consumer's rate limit, and a
        request can reach a feed that is restarting. Called about once a second by the server."""
        for sid, st in self._symbols.items():
            if st.routes[BOOK] and not st.book.valid:
                self._ask_snapshot(sid)

    def _ask_snapshot(self, sid: int) -> None:
        if self.request_snapshot is None:
            return
        now = self._monotonic_s()
        if now - self._snapshot_asked_s.get(sid, -_SNAPSHOT_RETRY_S) >= _SNAPSHOT_RETRY_S:
            self._snapshot_asked_s[sid] = now
            self.request_snapshot(sid)

    # ---- fan-out and outboxes ----------------------------------------------------------------

    def _fan_out(self) -> int:
        """Deliver this tick's events: one joined payload per subscription group, written to each
        member that is keeping up; members that are behind (or just fell behind) queue theirs."""
        tick = self._tick
        self._tick = []
        high_water = self.limits.high_water_bytes
        out = 0
        for sig, members in self._groups.items():
            parts = [e for e in tick if e[0] in sig]
            if not parts:
                continue
            payload: bytes | None = None
            for c in members:
                if c.queue or c.missed or c.behind_since_s is not None or c.sink.buffered_bytes() > high_water:
                    for key, ev, seq in parts:
                        self._enqueue(c, key, ev, seq)
                    continue
                if payload is None:
                    payload = b"[" + b",".join([e[1] for e in parts]) + b"]"
                c.sink.write(payload)
                out += len(parts)
        self.events_out += out
        return out

    def _enqueue(self, c: Client, key: int, ev: bytes, seq: int) -> None:
        if key < 0:
            self._push(c, ev, 0, -1, seq, limited=False)  # feed notices: rare, never dropped
        elif key & 3 == TRADES:
            self._push(c, ev, key >> 2, TRADES, seq)
        else:
            self._push_latest(c, ev, key >> 2, key & 3)

    def _regroup(self, c: Client, *, leaving: bool = False) -> None:
        group = self._groups.get(c.sig)
        if group is not None:
            group.discard(c)
            if not group:
                del self._groups[c.sig]
        if leaving:
            return
        keys = {sid << 2 | ch for sid, ch in c.subs}
        keys.update(_exchange_key(ex) for ex in c.exchanges)
        keys.add(_GLOBAL_KEY)
        c.sig = frozenset(keys)
        self._groups.setdefault(c.sig, set()).add(c)

    def _push(self, c: Client, ev: bytes, sid: int, channel: int, seq: int, *, limited: bool = True) -> None:
        if limited and c.live >= self.limits.max_queue_events:
            missed = c.missed.get((sid, channel))
            if missed is None:
                c.missed[(sid, channel)] = [1, seq]
            else:
                missed[0] += 1
            self._dropped_slow += 1
        else:
            c.queue.append(ev)
            c.live += 1
        if not c.dirty:
            c.dirty = True
            self._dirty.append(c)

    def _push_latest(self, c: Client, ev: bytes, sid: int, channel: int) -> None:
        """State events (quotes, books): while the client is behind, a newer one replaces the older."""
        queue = c.queue
        key = (sid, channel)
        if c.behind_since_s is not None:
            old = c.latest.get(key)
            if old is not None:
                queue[old] = None
                c.holes = True
                self._coalesced += 1
        c.latest[key] = len(queue)
        queue.append(ev)
        if not c.dirty:
            c.dirty = True
            self._dirty.append(c)

    def _flush_dirty(self) -> int:
        dirty = self._dirty
        self._dirty = []
        out = 0
        for c in dirty:
            c.dirty = False
            out += self._flush(c)
        return out

    def _flush(self, c: Client) -> int:
        """Write the client's outbox as one message unless its socket is backed up; events written."""
        sink = c.sink
        if sink.buffered_bytes() > self.limits.high_water_bytes:
            if c.behind_since_s is None:
                c.behind_since_s = self._monotonic_s()
                self._behind.add(c)
                if len(self._behind) == 1 and self.on_behind is not None:
                    self.on_behind()
            return 0
        due = c.take()
        if c.missed:
            now_ns = self._now_ns()
            for (sid, channel), (count, first) in c.missed.items():
                st = self._symbols.get(sid)
                if st is not None and st.info is not None:
                    due.append(render_client_gap(st.info, CHANNELS[channel], count, first, now_ns))
            c.missed.clear()
        if c.behind_since_s is not None:
            c.behind_since_s = None
            self._behind.discard(c)
        if due:
            sink.write(b"[" + b",".join(due) + b"]")
        self.events_out += len(due)
        return len(due)

    def _count(self) -> None:
        m = self.metrics
        if self.events_out:
            m.messages_out += self.events_out
            self.events_out = 0
        if self._unknown:
            m.drop("unknown_instrument", self._unknown)
            self._unknown = 0
        if self._dropped_slow:
            m.drop("slow_client", self._dropped_slow)
            self._dropped_slow = 0
        if self._coalesced:
            m.drop("coalesced", self._coalesced)
            self._coalesced = 0

    def service_backlog(self) -> None:
        """Called every few ms while a client is behind: flush those that were, disconnect those behind
        too long."""
        if not self._behind:
            return
        now = self._monotonic_s()
        for c in list(self._behind):
            since = c.behind_since_s
            if since is not None and now - since > self.limits.slow_client_timeout_s:
                self.metrics.reject("slow_client")
                missed = sum(n for n, _ in c.missed.values())
                self.remove_client(c)
                c.sink.close(
                    CloseCode.SLOW_CLIENT,
                    f"slow client: not reading for {self.limits.slow_client_timeout_s:g} s ({missed} events missed)",
                )
            else:
                self._flush(c)
        self._count()

    # ---- clients -----------------------------------------------------------------------------

    def add_client(self, sink: ClientSink, principal: Principal, request_id: int | str | None = None) -> Client | None:
        """Register an authenticated client and greet it; None (and the sink closed) when full."""
        if len(self.clients) >= self.limits.max_clients:
            self.metrics.reject("client_limit")
            sink.close(CloseCode.TRY_AGAIN_LATER, f"bridge is at its limit of {self.limits.max_clients} clients")
            return None
        self._client_seq += 1
        c = Client(sink, principal, f"{principal.sub}#{self._client_seq}")
        self.clients.add(c)
        self._regroup(c)
        self.metrics.clients.set(len(self.clients))
        lim = self.limits
        self.reply(
            c,
            render_reply(
                "welcome",
                request_id,
                sub=principal.sub,
                role=principal.role,
                exp=principal.exp_s,
                limits={
                    "max_subscriptions": lim.max_subscriptions,
                    "max_message_bytes": lim.max_message_bytes,
                    "book_depth": lim.book_depth,
                    "recent_trades": lim.trade_ring,
                },
            ),
        )
        return c

    def remove_client(self, c: Client) -> None:
        if c not in self.clients:
            return
        self.clients.discard(c)
        self._behind.discard(c)
        self._regroup(c, leaving=True)
        for sid, channel in c.subs:
            st = self._symbols.get(sid)
            if st is not None:
                self._leave(st, sid, channel, c)
        c.subs.clear()
        c.exchanges.clear()
        c.queue.clear()
        self.metrics.clients.set(len(self.clients))

    def reply(self, c: Client, ev: bytes) -> None:
        """Send a control reply now, in order with the data already queued for this client."""
        self._push(c, ev, 0, -1, 0, limited=False)
        self._flush_dirty()
        self._count()

    def reauthenticate(self, c: Client, principal: Principal, request_id: int | str | None) -> None:
        c.principal = principal
        self.reply(c, render_reply("welcome", request_id, sub=principal.sub, role=principal.role, exp=principal.exp_s))

    def expire_tokens(self, now_s: float) -> None:
        for c in list(self.clients):
            if c.principal.exp_s < now_s:
                self.remove_client(c)
                self.metrics.reject("token")
                c.sink.close(CloseCode.UNAUTHORIZED, "token expired: send a fresh token with {op: auth} before exp")

    def subscribe(
        self,
        c: Client,
        exchange: str,
        symbols: tuple[str, ...],
        channels: tuple[str, ...],
        request_id: int | str | None = None,
    ) -> None:
        chans = [CHANNEL_NUMBER[ch] for ch in channels]
        wanted = [(symbol_id(exchange, s), s) for s in symbols]
        new = {(sid, ch) for sid, _ in wanted for ch in chans} - c.subs
        if len(c.subs) + len(new) > self.limits.max_subscriptions:
            self.metrics.reject("subscription_limit")
            self.reply(
                c,
                render_error(
                    "subscription_limit",
                    f"{len(c.subs)} + {len(new)} (symbol, channel) subscriptions exceed the limit of "
                    f"{self.limits.max_subscriptions}; unsubscribe first",
                    request_id,
                ),
            )
            return
        self._push(
            c,
            render_reply("subscribed", request_id, exchange=exchange, symbols=list(symbols), channels=list(channels)),
            0,
            -1,
            0,
            limited=False,
        )
        if exchange not in c.exchanges:
            for fid, (ex, _) in self._feeds.items():
                status = self._status.get(fid)
                if ex == exchange and status is not None:
                    self._push(c, status, 0, -1, 0, limited=False)
        for sid, symbol in wanted:
            st = self._state(sid, exchange, symbol)
            for ch in chans:
                if (sid, ch) in c.subs:
                    continue
                c.subs.add((sid, ch))
                c.exchanges[exchange] = c.exchanges.get(exchange, 0) + 1
                first = not st.routes[ch]
                st.routes[ch].add(c)
                if first:
                    self._interest(st, sid, ch, True)
                self._initial_state(c, st, sid, ch)
        self._regroup(c)
        self._flush_dirty()
        self._count()

    def _initial_state(self, c: Client, st: SymbolState, sid: int, ch: int) -> None:
        """What a new subscriber sees first: the current book and quote, the recent trades."""
        if ch == BOOK:
            if st.book.valid and not st.book.in_snapshot and st.info is not None:
                if st.book_event is None:
                    bids, asks = st.book.top(self.limits.book_depth)
                    b = st.book
                    st.book_event = render_book(st.info, b.seq, b.ts_exchange_ns, b.ts_recv_ns, bids, asks)
                self._push_latest(c, st.book_event, sid, BOOK)
            else:
                self._ask_snapshot(sid)
        elif ch == QUOTES:
            if st.quote is not None:
                self._push_latest(c, st.quote, sid, QUOTES)
        else:
            for ev in st.trades:
                self._push(c, ev, sid, TRADES, 0, limited=False)

    def unsubscribe(
        self,
        c: Client,
        exchange: str,
        symbols: tuple[str, ...],
        channels: tuple[str, ...],
        request_id: int | str | None = None,
    ) -> None:
        for symbol in symbols:
            sid = symbol_id(exchange, symbol)
            st = self._symbols.get(sid)
            for name in channels:
                ch = CHANNEL_NUMBER[name]
                if (sid, ch) not in c.subs:
                    continue
                c.subs.discard((sid, ch))
                left = c.exchanges[exchange] - 1
                if left:
                    c.exchanges[exchange] = left
                else:
                    del c.exchanges[exchange]
                if st is not None:
                    self._leave(st, sid, ch, c)
        self._regroup(c)
        self.reply(
            c,
            render_reply("unsubscribed", request_id, exchange=exchange, symbols=list(symbols), channels=list(channels)),
        )

    def _leave(self, st: SymbolState, sid: int, ch: int, c: Client) -> None:
        routes = st.routes[ch]
        if c in routes:
            routes.discard(c)
            if not routes:
                self._interest(st, sid, ch, False)

    def _interest(self, st: SymbolState, sid: int, ch: int, watched: bool) -> None:
        if ch == TRADES or self.on_interest is None:
            return
        if not watched:
            # the relay stops sending them: what is held would only grow stale
            if ch == BOOK:
                st.book = Book()
                st.book_event = None
                self._books_dirty.discard(st)
            else:
                st.quote = None
        elif ch == BOOK:
            # subscribing to a symbol's book makes the relay ask its feed for a snapshot: no second request
            self._snapshot_asked_s[sid] = self._monotonic_s()
        self.on_interest(sid, ch, watched)

    def watched(self) -> list[tuple[int, int]]:
        """(symbol id, QUOTES or BOOK) that some client watches: what the relay must send besides trades."""
        return [(sid, ch) for sid, st in self._symbols.items() for ch in (QUOTES, BOOK) if st.routes[ch]]

    def _state(self, sid: int, exchange: str, symbol: str) -> SymbolState:
        st = self._symbols.get(sid)
        if st is None:
            st = self._symbols[sid] = SymbolState(exchange, symbol, self.limits.trade_ring)
            self._by_exchange.setdefault(exchange, set()).add(sid)
        return st

    @property
    def behind_clients(self) -> int:
        return len(self._behind)

    @property
    def instruments(self) -> int:
        """Symbols whose instrument frame the bridge has seen (it can render them)."""
        return sum(1 for st in self._symbols.values() if st.info is not None)
