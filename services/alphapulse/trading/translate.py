"""Frames in, NautilusTrader data out: the live client's logic, without I/O.

Every value is built through its instrument's precision (``Price.from_raw(value * 10**(16 - scale),
scale)`` is exactly ``inst.make_price`` of the decimal the frame encodes, without the decimal).
A frame NautilusTrader would choke on is refused here, counted and reported, never passed on:
a precision mismatch inside NautilusTrader's DataEngine terminates the whole node.

Refusal reasons (``Rejection.reason``):

- ``unknown_symbol``: no instrument frame (or preloaded instrument) for the frame's symbol id yet;
- ``precision``: the feed now announces scales for the symbol that differ from the precision of the
  instrument NautilusTrader already holds (a collector restarted with new venue metadata, or a
  preloaded table disagrees with the wire); NautilusTrader cannot change an instrument's precision
  under a live book, so the symbol's frames are refused until the scales agree again;
- ``range``: a price or quantity NautilusTrader cannot represent, or that makes no sense (a trade
  at a non-positive price, a negative quantity);
- ``tick``: a price that is not a multiple of the instrument's tick (a sign of a wrong scale);
- ``instrument``: an instrument frame NautilusTrader cannot represent, or whose id does not match
  its exchange and symbol.

Books: a symbol whose book is subscribed starts (and restarts after every gap) in *resync*:
incremental levels are dropped until a snapshot (SnapshotBegin, BookLevel(snapshot)*, SnapshotEnd)
has replaced the book, so a strategy never sees a book built on missing updates.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from nautilus_trader.core.data import Data
from nautilus_trader.model.data import BookOrder, OrderBookDelta, OrderBookDeltas, QuoteTick, TradeTick
from nautilus_trader.model.enums import AggressorSide, BookAction, OrderSide, RecordFlag
from nautilus_trader.model.identifiers import InstrumentId, TradeId
from nautilus_trader.model.instruments import CurrencyPair
from nautilus_trader.model.objects import FIXED_PRECISION, PRICE_MAX, QUANTITY_MAX, Price, Quantity

from alphapulse.errors import ConfigError
from alphapulse.protocol import (
    CELL_BYTES,
    BookLevel,
    Exchange,
    Feed,
    Frame,
    Gap,
    Instrument,
    Quote,
    Side,
    SnapshotBegin,
    SnapshotEnd,
    Trade,
    TradeFlag,
    cells_of,
    decode,
    symbol_id,
)
from alphapulse.protocol.wire import CELL, FLAG_REPLAY, FrameType
from alphapulse.trading.instruments import InstrumentSpec, currency_pair, spec_from_frame

__all__ = ("FrameTranslator", "GapSeen", "Market", "Rejection", "SnapshotNeeded")

_AGGRESSOR = {
    int(Side.BUY): AggressorSide.BUYER,
    int(Side.SELL): AggressorSide.SELLER,
    int(Side.UNKNOWN): AggressorSide.NO_AGGRESSOR,
}
_BOOK_SIDE = {int(Side.BUY): OrderSide.BUY, int(Side.SELL): OrderSide.SELL}
_BOOK_SIDE_CODES = frozenset(_BOOK_SIDE)
_TRADE, _QUOTE, _BOOK = int(FrameType.TRADE), int(FrameType.QUOTE), int(FrameType.BOOK)
_TRADE_CELL, _QUOTE_CELL, _BOOK_CELL = CELL[FrameType.TRADE], CELL[FrameType.QUOTE], CELL[FrameType.BOOK]
_TRADE_SKIP = int(TradeFlag.SNAPSHOT) | FLAG_REPLAY
_BOOK_LAST, _BOOK_SNAPSHOT = int(TradeFlag.BOOK_LAST), int(TradeFlag.BOOK_SNAPSHOT)
_F_SNAPSHOT = int(RecordFlag.F_SNAPSHOT)
_F_LAST = int(RecordFlag.F_LAST)


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str
    symbol_id: int
    detail: str


@dataclass(frozen=True, slots=True)
class GapSeen:
    feed: str  # the feed's name, "relay" for the client's own connection, or the feed id in hex
    gap: Gap
    resync: tuple[int, ...]  # symbol ids whose books now wait for a snapshot


@dataclass(frozen=True, slots=True)
class SnapshotNeeded:
    symbol_ids: tuple[int, ...]


Event = Rejection | GapSeen | SnapshotNeeded


@dataclass(slots=True)
class Market:
    """One symbol's instrument and the state of its book stream."""

    spec: InstrumentSpec
    instrument: CurrencyPair
    iid: InstrumentId
    price_mul: int
    qty_mul: int
    price_max: int
    qty_max: int
    mismatch: str = ""  # non-empty while the wire's scales differ from the instrument's precision
    resyncing: bool = True
    snapshot: list[tuple[OrderSide, int, int]] | None = None
    snapshot_ts: tuple[int, int] = (0, 0)
    pending: list[tuple[BookAction, OrderSide, int, int, int, int, int]] = field(default_factory=list)

    @classmethod
    def of(cls, spec: InstrumentSpec, instrument: CurrencyPair) -> "Market":
        return cls(
            spec,
            instrument,
            instrument.id,
            10 ** (FIXED_PRECISION - spec.price_scale),
            10 ** (FIXED_PRECISION - spec.qty_scale),
            int(PRICE_MAX) * 10**spec.price_scale,
            int(QUANTITY_MAX) * 10**spec.qty_scale,
        )

    def price(self, value: int) -> Price:
        return Price.from_raw(value * self.price_mul, self.spec.price_scale)

    def qty(self, value: int) -> Quantity:
        return Quantity.from_raw(value * self.qty_mul, self.spec.qty_scale)


