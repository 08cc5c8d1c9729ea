"""Frame types as immutable values, and their exact encoding to and from 48-byte cells.

``encode(frame) -> bytes`` and ``decode(cells) -> frame`` are inverse; the hot-path helpers
(``pack_trade`` and friends) write the same bytes without building a frame object.
"""

import struct
from dataclasses import dataclass

from alphapulse.protocol.errors import FrameError
from alphapulse.protocol.wire import (
    CELL,
    CELL_BYTES,
    CELLS,
    COUNT_UNKNOWN,
    FEED_0,
    FEED_1,
    FEED_NAME_MAX_BYTES,
    FLAG_REPLAY,
    INSTRUMENT_0,
    INSTRUMENT_1,
    NATIVE_SYMBOL_MAX_BYTES,
    SEQ_MOD,
    SYMBOL_MAX_BYTES,
    VERSION,
    ControlOp,
    Exchange,
    FeedState,
    FrameType,
    GapReason,
    Side,
    TradeFlag,
)

__all__ = (
    "ALL_TYPES_MASK",
    "BookLevel",
    "Control",
    "Feed",
    "Frame",
    "Gap",
    "Heartbeat",
    "Instrument",
    "Quote",
    "SnapshotBegin",
    "SnapshotEnd",
    "Status",
    "Trade",
    "cells_of",
    "decode",
    "encode",
    "pack_book",
    "pack_quote",
    "pack_trade",
    "type_mask",
)

TRADE_ID_MAX = (1 << 40) - 1
ALL_TYPES_MASK = 0xFFFFFFFF
# The flag bits each type may carry besides REPLAY, as plain ints: ``~`` of an IntFlag inverts only
# within the flag's own members, so ``flags & ~(0x03 | TradeFlag.SNAPSHOT)`` would let 0x20/0x40 through.
_SIDE_BITS = 0x03
_TRADE_FLAG_BITS = _SIDE_BITS | int(TradeFlag.SNAPSHOT)
_BOOK_FLAG_BITS = _SIDE_BITS | int(TradeFlag.BOOK_LAST) | int(TradeFlag.BOOK_SNAPSHOT)


# Frames are values: treat them as immutable. They are not ``frozen`` dataclasses because a frozen
# __init__ sets every field through object.__setattr__, which tripled the cost of decoding a trade.


def type_mask(*types: FrameType) -> int:
    mask = 0
    for t in types:
        mask |= 1 << t
    return mask


@dataclass(slots=True)
class Trade:
    symbol_id: int
    seq: int
    side: Side
    trade_id: int
    ts_exchange_ns: int
    ts_recv_ns: int
    price: int
    qty: int
    snapshot: bool = False
    replay: bool = False


@dataclass(slots=True)
class Quote:
    symbol_id: int
    seq: int
    ts_exchange_ns: int
    ts_recv_ns: int
    bid_price: int
    bid_qty: int
    ask_price: int
    ask_qty: int
    replay: bool = False


@dataclass(slots=True)
class BookLevel:
    """One level of an order book: absolute quantity at a price (0 deletes the level)."""

    symbol_id: int
    seq: int
    side: Side
    ts_exchange_ns: int
    ts_recv_ns: int
    price: int
    qty: int
    last: bool = False  # last level of one venue message: apply the batch, then look at the book
    snapshot: bool = False
    replay: bool = False


@dataclass(slots=True)
class SnapshotBegin:
    """The levels that follow (``levels`` of them) replace the whole book of ``symbol_id``."""

    symbol_id: int
    seq: int
    levels: int
    ts_exchange_ns: int
    ts_recv_ns: int
    request_id: int = 0
    replay: bool = False


@dataclass(slots=True)
class SnapshotEnd:
    symbol_id: int
    seq: int
    levels: int
    ts_exchange_ns: int
    ts_recv_ns: int
    request_id: int = 0
    replay: bool = False


@dataclass(slots=True)
class Instrument:
    symbol_id: int
    seq: int
    exchange: Exchange
    symbol: str  # normalized BASE-QUOTE
    price_scale: int
    qty_scale: int
    price_increment: int  # tick, in price units at price_scale
    qty_increment: int  # lot step, in qty units at qty_scale
    native_symbol: str
    replay: bool = False


