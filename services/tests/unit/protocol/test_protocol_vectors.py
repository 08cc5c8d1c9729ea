"""Known-answer vectors: every frame type, both directions, against bytes written by hand.

The vectors live in ``golden_frames.jsonl`` beside this file; their hex was written field by field
from the byte tables of ``docs/protocol.md``, so a change to the wire format fails here first.
"""

import json
import re
from enum import IntEnum
from pathlib import Path
from typing import Any

import pytest

from alphapulse.protocol import (
    CELL_BYTES,
    BookLevel,
    Control,
    ControlOp,
    Exchange,
    Feed,
    FeedState,
    Frame,
    FrameDecoder,
    FrameError,
    FrameType,
    Gap,
    GapReason,
    Heartbeat,
    Instrument,
    Quote,
    Side,
    SnapshotBegin,
    SnapshotEnd,
    Status,
    Trade,
    cells_of,
    decode,
    encode,
    pack_book,
    pack_quote,
    pack_trade,
)
from alphapulse.protocol.wire import FLAG_REPLAY, TradeFlag

GOLDEN = Path(__file__).with_name("golden_frames.jsonl")

FRAME_CLASSES: dict[str, type[Frame]] = {
    cls.__name__: cls
    for cls in (
        Trade,
        Quote,
        BookLevel,
        SnapshotBegin,
        SnapshotEnd,
        Instrument,
        Feed,
        Status,
        Gap,
        Heartbeat,
        Control,
    )
}
ENUM_FIELDS: dict[str, type[IntEnum]] = {
    "side": Side,
    "state": FeedState,
    "reason": GapReason,
    "op": ControlOp,
    "exchange": Exchange,
}
FRAME_TYPE_OF: dict[type[Frame], FrameType] = {
    Trade: FrameType.TRADE,
    Quote: FrameType.QUOTE,
    BookLevel: FrameType.BOOK,
    SnapshotBegin: FrameType.SNAPSHOT_BEGIN,
    SnapshotEnd: FrameType.SNAPSHOT_END,
    Instrument: FrameType.INSTRUMENT,
    Feed: FrameType.FEED,
    Status: FrameType.STATUS,
    Gap: FrameType.GAP,
    Heartbeat: FrameType.HEARTBEAT,
    Control: FrameType.CONTROL,
}


def parse_hex(text: str) -> bytes:
    """The golden notation: whitespace and '|' separate fields, 'XX*N' repeats byte XX N times."""
    expanded = re.sub(r"\b([0-9a-fA-F]{2})\*(\d+)", lambda m: m.group(1) * int(m.group(2)), text.replace("|", " "))
    return bytes.fromhex(expanded)


def _load() -> tuple[list[tuple[str, Frame, bytes]], list[tuple[str, bytes, str]]]:
    valid: dict[str, tuple[Frame, bytes]] = {}
    invalid: list[tuple[str, bytes, str]] = []
    for line in GOLDEN.read_text().splitlines():
        doc: dict[str, Any] = json.loads(line)
        if "comment" in doc:
            continue
        name = doc["name"]
        assert name not in valid, f"duplicate vector name {name}"
        if "frame" in doc:
            fields: dict[str, Any] = {k: ENUM_FIELDS[k][v] if k in ENUM_FIELDS else v for k, v in doc["fields"].items()}
            valid[name] = (FRAME_CLASSES[doc["frame"]](**fields), parse_hex(doc["hex"]))
        else:
            wire = bytearray(valid[doc["base"]][1])
            for offset, patch in doc.get("patch", {}).items():
                raw = bytes.fromhex(patch)
                wire[int(offset) : int(offset) + len(raw)] = raw
            if "truncate" in doc:
                del wire[doc["truncate"] :]
            invalid.append((name, bytes(wire), doc["error"]))
    return [(name, frame, wire) for name, (frame, wire) in valid.items()], invalid


VALID, INVALID = _load()


@pytest.mark.parametrize(("name", "frame", "wire"), VALID, ids=[v[0] for v in VALID])
def test_encode_matches_golden(name: str, frame: Frame, wire: bytes) -> None:
    assert encode(frame).hex(" ") == wire.hex(" ")


@pytest.mark.parametrize(("name", "frame", "wire"), VALID, ids=[v[0] for v in VALID])
def test_decode_matches_golden(name: str, frame: Frame, wire: bytes) -> None:
    assert decode(wire) == frame
    assert type(decode(wire)) is type(frame)


@pytest.mark.parametrize(("name", "frame", "wire"), VALID, ids=[v[0] for v in VALID])
def test_golden_size_type_and_every_cell_header(name: str, frame: Frame, wire: bytes) -> None:
    ftype = FRAME_TYPE_OF[type(frame)]
    assert len(wire) == cells_of(ftype) * CELL_BYTES
    seq = frame.seq
    for part in range(cells_of(ftype)):
        cell = wire[part * CELL_BYTES : (part + 1) * CELL_BYTES]
        assert cell[0] == 1
        assert cell[1] == ftype
        assert bool(cell[2] & FLAG_REPLAY) == frame.replay
        if ftype != FrameType.TRADE:
            assert cell[3] == part
        # cell n of a frame carries sequence number seq + n, wrapping at 2**32
        assert int.from_bytes(cell[8:12], "little") == (seq + part) % (1 << 32)


def test_every_frame_type_has_a_golden_vector() -> None:
    covered = {FRAME_TYPE_OF[type(frame)] for _, frame, _ in VALID}
    assert covered == set(FrameType)
    replayed = {FRAME_TYPE_OF[type(frame)] for _, frame, _ in VALID if frame.replay}
    assert replayed == set(FrameType)


