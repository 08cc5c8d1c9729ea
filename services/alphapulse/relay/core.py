"""The relay's logic on whole buffers: sequence tracking per feed and filtering per consumer.

No I/O here. Work is per chunk (one ``data_received``), done with NumPy over the 48-byte cells;
Python touches individual frames only for the rare state frames (feed, instrument, status).
"""

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from alphapulse.protocol import (
    CELL_BYTES,
    COUNT_UNKNOWN,
    SEQ_MOD,
    VERSION,
    Control,
    ControlOp,
    Exchange,
    Feed,
    FrameError,
    FrameType,
    Gap,
    GapReason,
    Instrument,
    Status,
    decode,
    encode,
)
from alphapulse.protocol.bulk import CELL_DTYPE
from alphapulse.protocol.wire import FLAG_REPLAY
from alphapulse.relay.fastpath import live_run_next_seq, select_cells

__all__ = ("ConsumerFilter", "FeedTrack", "as_replay", "ingest", "ingest_fast")

Cells = npt.NDArray[np.void]

_VALID_FROM_FEED = np.zeros(256, dtype=bool)
for _t in FrameType:
    if _t != FrameType.CONTROL:
        _VALID_FROM_FEED[_t] = True
_STATE_TYPES = np.zeros(256, dtype=bool)
_STATE_TYPES[[FrameType.FEED, FrameType.INSTRUMENT, FrameType.STATUS]] = True
# delivered to every consumer whatever it subscribed to: needed to interpret everything else
ALWAYS = np.zeros(256, dtype=bool)
ALWAYS[[FrameType.FEED, FrameType.INSTRUMENT, FrameType.STATUS, FrameType.GAP]] = True
SYMBOL_KEYED = np.zeros(256, dtype=bool)
SYMBOL_KEYED[[FrameType.TRADE, FrameType.QUOTE, FrameType.BOOK, FrameType.SNAPSHOT_BEGIN, FrameType.SNAPSHOT_END]] = (
    True
)


# the same tables as bit masks over frame types (types are < 32), for per-cell tests in plain Python
_ALWAYS_BITS = sum(1 << t for t in range(32) if ALWAYS[t])
_SYMBOL_KEYED_BITS = sum(1 << t for t in range(32) if SYMBOL_KEYED[t])


def as_replay(cells: bytes) -> bytes:
    """The same cells with the REPLAY flag set: state re-sent, not live data."""
    out = bytearray(cells)
    for off in range(2, len(out), CELL_BYTES):
        out[off] |= FLAG_REPLAY
    return bytes(out)


@dataclass(slots=True)
class FeedTrack:
    """What the relay knows about one feed: identity, expected sequence, and its state frames."""

    source: str
    feed_id: int = 0
    name: str = ""
    exchange: Exchange | None = None
    epoch_ns: int | None = None
    next_seq: int | None = None
    feed_cells: bytes = b""
    status_cells: bytes = b""
    instruments: dict[int, bytes] = field(default_factory=dict)
    cells_in: int = 0

    def hello(self) -> bytes:
        """State for a new consumer: the feed, its instruments, its latest status (all flagged REPLAY)."""
        return as_replay(self.feed_cells + b"".join(self.instruments.values()) + self.status_cells)


def _absorb_state(track: FeedTrack, cells: bytes, now_ns: int, gaps: list[Gap]) -> None:
    frame = decode(cells)
    if isinstance(frame, Feed):
        if track.epoch_ns is not None and frame.epoch_ns != track.epoch_ns:
            if track.next_seq is not None:
                # the collector restarted: what its old session sent after our last cell is unknown
                gaps.append(Gap(frame.feed_id, 0, GapReason.FEED_LOST, now_ns, 0, track.next_seq, COUNT_UNKNOWN))
            track.next_seq = 0  # a new session numbers its cells from 0: anything before its first live cell is lost
        # on first contact the relay has no expectation yet: the first live cell sets it
        track.feed_id, track.name, track.exchange, track.epoch_ns = (
            frame.feed_id,
            frame.name,
            frame.exchange,
            frame.epoch_ns,
        )
        track.feed_cells = cells
    elif isinstance(frame, Instrument):
        track.instruments[frame.symbol_id] = cells
    elif isinstance(frame, Status):
        track.status_cells = cells


# per type byte: 1 for a live market-data type the fast path takes (valid from a feed, not state)
_PLAIN_TYPES = bytes(int(_VALID_FROM_FEED[t] and not _STATE_TYPES[t]) for t in range(256))
# below this size, bytes slicing beats NumPy's fixed per-call overhead when filtering per consumer
_SMALL_SELECT_CELLS = 16


