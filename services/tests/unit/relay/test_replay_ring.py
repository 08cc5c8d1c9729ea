"""The collector's replay ring and the shape of a RESUME answer (pure: no sockets)."""

import numpy as np

from alphapulse.protocol import CELL_BYTES, Control, ControlOp, FrameDecoder, Trade, pack_trade
from alphapulse.protocol.bulk import CELL_DTYPE
from alphapulse.protocol.wire import FLAG_REPLAY, SEQ_MOD
from alphapulse.transport import REPLAY_PIECE_CELLS, ReplayRing, replay_pieces

SID = 0xBA59F470


def cells(first: int, n: int) -> bytes:
    return b"".join(pack_trade(SID, first + i, 1, (first + i) % SEQ_MOD, 1, 2, 3, 4) for i in range(n))


def seqs(chunks: list[bytes]) -> list[int]:
    data = b"".join(chunks)
    return np.frombuffer(data, dtype=CELL_DTYPE)["seq"].tolist()


def test_since_returns_the_cells_from_a_seq_to_the_head_cut_inside_a_chunk() -> None:
    ring = ReplayRing(1 << 20)
    ring.append(cells(0, 5))
    ring.append(cells(5, 5))
    assert ring.head_seq == 10 and ring.held_cells == 10
    first, chunks = ring.since(3)
    assert first == 3 and seqs(chunks) == list(range(3, 10))
    assert ring.since(10) == (10, [])  # nothing left to send: at the head


def test_the_bound_drops_whole_oldest_chunks_and_since_says_where_it_starts() -> None:
    chunk_bytes = 4 * CELL_BYTES
    ring = ReplayRing(3 * (chunk_bytes + 64))  # three chunks and their bookkeeping
    for k in range(5):
        ring.append(cells(4 * k, 4))
    assert ring.held_cells == 12 and ring.held_bytes <= ring.max_bytes
    first, chunks = ring.since(0)  # the range is no longer held: the answer starts later
    assert first == 8 and seqs(chunks) == list(range(8, 20))


def test_numbering_starts_at_the_first_published_seq_and_wraps() -> None:
    ring = ReplayRing(1 << 20)
    start = SEQ_MOD - 3
    ring.append(cells(start, 6))  # seqs 2**32-3 .. 2, wrapping
    assert ring.head_seq == 3
    first, chunks = ring.since(SEQ_MOD - 1)
    assert first == SEQ_MOD - 1 and seqs(chunks) == [SEQ_MOD - 1, 0, 1, 2]


def test_a_seq_ahead_of_the_head_returns_nothing() -> None:
    ring = ReplayRing(1 << 20)
    ring.append(cells(0, 4))
    assert ring.since(100) == (4, [])


def test_a_disabled_ring_holds_nothing_but_counts() -> None:
    ring = ReplayRing(0)
    ring.append(cells(0, 4))
    assert ring.head_seq == 4 and ring.held_cells == 0
    assert ring.since(0) == (4, [])


def test_append_keeps_the_published_object_without_copying() -> None:
    ring = ReplayRing(1 << 20)
    data = cells(0, 3)
    ring.append(data)
    _, chunks = ring.since(0)
    assert chunks[0] is data


def test_an_answer_is_bracketed_pieces_of_replay_flagged_cells() -> None:
    n = REPLAY_PIECE_CELLS + 10
    pieces = replay_pieces(7, 123, 9, 100, [cells(100, n)], now_ns=5)
    assert len(pieces) == 2
    frames = FrameDecoder().feed(b"".join(pieces))
    heads = [f for f in frames if isinstance(f, Control)]
    assert [(h.op, h.symbol_id, h.epoch_ns, h.request_id, h.from_seq, h.count) for h in heads] == [
        (ControlOp.REPLAY, 7, 123, 9, 100, REPLAY_PIECE_CELLS),
        (ControlOp.REPLAY, 7, 123, 9, 100 + REPLAY_PIECE_CELLS, 10),
    ]
    trades = [f for f in frames if isinstance(f, Trade)]
    assert [t.seq for t in trades] == list(range(100, 100 + n))
    assert all(t.replay for t in trades)
    # the header sits right in front of its cells
    assert frames[0] is heads[0] and frames[REPLAY_PIECE_CELLS + 1] is heads[1]
    raw = b"".join(pieces)
    arr = np.frombuffer(raw, dtype=CELL_DTYPE)
    data_cells = arr[arr["type"] != 11]
    assert len(data_cells) == n and (data_cells["flags"] & FLAG_REPLAY).all()
    assert replay_pieces(7, 123, 9, 100, [], now_ns=5) == []