@pytest.mark.parametrize(("name", "wire", "why"), INVALID, ids=[v[0] for v in INVALID])
def test_decode_refuses_invalid_golden(name: str, wire: bytes, why: str) -> None:
    with pytest.raises(FrameError):
        decode(wire)


@pytest.mark.parametrize(("name", "wire", "why"), INVALID, ids=[v[0] for v in INVALID])
def test_stream_decoder_refuses_or_waits_on_invalid_golden(name: str, wire: bytes, why: str) -> None:
    decoder = FrameDecoder()
    try:
        frames = decoder.feed(wire)
    except FrameError:
        return
    # only a frame cut short is not an error for a stream: it waits for the rest
    assert frames == []
    assert decoder.pending_bytes == len(wire)


def test_golden_stream_decodes_in_one_piece_and_byte_by_byte() -> None:
    stream = b"".join(wire for _, _, wire in VALID)
    frames = [frame for _, frame, _ in VALID]
    assert FrameDecoder().feed(stream) == frames
    decoder = FrameDecoder()
    one_by_one = [f for i in range(len(stream)) for f in decoder.feed(stream[i : i + 1])]
    assert one_by_one == frames
    assert decoder.pending_bytes == 0


def _golden(name: str) -> tuple[Frame, bytes]:
    return next((frame, wire) for n, frame, wire in VALID if n == name)


def test_fast_packers_write_the_golden_bytes() -> None:
    trade, trade_wire = _golden("trade_sell_snapshot_replay")
    assert isinstance(trade, Trade)
    flags = TradeFlag.SNAPSHOT | FLAG_REPLAY
    packed = pack_trade(
        trade.symbol_id,
        trade.seq,
        trade.side,
        trade.trade_id,
        trade.ts_exchange_ns,
        trade.ts_recv_ns,
        trade.price,
        trade.qty,
        flags,
    )
    assert packed == trade_wire
    quote, quote_wire = _golden("quote")
    assert isinstance(quote, Quote)
    packed = pack_quote(
        quote.symbol_id,
        quote.seq,
        quote.ts_exchange_ns,
        quote.ts_recv_ns,
        quote.bid_price,
        quote.bid_qty,
        quote.ask_price,
        quote.ask_qty,
    )
    assert packed == quote_wire
    book, book_wire = _golden("book_bid_last")
    assert isinstance(book, BookLevel)
    packed = pack_book(
        book.symbol_id,
        book.seq,
        book.side,
        book.ts_exchange_ns,
        book.ts_recv_ns,
        book.price,
        book.qty,
        TradeFlag.BOOK_LAST,
    )
    assert packed == book_wire


def test_encode_reduces_seq_modulo_2_32() -> None:
    """A producer may count past 2**32; the wire carries the low 32 bits (and decode returns those)."""
    frame, wire = _golden("heartbeat")
    assert isinstance(frame, Heartbeat)
    assert encode(Heartbeat(frame.feed_id, frame.seq + 5 * (1 << 32), frame.ts_ns)) == wire


@pytest.mark.parametrize(
    "frame",
    [
        Trade(1, 0, Side.BUY, 1 << 40, 0, 0, 0, 0),
        Trade(1, 0, Side.BUY, -1, 0, 0, 0, 0),
        Instrument(1, 0, Exchange.KRAKEN, "X" * 33, 0, 0, 1, 1, "X"),
        Instrument(1, 0, Exchange.KRAKEN, "BTC-USD", 0, 0, 1, 1, "X" * 17),
        Instrument(1, 0, Exchange.KRAKEN, "BTC-€", 0, 0, 1, 1, "X"),
        Feed(1, 0, Exchange.KRAKEN, "f" * 61, 0),
        Feed(1, 0, Exchange.KRAKEN, "flux-é", 0),
    ],
    ids=[
        "trade_id_41_bits",
        "trade_id_negative",
        "symbol_33",
        "native_17",
        "symbol_unicode",
        "name_61",
        "name_unicode",
    ],
)
def test_encode_refuses_what_the_layout_cannot_hold(frame: Frame) -> None:
    with pytest.raises(FrameError):
        encode(frame)


@pytest.mark.parametrize(
    "frame",
    [
        Trade(-1, 0, Side.BUY, 0, 0, 0, 0, 0),
        Trade(1, 0, Side.BUY, 0, 0, 0, 1 << 63, 0),
        Quote(1, 0, 0, 0, 0, 0, 0, -(1 << 63) - 1),
        BookLevel(1 << 32, 0, Side.SELL, 0, 0, 0, 0),
        SnapshotBegin(1, 0, -1, 0, 0),
        SnapshotEnd(1, 0, 0, 0, 0, request_id=1 << 64),
        Instrument(1, 0, Exchange.KRAKEN, "A", 256, 0, 0, 0, "A"),
        Feed(1 << 32, 0, Exchange.KRAKEN, "f", 0),
        Status(1, 0, FeedState.STALE, 0, reconnects=-1),
        Gap(1, 0, GapReason.SEQUENCE, 0, first=-1),
        Heartbeat(1, 0, 1 << 63),
        Control(ControlOp.RESET, type_mask=1 << 32),
    ],
    ids=lambda f: type(f).__name__,
)
def test_encode_refuses_fields_outside_their_width_with_frame_error(frame: Frame) -> None:
    """Regression: these raised struct.error, outside the protocol's exception tree."""
    with pytest.raises(FrameError, match="outside its wire width"):
        encode(frame)