class FrameTranslator:
    """Turns decoded frames into NautilusTrader data; collects events (gaps, refusals) for the I/O shell."""

    def __init__(self) -> None:
        self.markets: dict[int, Market] = {}
        self.feeds: dict[int, Feed] = {}
        self.book_subscribed: set[int] = set()
        self.events: list[Event] = []
        self.counts: dict[str, int] = {}  # frames handed on, by type, and refusals by "rejected_<reason>"

    # -- instruments -------------------------------------------------------------------------

    def add_instrument(self, spec: InstrumentSpec, ts_ns: int) -> CurrencyPair | None:
        """Register ``spec``; returns the new NautilusTrader instrument, or None if nothing changed."""
        sid = spec.symbol_id
        known = self.markets.get(sid)
        if known is None:
            try:
                instrument = currency_pair(spec, ts_ns)
            except ConfigError as e:
                self._reject("instrument", sid, str(e))
                return None
            self.markets[sid] = Market.of(spec, instrument)
            return instrument
        if (spec.price_scale, spec.qty_scale) != (known.spec.price_scale, known.spec.qty_scale):
            if not known.mismatch:
                known.mismatch = (
                    f"{spec.symbol}@{spec.exchange.name}: the feed announces scales {spec.price_scale}/"
                    f"{spec.qty_scale}, NautilusTrader holds precision {known.spec.price_scale}/{known.spec.qty_scale}"
                )
                self._reject("precision", sid, known.mismatch)
        elif known.mismatch:
            known.mismatch = ""  # the feed agrees with the instrument again
        return None

    def _on_instrument(self, frame: Instrument, ts_init: int) -> CurrencyPair | None:
        if frame.symbol_id != symbol_id(frame.exchange, frame.symbol):
            self._reject("instrument", frame.symbol_id, f"id does not match {frame.exchange.name}:{frame.symbol}")
            return None
        return self.add_instrument(spec_from_frame(frame), ts_init)

    # -- subscriptions -----------------------------------------------------------------------

    def subscribe_book(self, sid: int) -> None:
        """A (re)subscription: the book waits for the snapshot the relay asks the feed for."""
        self.book_subscribed.add(sid)
        market = self.markets.get(sid)
        if market is not None:
            self._start_resync(market)

    def unsubscribe_book(self, sid: int) -> None:
        self.book_subscribed.discard(sid)

    def resyncing(self) -> tuple[int, ...]:
        return tuple(sid for sid in self.book_subscribed if (m := self.markets.get(sid)) is None or m.resyncing)

    # -- the hot path --------------------------------------------------------------------------

    def translate(self, frames: Iterable[Frame], ts_init: int) -> list[Data]:
        """Decoded frames in (tests, tools); the live client uses :meth:`translate_cells`."""
        out: list[Data] = []
        for frame in frames:
            self._frame(frame, ts_init, out)
        return out

    def translate_cells(self, data: bytes, ts_init: int) -> list[Data]:
        """Whole cells in (as the RelayClient delivers them): trades, quotes and book levels are unpacked
        in place with ``struct`` (no frame objects on the hot path); every other frame is decoded."""
        out: list[Data] = []
        end = len(data)
        off = 0
        while off < end:
            ftype = data[off + 1]
            if ftype == _TRADE:
                _, _, flags, hi, sid, _, lo, tex, _, px, qty = _TRADE_CELL.unpack_from(data, off)
                off += CELL_BYTES
                if flags & _TRADE_SKIP:
                    continue  # history from a venue snapshot (or re-sent state), not a live print
                self._trade(sid, flags & 0x03, (hi << 32) | lo, tex, ts_init, px, qty, out)
            elif ftype == _QUOTE:
                _, _, _, _, sid, _, _, tex, trecv, bp, bq = _QUOTE_CELL.unpack_from(data, off)
                ap, aq = _QUOTE_CELL.unpack_from(data, off + CELL_BYTES)[9:11]
                off += 2 * CELL_BYTES
                self._quote(sid, tex or trecv, ts_init, bp, bq, ap, aq, out)
            elif ftype == _BOOK:
                _, _, flags, _, sid, seq, _, tex, trecv, px, qty = _BOOK_CELL.unpack_from(data, off)
                off += CELL_BYTES
                side = flags & 0x03
                if side not in _BOOK_SIDE_CODES:
                    self._reject("range", sid, f"book level with side code {side}")
                    continue
                self._level(sid, seq, side, tex or trecv, ts_init, px, qty, bool(flags & _BOOK_LAST),
                            bool(flags & _BOOK_SNAPSHOT), out)  # fmt: skip
            else:
                size = cells_of(ftype) * CELL_BYTES
                frame = decode(data, off)
                off += size
                self._frame(frame, ts_init, out)
        return out

    def _frame(self, frame: Frame, ts_init: int, out: list[Data]) -> None:
        kind = type(frame)
        if kind is Trade:
            assert isinstance(frame, Trade)
            if not (frame.snapshot or frame.replay):
                self._trade(frame.symbol_id, frame.side, frame.trade_id, frame.ts_exchange_ns, ts_init,
                            frame.price, frame.qty, out)  # fmt: skip
        elif kind is Quote:
            assert isinstance(frame, Quote)
            self._quote(frame.symbol_id, frame.ts_exchange_ns or frame.ts_recv_ns, ts_init, frame.bid_price,
                        frame.bid_qty, frame.ask_price, frame.ask_qty, out)  # fmt: skip
        elif kind is BookLevel:
            assert isinstance(frame, BookLevel)
            self._level(frame.symbol_id, frame.seq, frame.side, frame.ts_exchange_ns or frame.ts_recv_ns, ts_init,
                        frame.price, frame.qty, frame.last, frame.snapshot, out)  # fmt: skip
        elif kind is SnapshotBegin:
            assert isinstance(frame, SnapshotBegin)
            m = self.markets.get(frame.symbol_id)
            if m is not None:
                m.snapshot = []
                m.snapshot_ts = (frame.ts_exchange_ns, frame.seq)
        elif kind is SnapshotEnd:
            assert isinstance(frame, SnapshotEnd)
            self._on_snapshot_end(frame, ts_init, out)
        elif kind is Instrument:
            assert isinstance(frame, Instrument)
            instrument = self._on_instrument(frame, ts_init)
            if instrument is not None:
                out.append(instrument)
        elif kind is Gap:
            assert isinstance(frame, Gap)
            self._on_gap(frame)
        elif kind is Feed:
            assert isinstance(frame, Feed)
            self.feeds[frame.feed_id] = frame

    def _trade(self, sid: int, side: int, trade_id: int, tex: int, ts_init: int, px: int, qty: int,
               out: list[Data]) -> None:  # fmt: skip
        m = self._market(sid)
        if m is None or not self._ok(m, px, qty, strict=True):
            return
        aggressor = _AGGRESSOR.get(side)
        if aggressor is None:
            self._reject("range", sid, f"trade with side code {side}")
            return
        out.append(TradeTick(m.iid, m.price(px), m.qty(qty), aggressor, TradeId(str(trade_id)), tex, ts_init))
        self.counts["trade"] = self.counts.get("trade", 0) + 1

    def _quote(self, sid: int, tex: int, ts_init: int, bp: int, bq: int, ap: int, aq: int, out: list[Data]) -> None:
        m = self._market(sid)
        if m is None or not self._ok(m, bp, bq, strict=False) or not self._ok(m, ap, aq, strict=False):
            return
        out.append(QuoteTick(m.iid, m.price(bp), m.price(ap), m.qty(bq), m.qty(aq), tex, ts_init))
        self.counts["quote"] = self.counts.get("quote", 0) + 1

    def _market(self, sid: int) -> Market | None:
        m = self.markets.get(sid)
        if m is None:
            self._reject("unknown_symbol", sid, "no instrument announced for this symbol id")
            return None
        if m.mismatch:
            self._reject("precision", sid, m.mismatch)
            return None
        return m

    def _ok(self, m: Market, price: int, qty: int, *, strict: bool) -> bool:
        """``strict``: a print (positive price and size); otherwise a side of a quote or book (zeros allowed)."""
        low = 1 if strict else 0
        if not (low <= price <= m.price_max and low <= qty <= m.qty_max):
            self._reject(
                "range",
                m.spec.symbol_id,
                f"{m.iid}: price {price} qty {qty} at scales {m.spec.price_scale}/{m.spec.qty_scale}",
            )
            return False
        if price % m.spec.price_increment:
            self._reject(
                "tick",
                m.spec.symbol_id,
                f"{m.iid}: price {price} is not a multiple of the tick "
                f"{m.spec.price_increment} at scale {m.spec.price_scale}",
            )
            return False
        return True

    def _level(self, sid: int, seq: int, side_code: int, tex: int, ts_init: int, px: int, qty: int, last: bool,
               snapshot: bool, out: list[Data]) -> None:  # fmt: skip
        m = self._market(sid)
        if m is None or not self._ok(m, px, qty, strict=False):
            return
        side = _BOOK_SIDE[side_code]
        if snapshot:
            if m.snapshot is not None:
                m.snapshot.append((side, px, qty))
            return
        if m.resyncing or m.snapshot is not None:
            self.counts["book_dropped_resync"] = self.counts.get("book_dropped_resync", 0) + 1
            return
        action = BookAction.UPDATE if qty else BookAction.DELETE
        m.pending.append((action, side, px, qty, seq, tex, ts_init))
        if last:
            out.append(_deltas(m, m.pending))
            m.pending = []
            self.counts["book"] = self.counts.get("book", 0) + 1

    def _on_snapshot_end(self, frame: SnapshotEnd, ts_init: int, out: list[Data]) -> None:
        m = self.markets.get(frame.symbol_id)
        if m is None or m.snapshot is None or m.mismatch:
            return
        levels, m.snapshot = m.snapshot, None
        ts_event, seq = m.snapshot_ts
        items = [(BookAction.ADD, side, px, qty, seq, ts_event, ts_init) for side, px, qty in levels if qty]
        clear = OrderBookDelta.clear(m.iid, seq, ts_event, ts_init)
        deltas = [clear, *_delta_list(m, items, _F_SNAPSHOT)] if items else [_with_last(m, clear)]
        out.append(OrderBookDeltas(m.iid, deltas))
        m.pending = []
        m.resyncing = False
        self.counts["book_snapshot"] = self.counts.get("book_snapshot", 0) + 1

    def _on_gap(self, gap: Gap) -> None:
        if gap.feed_id == 0:
            name, exchange = "relay", None  # our own connection to the relay dropped: every feed
        elif (feed := self.feeds.get(gap.feed_id)) is not None:
            name, exchange = feed.name, feed.exchange
        else:
            name, exchange = f"{gap.feed_id:#010x}", None
        affected = []
        for sid in sorted(self.book_subscribed):
            m = self.markets.get(sid)
            if m is None:
                continue
            if gap.symbol_id and sid != gap.symbol_id:
                continue
            if exchange is not None and m.spec.exchange != exchange:
                continue
            self._start_resync(m)
            affected.append(sid)
        self.events.append(GapSeen(name, gap, tuple(affected)))
        if affected:
            self.events.append(SnapshotNeeded(tuple(affected)))

    def _start_resync(self, m: Market) -> None:
        m.resyncing = True
        m.snapshot = None
        m.pending = []

    def _reject(self, reason: str, sid: int, detail: str) -> None:
        key = "rejected_" + reason
        self.counts[key] = self.counts.get(key, 0) + 1
        self.events.append(Rejection(reason, sid, detail))

    def exchange_of(self, sid: int) -> Exchange | None:
        m = self.markets.get(sid)
        return m.spec.exchange if m is not None else None


def _deltas(m: Market, items: list[tuple[BookAction, OrderSide, int, int, int, int, int]]) -> OrderBookDeltas:
    return OrderBookDeltas(m.iid, _delta_list(m, items, 0))


def _delta_list(
    m: Market, items: list[tuple[BookAction, OrderSide, int, int, int, int, int]], flags: int
) -> list[OrderBookDelta]:
    last = len(items) - 1
    return [
        OrderBookDelta(
            m.iid,
            action,
            BookOrder(side, m.price(px), m.qty(qty), 0),
            flags | (_F_LAST if k == last else 0),
            seq,
            ts_event,
            ts_init,
        )
        for k, (action, side, px, qty, seq, ts_event, ts_init) in enumerate(items)
    ]


def _with_last(m: Market, delta: OrderBookDelta) -> OrderBookDelta:
    return OrderBookDelta(
        m.iid, delta.action, delta.order, int(delta.flags) | _F_LAST, delta.sequence, delta.ts_event, delta.ts_init
    )