@dataclass(slots=True)
class Feed:
    """Announces a feed: its id, name, venue and epoch (the collector's start time; a new epoch restarts seq)."""

    feed_id: int
    seq: int
    exchange: Exchange
    name: str
    epoch_ns: int
    replay: bool = False


@dataclass(slots=True)
class Status:
    feed_id: int
    seq: int
    state: FeedState
    ts_ns: int
    reconnects: int = 0
    detail: int = 0
    replay: bool = False


@dataclass(slots=True)
class Gap:
    """Data was lost: ``count`` items from ``first`` (feed or venue sequence), or an unknown amount."""

    feed_id: int
    seq: int
    reason: GapReason
    ts_ns: int
    symbol_id: int = 0  # 0: the whole feed
    first: int = 0
    count: int = COUNT_UNKNOWN
    replay: bool = False


@dataclass(slots=True)
class Heartbeat:
    feed_id: int
    seq: int
    ts_ns: int
    replay: bool = False


@dataclass(slots=True)
class Control:
    """A consumer's request to the relay (and the relay's to a feed), or a feed's answer to RESUME.

    RESUME / REPLAY / REPLAY_END: ``symbol_id`` holds the *feed* id, ``epoch_ns`` names the feed's
    session, ``from_seq`` the first seq asked for (RESUME), the first seq of the cells that follow
    (REPLAY) or the feed's next live seq (REPLAY_END); ``count`` = cells that follow a REPLAY."""

    op: ControlOp
    symbol_id: int = 0  # 0: every symbol; the feed id for RESUME, REPLAY and REPLAY_END
    type_mask: int = ALL_TYPES_MASK
    exchange_mask: int = 0  # bit (1 << Exchange); 0: every exchange
    request_id: int = 0
    ts_ns: int = 0
    seq: int = 0
    replay: bool = False
    from_seq: int = 0
    epoch_ns: int = 0
    count: int = 0


Frame = Trade | Quote | BookLevel | SnapshotBegin | SnapshotEnd | Instrument | Feed | Status | Gap | Heartbeat | Control

_T = CELL[FrameType.TRADE]
_Q = CELL[FrameType.QUOTE]
_B = CELL[FrameType.BOOK]


def _rp(replay: bool) -> int:
    return FLAG_REPLAY if replay else 0


def pack_trade(
    symbol_id: int,
    seq: int,
    side: int,
    trade_id: int,
    ts_exchange_ns: int,
    ts_recv_ns: int,
    price: int,
    qty: int,
    flags: int = 0,
) -> bytes:
    if not 0 <= trade_id <= TRADE_ID_MAX:
        raise FrameError(f"trade id {trade_id} does not fit in 40 bits")
    return _T.pack(
        VERSION,
        FrameType.TRADE,
        side | flags,
        trade_id >> 32,
        symbol_id,
        seq % SEQ_MOD,
        trade_id & 0xFFFFFFFF,
        ts_exchange_ns,
        ts_recv_ns,
        price,
        qty,
    )


def pack_quote(
    symbol_id: int,
    seq: int,
    ts_exchange_ns: int,
    ts_recv_ns: int,
    bid_price: int,
    bid_qty: int,
    ask_price: int,
    ask_qty: int,
    flags: int = 0,
) -> bytes:
    return _Q.pack(
        VERSION,
        FrameType.QUOTE,
        flags,
        0,
        symbol_id,
        seq % SEQ_MOD,
        0,
        ts_exchange_ns,
        ts_recv_ns,
        bid_price,
        bid_qty,
    ) + _Q.pack(
        VERSION,
        FrameType.QUOTE,
        flags,
        1,
        symbol_id,
        (seq + 1) % SEQ_MOD,
        0,
        ts_exchange_ns,
        ts_recv_ns,
        ask_price,
        ask_qty,
    )


def pack_book(
    symbol_id: int,
    seq: int,
    side: int,
    ts_exchange_ns: int,
    ts_recv_ns: int,
    price: int,
    qty: int,
    flags: int = 0,
) -> bytes:
    return _B.pack(
        VERSION,
        FrameType.BOOK,
        side | flags,
        0,
        symbol_id,
        seq % SEQ_MOD,
        0,
        ts_exchange_ns,
        ts_recv_ns,
        price,
        qty,
    )


