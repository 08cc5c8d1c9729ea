"""Relay cells to writer rows: trades, quotes and book levels as whole NumPy columns, the rare
frames (instruments, feeds, status, gaps) one by one as documents. No I/O.

Values stay the wire's scaled integers; each row gets its instrument's scales from the latest
instrument frame (the relay sends every instrument first on connect). A data row whose
instrument is unknown cannot be given an exact value: it is dropped, counted, and recorded as a gap.
"""

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alphapulse.protocol import (
    CELL_BYTES,
    COUNT_UNKNOWN,
    Feed,
    FrameType,
    Gap,
    Instrument,
    Status,
    bulk,
    decode,
)
from alphapulse.protocol.wire import FLAG_REPLAY, TradeFlag
from alphapulse.store.rows import BOOK_DTYPE, QUOTE_DTYPE, TRADE_DTYPE, Rows

__all__ = ("Converted", "FrameConverter")

_SIDE_BITS = 0x03
_DATA_TYPES = (FrameType.TRADE, FrameType.QUOTE, FrameType.BOOK)
_RARE_TYPES = (FrameType.INSTRUMENT, FrameType.FEED, FrameType.STATUS, FrameType.GAP)
# Gap reasons the relay raises itself; the others come from the collector, through the relay.
_RELAY_REASONS = {"SLOW_CONSUMER", "FEED_LOST", "SEQUENCE"}


@dataclass(slots=True)
class Converted:
    trades: Rows
    quotes: Rows
    book: Rows
    documents: list[dict[str, Any]] = field(default_factory=list)
    unknown_instrument_rows: int = 0


