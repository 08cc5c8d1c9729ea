"""The writer's RESUME bookkeeping (``store.resume``) on hand-made relay streams: no sockets."""

from pathlib import Path

from alphapulse.protocol import (
    Control,
    ControlOp,
    Exchange,
    Feed,
    Gap,
    GapReason,
    Instrument,
    encode,
    feed_id,
    pack_trade,
    symbol_id,
)
from alphapulse.protocol.wire import FLAG_REPLAY
from alphapulse.store.resume import PROGRESS_FILE, ResumeTracker

FID = feed_id("binance-spot")
SID = symbol_id(Exchange.BINANCE, "BTC-USDT")
EPOCH = 1_700_000_000_000_000_000


def hello(epoch: int = EPOCH) -> bytes:
    return encode(Feed(FID, 0, Exchange.BINANCE, "binance-spot", epoch, replay=True)) + encode(
        Instrument(SID, 2, Exchange.BINANCE, "BTC-USDT", 2, 8, 1, 1, "BTCUSDT", replay=True)
    )


def trades(first: int, n: int, replay: bool = False) -> bytes:
    flags = FLAG_REPLAY if replay else 0
    return b"".join(pack_trade(SID, s, 1, s, 1, 2, 3, 4, flags) for s in range(first, first + n))


def piece(rid: int, first: int, n: int) -> bytes:
    head = Control(ControlOp.REPLAY, FID, request_id=rid, seq=first, from_seq=first, epoch_ns=EPOCH, count=n)
    return encode(head) + trades(first, n, replay=True)


def end(rid: int, head: int, epoch: int = EPOCH) -> bytes:
    return encode(Control(ControlOp.REPLAY_END, FID, request_id=rid, from_seq=head, epoch_ns=epoch))


def tracker(tmp_path: Path) -> tuple[ResumeTracker, list[Control]]:
    t = ResumeTracker(tmp_path / PROGRESS_FILE, now_ns=lambda: 42)
    sent: list[Control] = []
    t.send = sent.append
    return t, sent


def test_a_session_first_heard_of_is_asked_from_its_start_and_the_mark_waits_for_the_answer(tmp_path: Path) -> None:
    t, sent = tracker(tmp_path)
    assert t.on_connect() == [] and not t.loaded
    assert t.observe(hello()) == []
    (ask,) = sent
    assert (ask.op, ask.symbol_id, ask.epoch_ns, ask.from_seq) == (ControlOp.RESUME, FID, EPOCH, 0)
    t.observe(trades(10, 5))  # live cells overtake the answer
    t.save()
    t2 = ResumeTracker(tmp_path / PROGRESS_FILE, now_ns=lambda: 0)
    assert t2.sessions[FID].mark == 0  # while the answer is open, only what was held counts
    # the answer arrives split across buffers, a piece cut in the middle
    data = piece(ask.request_id, 0, 12) + end(ask.request_id, 12)
    cut = 6 * 48  # the relay client delivers whole frames, in buffers of any size
    assert t.observe(data[:cut]) == [] and t.observe(data[cut:]) == []
    assert t.sessions[FID].mark == 15 and t.resumed == 1
    t.save()
    assert ResumeTracker(tmp_path / PROGRESS_FILE, now_ns=lambda: 0).sessions[FID].mark == 15


def test_what_the_ring_no_longer_held_becomes_one_exact_gap(tmp_path: Path) -> None:
    t, sent = tracker(tmp_path)
    t.observe(hello())
    rid = sent[0].request_id
    docs = t.observe(piece(rid, 4, 6) + end(rid, 10))
    assert [(d["reason"], d["seq_from"], d["missed"], d["feed"], d["exchange"]) for d in docs] == [
        ("replay_unavailable", 0, 4, "binance-spot", "binance")
    ]
    assert t.sessions[FID].mark == 10


def test_a_reconnection_asks_again_from_the_saved_mark(tmp_path: Path) -> None:
    t, sent = tracker(tmp_path)
    t.observe(hello())
    rid = sent[0].request_id
    t.observe(end(rid, 0) + trades(0, 7))  # nothing to replay; then live cells move the mark
    assert t.sessions[FID].mark == 7
    t.save()
    # a writer restarted after kill -9: the marks come from the file, the requests from on_connect
    t2, _ = tracker(tmp_path)
    assert t2.loaded
    (ask,) = t2.on_connect()
    assert (ask.op, ask.symbol_id, ask.epoch_ns, ask.from_seq) == (ControlOp.RESUME, FID, EPOCH, 7)
    t2.observe(hello() + trades(20, 3))  # the same session in the hello asks nothing more
    assert t2.observe(piece(ask.request_id, 7, 13) + end(ask.request_id, 20)) == []
    assert t2.sessions[FID].mark == 23


def test_a_session_gone_from_the_collector_is_an_explicit_gap(tmp_path: Path) -> None:
    t, sent = tracker(tmp_path)
    t.observe(hello())
    rid = sent[0].request_id
    t.observe(end(rid, 0) + trades(0, 7))
    t.save()
    t2, sent2 = tracker(tmp_path)
    (ask,) = t2.on_connect()
    # the collector restarted while we were away: the hello names its new session
    docs = t2.observe(hello(EPOCH + 1))
    assert [(d["reason"], d["seq_from"], d["missed"]) for d in docs] == [("replay_unavailable", 7, None)]
    (ask_new,) = sent2
    assert (ask_new.epoch_ns, ask_new.from_seq) == (EPOCH + 1, 0)
    assert t2.observe(end(ask.request_id, 99)) == []  # the old answer no longer counts


def test_an_end_naming_another_session_is_an_explicit_gap(tmp_path: Path) -> None:
    t, sent = tracker(tmp_path)
    t.observe(hello())
    rid = sent[0].request_id
    docs = t.observe(end(rid, 5, epoch=EPOCH + 1))
    assert [(d["reason"], d["seq_from"], d["missed"]) for d in docs] == [("replay_unavailable", 0, None)]
    assert FID not in t.sessions


def test_a_live_feed_frame_is_followed_without_asking(tmp_path: Path) -> None:
    t, sent = tracker(tmp_path)
    live_hello = encode(Feed(FID, 0, Exchange.BINANCE, "binance-spot", EPOCH)) + encode(
        Instrument(SID, 2, Exchange.BINANCE, "BTC-USDT", 2, 8, 1, 1, "BTCUSDT")
    )
    t.observe(live_hello + trades(4, 3))
    assert sent == [] and t.sessions[FID].mark == 7


def test_cells_outside_the_numbering_do_not_move_a_mark(tmp_path: Path) -> None:
    t, sent = tracker(tmp_path)
    t.observe(hello())
    t.observe(end(sent[0].request_id, 0) + trades(0, 3))
    relay_gap = encode(Gap(FID, 0, GapReason.SEQUENCE, 1, 0, 3, 2))  # relay gaps carry seq 0
    t.observe(relay_gap + trades(100, 0) + hello())  # replayed state re-sent: old numbers
    assert t.sessions[FID].mark == 3