def _ascii(text: str, limit: int, what: str) -> bytes:
    raw = text.encode()
    if not text.isascii() or len(raw) > limit:
        raise FrameError(f"{what} {text!r} must be ASCII and at most {limit} bytes")
    return raw


def encode(frame: Frame) -> bytes:
    """The exact bytes of ``frame``: ``cells_of(type) * 48`` of them.

    Raises FrameError for a field outside its wire width (the ``pack_*`` helpers, on the hot path,
    leave that to ``struct.error``)."""
    try:
        return _encode(frame)
    except struct.error as e:
        raise FrameError(f"{type(frame).__name__} has a field outside its wire width: {e}") from e


def _encode(frame: Frame) -> bytes:
    match frame:
        case Trade():
            flags = (TradeFlag.SNAPSHOT if frame.snapshot else 0) | _rp(frame.replay)
            return pack_trade(
                frame.symbol_id,
                frame.seq,
                frame.side,
                frame.trade_id,
                frame.ts_exchange_ns,
                frame.ts_recv_ns,
                frame.price,
                frame.qty,
                flags,
            )
        case Quote():
            return pack_quote(
                frame.symbol_id,
                frame.seq,
                frame.ts_exchange_ns,
                frame.ts_recv_ns,
                frame.bid_price,
                frame.bid_qty,
                frame.ask_price,
                frame.ask_qty,
                _rp(frame.replay),
            )
        case BookLevel():
            flags = (
                (TradeFlag.BOOK_LAST if frame.last else 0)
                | (TradeFlag.BOOK_SNAPSHOT if frame.snapshot else 0)
                | _rp(frame.replay)
            )
            return pack_book(
                frame.symbol_id,
                frame.seq,
                frame.side,
                frame.ts_exchange_ns,
                frame.ts_recv_ns,
                frame.price,
                frame.qty,
                flags,
            )
        case SnapshotBegin() | SnapshotEnd():
            t = FrameType.SNAPSHOT_BEGIN if isinstance(frame, SnapshotBegin) else FrameType.SNAPSHOT_END
            return CELL[t].pack(
                VERSION,
                t,
                _rp(frame.replay),
                0,
                frame.symbol_id,
                frame.seq % SEQ_MOD,
                frame.levels,
                frame.ts_exchange_ns,
                frame.ts_recv_ns,
                frame.request_id,
                0,
            )
        case Instrument():
            sym = _ascii(frame.symbol, SYMBOL_MAX_BYTES, "symbol")
            native = _ascii(frame.native_symbol, NATIVE_SYMBOL_MAX_BYTES, "native symbol")
            flags = _rp(frame.replay)
            return INSTRUMENT_0.pack(
                VERSION,
                FrameType.INSTRUMENT,
                flags,
                0,
                frame.symbol_id,
                frame.seq % SEQ_MOD,
                frame.exchange,
                frame.price_scale,
                frame.qty_scale,
                len(sym),
                sym,
            ) + INSTRUMENT_1.pack(
                VERSION,
                FrameType.INSTRUMENT,
                flags,
                1,
                frame.symbol_id,
                (frame.seq + 1) % SEQ_MOD,
                len(native),
                frame.price_increment,
                frame.qty_increment,
                native,
            )
        case Feed():
            name = _ascii(frame.name, FEED_NAME_MAX_BYTES, "feed name")
            flags = _rp(frame.replay)
            return FEED_0.pack(
                VERSION,
                FrameType.FEED,
                flags,
                0,
                frame.feed_id,
                frame.seq % SEQ_MOD,
                frame.exchange,
                len(name),
                frame.epoch_ns,
                name[:24],
            ) + FEED_1.pack(
                VERSION,
                FrameType.FEED,
                flags,
                1,
                frame.feed_id,
                (frame.seq + 1) % SEQ_MOD,
                name[24:],
            )
        case Status():
            return CELL[FrameType.STATUS].pack(
                VERSION,
                FrameType.STATUS,
                frame.state | _rp(frame.replay),
                0,
                frame.feed_id,
                frame.seq % SEQ_MOD,
                frame.reconnects,
                frame.ts_ns,
                frame.detail,
                0,
                0,
            )
        case Gap():
            return CELL[FrameType.GAP].pack(
                VERSION,
                FrameType.GAP,
                frame.reason | _rp(frame.replay),
                0,
                frame.feed_id,
                frame.seq % SEQ_MOD,
                frame.symbol_id,
                frame.first,
                frame.count,
                frame.ts_ns,
                0,
            )
        case Heartbeat():
            return CELL[FrameType.HEARTBEAT].pack(
                VERSION,
                FrameType.HEARTBEAT,
                _rp(frame.replay),
                0,
                frame.feed_id,
                frame.seq % SEQ_MOD,
                0,
                frame.ts_ns,
                0,
                0,
                0,
            )
        case Control():
            return CELL[FrameType.CONTROL].pack(
                VERSION,
                FrameType.CONTROL,
                frame.op | _rp(frame.replay),
                0,
                frame.symbol_id,
                frame.seq % SEQ_MOD,
                frame.type_mask,
                frame.exchange_mask,
                frame.request_id,
                frame.from_seq % SEQ_MOD,
                frame.ts_ns,
                frame.epoch_ns,
                frame.count,
            )
    raise FrameError(f"cannot encode {type(frame).__name__}")  # pragma: no cover - exhaustive above