def ingest_fast(track: FeedTrack, chunk: bytes) -> bool:
    """The common case at C speed, whatever the chunk's size: valid live market data whose sequence
    continues the feed's. Returns False when the chunk needs the full path.

    Sequence continuity is checked from the first and last cells and the cell count. Over one
    ordered, reliable stream from a collector that numbers cells consecutively, any loss makes the
    span longer than the count and any repeat makes it shorter; only a loss exactly cancelled by a
    repeat inside one read would pass, which the collector cannot produce.
    """
    nxt = live_run_next_seq(chunk, -1 if track.next_seq is None else track.next_seq, VERSION, _PLAIN_TYPES, FLAG_REPLAY)
    if nxt < 0:
        return False  # a foreign version, a state frame, an invalid type, replayed state or a break: the full path
    track.next_seq = nxt
    track.cells_in += len(chunk) // CELL_BYTES
    return True


def ingest(track: FeedTrack, chunk: bytes, now_ns: int) -> tuple[list[bytes], list[Gap]]:
    """Check one aligned chunk from a feed; return the pieces to forward (gap frames spliced in
    where the feed's sequence skipped) and the gaps found. Raises FrameError on invalid cells."""
    if ingest_fast(track, chunk):
        return [chunk], []
    arr = np.frombuffer(chunk, dtype=CELL_DTYPE)
    types = arr["type"]
    if not (arr["version"] == VERSION).all():
        raise FrameError("cell with an unsupported protocol version")
    if not _VALID_FROM_FEED[types].all():
        raise FrameError("cell with an unknown frame type (or a control frame) from a feed")
    track.cells_in += arr.size
    gaps: list[Gap] = []
    state_idx = np.flatnonzero(_STATE_TYPES[types] & (arr["part"] == 0))
    for i in state_idx.tolist():
        ftype = int(types[i])
        size = (2 if ftype in (FrameType.FEED, FrameType.INSTRUMENT) else 1) * CELL_BYTES
        start = i * CELL_BYTES
        if start + size > len(chunk):
            raise FrameError("multi-cell state frame cut short")
        _absorb_state(track, chunk[start : start + size], now_ns, gaps)
    pre_gaps = len(gaps)

    live = (arr["flags"] & FLAG_REPLAY) == 0
    if track.next_seq is not None and not live.all():
        # state re-sent on (re)connect carries its original numbers: cells it covers were not lost
        for seq in arr["seq"][~live].tolist():
            if seq == track.next_seq:
                track.next_seq = (seq + 1) % SEQ_MOD
    if not live.any():
        return ([_gap_bytes(gaps), chunk] if gaps else [chunk]), gaps
    live_idx = np.flatnonzero(live) if not live.all() else None
    seqs = arr["seq"] if live_idx is None else arr["seq"][live_idx]
    expected = seqs[0] if track.next_seq is None else np.uint32(track.next_seq)
    steps = np.diff(seqs)  # uint32: wraps like the wire does
    if seqs[0] == expected and (steps == 1).all():
        track.next_seq = (int(seqs[-1]) + 1) % SEQ_MOD
        return ([_gap_bytes(gaps), chunk] if gaps else [chunk]), gaps

    # rare path: find every break and splice a gap frame in front of the cell that follows it
    pieces: list[bytes] = []
    if pre_gaps:
        pieces.append(_gap_bytes(gaps))
    cursor = 0
    exp = int(expected)
    for k, seq in enumerate(seqs.tolist()):
        if seq != exp:
            missing = (seq - exp) % SEQ_MOD
            count = missing if missing < SEQ_MOD // 2 else COUNT_UNKNOWN  # backwards: a replay or a reset
            gap = Gap(track.feed_id, 0, GapReason.SEQUENCE, now_ns, 0, exp, count)
            gaps.append(gap)
            cell = k if live_idx is None else int(live_idx[k])
            pieces.append(chunk[cursor * CELL_BYTES : cell * CELL_BYTES])
            pieces.append(encode(gap))
            cursor = cell
        exp = (seq + 1) % SEQ_MOD
    pieces.append(chunk[cursor * CELL_BYTES :])
    track.next_seq = exp
    return [p for p in pieces if p], gaps


def _gap_bytes(gaps: list[Gap]) -> bytes:
    return b"".join(encode(g) for g in gaps)