class FrameConverter:
    """Stateful across buffers: it remembers instruments (for scales) and feeds (for names)."""

    def __init__(self) -> None:
        self._scales: dict[int, tuple[int, int]] = {}
        self._ids = np.zeros(0, dtype=np.int64)
        self._pscale = np.zeros(0, dtype=np.int16)
        self._qscale = np.zeros(0, dtype=np.int16)
        self.feeds: dict[int, tuple[str, str]] = {}  # feed_id -> (name, exchange)

    def convert(self, buffer: bytes) -> Converted:
        """``buffer`` holds whole frames (as the relay client delivers them)."""
        view = bulk.cells(buffer)
        types = view["type"]
        docs: list[dict[str, Any]] = []
        rare = np.flatnonzero(np.isin(types, _RARE_TYPES) & (view["part"] == 0))
        for i in rare:
            docs.extend(self._document(decode(buffer, int(i) * CELL_BYTES)))
        out = Converted(
            trades=self._trades(buffer, types),
            quotes=self._quotes(buffer, types),
            book=self._book(view, types),
            documents=docs,
        )
        return self._drop_unknown(out)

    # -- the rare frames -------------------------------------------------------------------

    def _document(self, frame: object) -> list[dict[str, Any]]:
        match frame:
            case Instrument():
                self._set_scales(frame.symbol_id, frame.price_scale, frame.qty_scale)
                return [
                    {
                        "table": "instruments", "instrument_id": frame.symbol_id,
                        "exchange": frame.exchange.name.lower(), "symbol": frame.symbol,
                        "price_scale": frame.price_scale, "qty_scale": frame.qty_scale,
                    }
                ]  # fmt: skip
            case Feed():
                self.feeds[frame.feed_id] = (frame.name, frame.exchange.name.lower())
                return []
            case Status():
                name, exchange = self.feeds.get(frame.feed_id, (f"feed-{frame.feed_id:08x}", ""))
                return [
                    {
                        "table": "feed_events", "feed": name, "exchange": exchange,
                        "kind": frame.state.name.lower(), "ts_ns": frame.ts_ns,
                        "detail": {"reconnects": frame.reconnects, "detail": frame.detail},
                    }
                ]  # fmt: skip
            case Gap():
                name, exchange = self.feeds.get(frame.feed_id, ("", ""))
                if frame.feed_id and not name:
                    name = f"feed-{frame.feed_id:08x}"
                return [
                    {
                        "table": "gaps",
                        "source": "relay" if frame.reason.name in _RELAY_REASONS else "collector",
                        "feed": name, "exchange": exchange, "reason": frame.reason.name.lower(),
                        "seq_from": frame.first,
                        "missed": None if frame.count == COUNT_UNKNOWN else frame.count,
                        "detected_ns": frame.ts_ns,
                        "detail": {"symbol_id": frame.symbol_id} if frame.symbol_id else {},
                    }
                ]  # fmt: skip
        return []

    def _set_scales(self, sid: int, price_scale: int, qty_scale: int) -> None:
        if self._scales.get(sid) == (price_scale, qty_scale):
            return
        self._scales[sid] = (price_scale, qty_scale)
        ids = sorted(self._scales)
        self._ids = np.array(ids, dtype=np.int64)
        self._pscale = np.array([self._scales[i][0] for i in ids], dtype=np.int16)
        self._qscale = np.array([self._scales[i][1] for i in ids], dtype=np.int16)

    # -- the data frames, as columns -------------------------------------------------------

    def _trades(self, buffer: bytes, types: np.ndarray) -> Rows:
        if not (types == FrameType.TRADE).any():
            return np.zeros(0, dtype=TRADE_DTYPE)
        src = bulk.trades(buffer)
        rows = np.empty(len(src), dtype=TRADE_DTYPE)
        rows["instrument_id"] = src["symbol_id"]
        rows["trade_id"] = bulk.trade_ids(src).astype(np.int64)
        rows["seq"] = src["seq"]
        rows["ts_exchange_ns"] = src["ts_exchange_ns"]
        rows["ts_recv_ns"] = src["ts_recv_ns"]
        rows["price_raw"] = src["price"]
        rows["qty_raw"] = src["qty"]
        rows["side"] = src["flags"] & _SIDE_BITS
        return rows

    def _quotes(self, buffer: bytes, types: np.ndarray) -> Rows:
        if not (types == FrameType.QUOTE).any():
            return np.zeros(0, dtype=QUOTE_DTYPE)
        pairs = bulk.quotes(buffer)
        bid, ask = pairs[:, 0], pairs[:, 1]
        rows = np.empty(len(pairs), dtype=QUOTE_DTYPE)
        rows["instrument_id"] = bid["symbol_id"]
        rows["seq"] = bid["seq"]
        rows["ts_exchange_ns"] = bid["ts_exchange_ns"]
        rows["ts_recv_ns"] = bid["ts_recv_ns"]
        rows["bid_price_raw"] = bid["price"]
        rows["bid_qty_raw"] = bid["qty"]
        rows["ask_price_raw"] = ask["price"]
        rows["ask_qty_raw"] = ask["qty"]
        return rows

    def _book(self, view: np.ndarray, types: np.ndarray) -> Rows:
        mask = types == FrameType.BOOK
        if not mask.any():
            return np.zeros(0, dtype=BOOK_DTYPE)
        src = view[mask].view(bulk.BOOK_DTYPE)
        flags = src["flags"] & np.uint8(0xFF & ~FLAG_REPLAY)
        rows = np.empty(len(src), dtype=BOOK_DTYPE)
        rows["instrument_id"] = src["symbol_id"]
        rows["seq"] = src["seq"]
        rows["ts_exchange_ns"] = src["ts_exchange_ns"]
        rows["ts_recv_ns"] = src["ts_recv_ns"]
        rows["price_raw"] = src["price"]
        rows["qty_raw"] = src["qty"]
        rows["side"] = flags & _SIDE_BITS
        rows["flags"] = np.where(flags & TradeFlag.BOOK_SNAPSHOT, 1, 0) | np.where(flags & TradeFlag.BOOK_LAST, 2, 0)
        return rows

    def _drop_unknown(self, out: Converted) -> Converted:
        for name in ("trades", "quotes", "book"):
            rows: Rows = getattr(out, name)
            if len(rows) == 0:
                continue
            sids = rows["instrument_id"]
            idx = np.searchsorted(self._ids, sids)
            idx_c = np.minimum(idx, max(len(self._ids) - 1, 0))
            known = (idx < len(self._ids)) & (self._ids[idx_c] == sids) if len(self._ids) else np.zeros(len(rows), bool)
            if not known.all():
                out.unknown_instrument_rows += int((~known).sum())
                rows, idx_c = rows[known], idx_c[known]
            rows["price_scale"] = self._pscale[idx_c]
            rows["qty_scale"] = self._qscale[idx_c]
            setattr(out, name, rows)
        return out