def cells_of(frame_type: int) -> int:
    return CELLS.get(frame_type, 1)


def _enum[E: (Side, GapReason, FeedState, ControlOp, Exchange)](cls: type[E], value: int, what: str) -> E:
    try:
        return cls(value)
    except ValueError as e:
        raise FrameError(f"{what} {value} is not a valid {cls.__name__}") from e


def _text(raw: bytes, length: int, limit: int, what: str) -> str:
    if length > limit or raw[length:].strip(b"\0"):
        raise FrameError(f"{what} length {length} is invalid")
    try:
        text = raw[:length].decode("ascii")
    except UnicodeDecodeError as e:
        raise FrameError(f"{what} is not ASCII") from e
    return text


# plain ints and tuples on the decode path: IntEnum/IntFlag arithmetic costs ~1 µs per operation
_TRADE, _QUOTE, _BOOK = int(FrameType.TRADE), int(FrameType.QUOTE), int(FrameType.BOOK)
_SNAP_BIT = int(TradeFlag.SNAPSHOT)
_LAST_BIT = int(TradeFlag.BOOK_LAST)
_BOOK_SNAP_BIT = int(TradeFlag.BOOK_SNAPSHOT)
_SIDES = (Side.UNKNOWN, Side.BUY, Side.SELL)