class ConsumerFilter:
    """What one consumer asked for. Starts as "everything"; RESET then SUBSCRIBE narrows it.

    Rules: per exchange, a type mask for "every symbol"; per symbol id, a type mask. State
    frames (feed, instrument, status, gap) always pass: they are needed to read the rest.
    """

    def __init__(self) -> None:
        self.everything = True
        self.all_symbols: dict[int, int] = {}  # exchange code (0 = any) -> type mask
        self.by_symbol: dict[int, int] = {}  # symbol id -> type mask
        self._groups: list[tuple[npt.NDArray[np.bool_], npt.NDArray[np.uint32]]] = []
        # for small reads: per exchange, the types kept whatever the symbol; the types any symbol keeps
        self._base: dict[int | None, int] = {}
        self._any_symbol_mask = 0

    def apply(self, control: Control) -> None:
        if control.op == ControlOp.RESET:
            self.everything = False
            self.all_symbols.clear()
            self.by_symbol.clear()
        elif control.op in (ControlOp.SUBSCRIBE, ControlOp.UNSUBSCRIBE):
            if self.everything and control.op == ControlOp.SUBSCRIBE:
                self.everything = False  # the first explicit subscription replaces "everything"
            adding = control.op == ControlOp.SUBSCRIBE
            if control.symbol_id:
                self._merge(self.by_symbol, control.symbol_id, control.type_mask, adding)
            else:
                exchanges = [int(e) for e in Exchange if control.exchange_mask >> e & 1] or [0]
                for code in exchanges:
                    self._merge(self.all_symbols, code, control.type_mask, adding)
        self._compile()

    @staticmethod
    def _merge(table: dict[int, int], key: int, mask: int, adding: bool) -> None:
        new = (table.get(key, 0) | mask) if adding else (table.get(key, 0) & ~mask)
        if new:
            table[key] = new
        else:
            table.pop(key, None)

    def _compile(self) -> None:
        by_mask: dict[int, list[int]] = {}
        for sid, mask in self.by_symbol.items():
            by_mask.setdefault(mask, []).append(sid)
        self._groups = [(_lut(mask), np.array(sorted(sids), dtype=np.uint32)) for mask, sids in by_mask.items()]
        every = self.all_symbols.get(0, 0)
        self._base = {None: _ALWAYS_BITS | every}
        for e in Exchange:
            self._base[e] = _ALWAYS_BITS | every | self.all_symbols.get(int(e), 0)
        self._any_symbol_mask = 0
        for mask in self.by_symbol.values():
            self._any_symbol_mask |= mask

    def wants_book(self, symbol_id: int, exchange: Exchange | None) -> bool:
        bit = 1 << FrameType.BOOK
        if self.everything:
            return True
        if self.by_symbol.get(symbol_id, 0) & bit:
            return True
        return bool((self.all_symbols.get(0, 0) | self.all_symbols.get(int(exchange or 0), 0)) & bit)

    def select(self, chunk: bytes, arr: Cells | None, exchange: Exchange | None) -> bytes:
        """The part of ``chunk`` this consumer wants (the same object when it wants all of it)."""
        if self.everything:
            return chunk
        if arr is None and len(chunk) <= _SMALL_SELECT_CELLS * CELL_BYTES:
            return self._select_small(chunk, exchange)
        if arr is None:
            arr = np.frombuffer(chunk, dtype=CELL_DTYPE)
        types = arr["type"]
        keep = ALWAYS[types].copy()
        all_mask = self.all_symbols.get(0, 0) | (self.all_symbols.get(int(exchange), 0) if exchange else 0)
        if all_mask:
            keep |= _lut(all_mask)[types]
        if self._groups:
            keyed = SYMBOL_KEYED[types]
            keys = arr["key"]
            for lut, sids in self._groups:
                keep |= lut[types] & (~keyed | _member(keys, sids))
        if keep.all():
            return chunk
        if not keep.any():
            return b""
        return bytes(arr[keep].tobytes())

    def _select_small(self, chunk: bytes, exchange: Exchange | None) -> bytes:
        # per cell over masks compiled at subscription time (fastpath: in C where compiled): for a few
        # cells, NumPy's per-call cost (one scalar table lookup costs as much as a cell's whole decision)
        # and per-read dictionary work were most of the relay's instructions per read
        base = self._base.get(exchange)
        if base is None:  # an exchange code this build does not name
            base = _ALWAYS_BITS | self.all_symbols.get(0, 0) | self.all_symbols.get(int(exchange or 0), 0)
        return select_cells(chunk, base, self.by_symbol, self._any_symbol_mask, _SYMBOL_KEYED_BITS)


def _member(keys: npt.NDArray[np.uint32], sorted_ids: npt.NDArray[np.uint32]) -> npt.NDArray[np.bool_]:
    """``np.isin(keys, sorted_ids)`` for a sorted handful of ids: a binary search per key. np.isin's own
    set-up (dtype range checks, its choice of method) costs ~10 µs a call, more than the whole search
    for a read of up to a few thousand cells, and it runs once per filtering consumer per read."""
    idx = np.searchsorted(sorted_ids, keys)
    np.minimum(idx, sorted_ids.size - 1, out=idx)
    return np.asarray(sorted_ids[idx] == keys)


def _lut(mask: int) -> npt.NDArray[np.bool_]:
    lut = np.zeros(256, dtype=bool)
    for t in range(32):
        if mask >> t & 1:
            lut[t] = True
    return lut
