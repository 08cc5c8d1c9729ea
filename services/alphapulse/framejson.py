"""Frames as JSON-ready dicts with exact decimal strings: what ``tap`` prints.

Keeps the instrument and feed tables it learns from the stream, so prices and quantities render
at each instrument's scale and ids render as names.
"""

from typing import Any

from alphapulse.protocol import (
    COUNT_UNKNOWN,
    BookLevel,
    Control,
    Feed,
    Frame,
    Gap,
    Heartbeat,
    Instrument,
    Quote,
    Side,
    SnapshotBegin,
    SnapshotEnd,
    Status,
    Trade,
    from_fixed,
)

__all__ = ("FrameRenderer",)

_SIDE = {Side.BUY: "buy", Side.SELL: "sell", Side.UNKNOWN: "unknown"}
_BOOK_SIDE = {Side.BUY: "bid", Side.SELL: "ask", Side.UNKNOWN: "unknown"}


class FrameRenderer:
    def __init__(self) -> None:
        self.instruments: dict[int, Instrument] = {}
        self.feeds: dict[int, Feed] = {}

    def _market(self, kind: str, symbol_id: int, seq: int, ts_ex: int, ts_recv: int) -> dict[str, Any]:
        inst = self.instruments.get(symbol_id)
        return {
            "type": kind,
            "exchange": inst.exchange.name.lower() if inst else None,
            "symbol": inst.symbol if inst else f"#{symbol_id}",
            "seq": seq,
            "ts_exchange_ns": ts_ex,
            "ts_recv_ns": ts_recv,
        }

    def _px(self, symbol_id: int, value: int) -> str:
        inst = self.instruments.get(symbol_id)
        return from_fixed(value, inst.price_scale) if inst else str(value)

    def _qty(self, symbol_id: int, value: int) -> str:
        inst = self.instruments.get(symbol_id)
        return from_fixed(value, inst.qty_scale) if inst else str(value)

    def _feed(self, kind: str, feed_id: int, seq: int, ts_ns: int) -> dict[str, Any]:
        feed = self.feeds.get(feed_id)
        return {
            "type": kind,
            "exchange": feed.exchange.name.lower() if feed else None,
            "feed": feed.name if feed else (f"#{feed_id}" if feed_id else None),
            "symbol": None,
            "seq": seq,
            "ts_exchange_ns": None,
            "ts_recv_ns": ts_ns,
        }

    def render(self, frame: Frame) -> dict[str, Any]:
        doc: dict[str, Any]
        match frame:
            case Trade():
                doc = self._market("trade", frame.symbol_id, frame.seq, frame.ts_exchange_ns, frame.ts_recv_ns)
                doc.update(
                    side=_SIDE[frame.side],
                    price=self._px(frame.symbol_id, frame.price),
                    qty=self._qty(frame.symbol_id, frame.qty),
                    trade_id=str(frame.trade_id),
                )
                if frame.snapshot:
                    doc["snapshot"] = True
            case Quote():
                doc = self._market("quote", frame.symbol_id, frame.seq, frame.ts_exchange_ns, frame.ts_recv_ns)
                sid = frame.symbol_id
                doc.update(
                    bid_price=self._px(sid, frame.bid_price),
                    bid_qty=self._qty(sid, frame.bid_qty),
                    ask_price=self._px(sid, frame.ask_price),
                    ask_qty=self._qty(sid, frame.ask_qty),
                )
            case BookLevel():
                doc = self._market("book", frame.symbol_id, frame.seq, frame.ts_exchange_ns, frame.ts_recv_ns)
                doc.update(
                    side=_BOOK_SIDE[frame.side],
                    price=self._px(frame.symbol_id, frame.price),
                    qty=self._qty(frame.symbol_id, frame.qty),
                    last=frame.last,
                    snapshot=frame.snapshot,
                )
            case SnapshotBegin() | SnapshotEnd():
                kind = "snapshot_begin" if isinstance(frame, SnapshotBegin) else "snapshot_end"
                doc = self._market(kind, frame.symbol_id, frame.seq, frame.ts_exchange_ns, frame.ts_recv_ns)
                doc.update(levels=frame.levels, request_id=frame.request_id)
            case Instrument():
                self.instruments[frame.symbol_id] = frame
                doc = self._market("instrument", frame.symbol_id, frame.seq, 0, 0)
                doc.update(
                    symbol_id=frame.symbol_id,
                    native_symbol=frame.native_symbol,
                    price_scale=frame.price_scale,
                    qty_scale=frame.qty_scale,
                    price_increment=from_fixed(frame.price_increment, frame.price_scale),
                    qty_increment=from_fixed(frame.qty_increment, frame.qty_scale),
                )
            case Feed():
                self.feeds[frame.feed_id] = frame
                doc = self._feed("feed", frame.feed_id, frame.seq, frame.epoch_ns)
                doc.update(feed_id=frame.feed_id, epoch_ns=frame.epoch_ns)
            case Status():
                doc = self._feed("status", frame.feed_id, frame.seq, frame.ts_ns)
                doc.update(state=frame.state.name.lower(), reconnects=frame.reconnects, detail=frame.detail)
            case Gap():
                doc = self._feed("gap", frame.feed_id, frame.seq, frame.ts_ns)
                inst = self.instruments.get(frame.symbol_id)
                doc.update(
                    reason=frame.reason.name.lower(),
                    symbol=inst.symbol if inst else None,
                    first=frame.first,
                    count=None if frame.count == COUNT_UNKNOWN else frame.count,
                )
            case Heartbeat():
                doc = self._feed("heartbeat", frame.feed_id, frame.seq, frame.ts_ns)
            case Control():
                doc = {"type": "control", "op": frame.op.name.lower(), "symbol_id": frame.symbol_id, "seq": frame.seq}
            case _:  # pragma: no cover - Frame is a closed union
                raise TypeError(f"not a frame: {frame!r}")
        if frame.replay:
            doc["replay"] = True
        return doc

    def line(self, frame: Frame) -> str:
        """One human-readable line."""
        doc = self.render(frame)
        head = f"{doc['type']:<14} {doc.get('exchange') or '-':<8} {doc.get('symbol') or doc.get('feed') or '-':<12}"
        rest = " ".join(
            f"{k}={v}" for k, v in doc.items() if k not in {"type", "exchange", "symbol", "feed"} and v is not None
        )
        return f"{head} {rest}"