def decode(data: bytes | memoryview, offset: int = 0) -> Frame:
    """Decode the frame starting at ``offset``; ``data`` must hold all of its cells."""
    if len(data) - offset < CELL_BYTES:
        raise FrameError(f"a frame needs at least {CELL_BYTES} bytes, got {len(data) - offset}")
    version, ftype, flags, part = data[offset], data[offset + 1], data[offset + 2], data[offset + 3]
    if version != VERSION:
        raise FrameError(f"unsupported frame version {version} (this build speaks {VERSION})")
    if ftype not in CELL and ftype not in CELLS:
        raise FrameError(f"unknown frame type {ftype}")
    ncells = cells_of(ftype)
    if len(data) - offset < ncells * CELL_BYTES:
        raise FrameError(f"frame type {FrameType(ftype).name} needs {ncells * CELL_BYTES} bytes")
    replay = bool(flags & FLAG_REPLAY)
    flags &= ~FLAG_REPLAY
    if ftype != FrameType.TRADE and part != 0:
        raise FrameError(f"frame starts with cell part {part}, expected 0")
    if ncells > 1:
        for i in range(1, ncells):
            o = offset + i * CELL_BYTES
            if data[o] != VERSION or data[o + 1] != ftype or data[o + 3] != i:
                raise FrameError(f"{FrameType(ftype).name} cell {i} is missing or out of order")
    if ftype == _TRADE:
        _, _, _, hi, sid, seq, lo, tex, trc, px, qty = _T.unpack_from(data, offset)
        if flags & ~_TRADE_FLAG_BITS or flags & 0x03 == 0x03:
            raise FrameError(f"invalid trade flags {flags:#x}")
        return Trade(
            sid, seq, _SIDES[flags & 0x03], (hi << 32) | lo, tex, trc, px, qty, bool(flags & _SNAP_BIT), replay
        )
    if ftype == _QUOTE:
        _, _, _, _, sid, seq, _, tex, trc, bp, bq = _Q.unpack_from(data, offset)
        _, _, _, _, sid2, _, _, _, _, ap, aq = _Q.unpack_from(data, offset + CELL_BYTES)
        if sid2 != sid:
            raise FrameError("quote cells disagree on the symbol id")
        return Quote(sid, seq, tex, trc, bp, bq, ap, aq, replay)
    if ftype == _BOOK:
        _, _, _, _, sid, seq, _, tex, trc, px, qty = _B.unpack_from(data, offset)
        side_bits = flags & 0x03
        if side_bits not in (1, 2) or flags & ~_BOOK_FLAG_BITS:
            raise FrameError(f"invalid book level flags {flags:#x}")
        return BookLevel(
            sid,
            seq,
            _SIDES[side_bits],
            tex,
            trc,
            px,
            qty,
            bool(flags & _LAST_BIT),
            bool(flags & _BOOK_SNAP_BIT),
            replay,
        )
    if ftype in (FrameType.SNAPSHOT_BEGIN, FrameType.SNAPSHOT_END):
        _, _, _, _, sid, seq, levels, tex, trc, req, _ = CELL[ftype].unpack_from(data, offset)
        cls = SnapshotBegin if ftype == FrameType.SNAPSHOT_BEGIN else SnapshotEnd
        return cls(sid, seq, levels, tex, trc, req, replay)
    if ftype == FrameType.INSTRUMENT:
        _, _, _, _, sid, seq, exch, pscale, qscale, slen, sym = INSTRUMENT_0.unpack_from(data, offset)
        _, _, _, _, _, _, nlen, pinc, qinc, native = INSTRUMENT_1.unpack_from(data, offset + CELL_BYTES)
        return Instrument(
            sid,
            seq,
            _enum(Exchange, exch, "exchange"),
            _text(sym, slen, SYMBOL_MAX_BYTES, "symbol"),
            pscale,
            qscale,
            pinc,
            qinc,
            _text(native, nlen, NATIVE_SYMBOL_MAX_BYTES, "native symbol"),
            replay,
        )
    if ftype == FrameType.FEED:
        _, _, _, _, fid, seq, exch, nlen, epoch, name0 = FEED_0.unpack_from(data, offset)
        name1 = FEED_1.unpack_from(data, offset + CELL_BYTES)[6]
        name = _text(name0 + name1, nlen, FEED_NAME_MAX_BYTES, "feed name")
        return Feed(fid, seq, _enum(Exchange, exch, "exchange"), name, epoch, replay)
    if ftype == FrameType.STATUS:
        _, _, _, _, fid, seq, reconnects, ts, detail, _, _ = CELL[ftype].unpack_from(data, offset)
        return Status(fid, seq, _enum(FeedState, flags, "feed state"), ts, reconnects, detail, replay)
    if ftype == FrameType.GAP:
        _, _, _, _, fid, seq, sid, first, count, ts, _ = CELL[ftype].unpack_from(data, offset)
        return Gap(fid, seq, _enum(GapReason, flags, "gap reason"), ts, sid, first, count, replay)
    if ftype == FrameType.HEARTBEAT:
        _, _, _, _, fid, seq, _, ts, _, _, _ = CELL[ftype].unpack_from(data, offset)
        return Heartbeat(fid, seq, ts, replay)
    _, _, _, _, sid, seq, tmask, emask, req, from_seq, ts, epoch, count = CELL[FrameType.CONTROL].unpack_from(
        data, offset
    )
    return Control(
        _enum(ControlOp, flags, "control op"), sid, tmask, emask, req, ts, seq, replay, from_seq, epoch, count
    )
