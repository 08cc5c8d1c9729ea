"""RESUME over real Unix sockets: a feed's replay ring, the relay routing the answer to the asker only."""

import asyncio
from pathlib import Path

from relay_harness import Producer, Recorder, eventually, running_relay

from alphapulse.protocol import Control, ControlOp, Exchange, Gap, Trade
from alphapulse.transport import REPLAY_PIECE_CELLS


def endpoint(sock_dir: Path) -> str:
    return f"unix:{sock_dir / 'relay.sock'}"


def controls(rec: Recorder, op: ControlOp) -> list[Control]:
    return [f for f in rec.frames if isinstance(f, Control) and f.op == op]


def replayed(rec: Recorder) -> list[int]:
    return [f.seq for f in rec.frames if isinstance(f, Trade) and f.replay]


def live(rec: Recorder) -> list[int]:
    return [f.seq for f in rec.frames if isinstance(f, Trade) and not f.replay]


def resume(p: Producer, from_seq: int, request_id: int = 77, epoch_ns: int | None = None) -> Control:
    epoch = p.epoch_ns if epoch_ns is None else epoch_ns
    return Control(ControlOp.RESUME, p.fid, request_id=request_id, from_seq=from_seq, epoch_ns=epoch)


async def test_the_answer_goes_to_the_asker_only_and_the_live_stream_stays_whole(sock_dir: Path) -> None:
    producer = Producer(sock_dir, "binance-r", Exchange.BINANCE, ["BTC-USDT"], replay_ring_bytes=8 << 20)
    await producer.start()
    async with running_relay(sock_dir) as relay:
        asker, other = Recorder(endpoint(sock_dir), "asker"), Recorder(endpoint(sock_dir), "other")
        asker.start()
        other.start()
        await eventually(lambda: len(relay.consumers) == 2 and bool(relay.inputs), what="connections")
        first = producer.seq
        producer.publish_trades(REPLAY_PIECE_CELLS + 500)  # more than one piece
        await eventually(lambda: len(live(other)) == REPLAY_PIECE_CELLS + 500, what="live trades")
        head = producer.seq
        asker.client.send(resume(producer, first + 100))
        producer.publish_trades(50)  # live data published while the answer is going out
        await eventually(lambda: bool(controls(asker, ControlOp.REPLAY_END)), what="the end of the answer")
        await eventually(lambda: len(live(other)) == REPLAY_PIECE_CELLS + 550, what="the later live trades")
        await eventually(lambda: len(live(asker)) == REPLAY_PIECE_CELLS + 550, what="the asker's live trades")

        (end,) = controls(asker, ControlOp.REPLAY_END)
        assert (end.symbol_id, end.request_id, end.epoch_ns) == (producer.fid, 77, producer.epoch_ns)
        # the answer reaches what the feed had sent when the request arrived (the 50 may be in or out)
        assert end.from_seq in (head, head + 50)
        pieces = controls(asker, ControlOp.REPLAY)
        assert len(pieces) == 2 and all(p.request_id == 77 for p in pieces)  # the asker's own id, not the relay's
        assert replayed(asker) == list(range(first + 100, end.from_seq))
        # every piece's cells follow its header at once, whatever live data interleaves between pieces
        for piece in pieces:
            i = asker.frames.index(piece)
            got = asker.frames[i + 1 : i + 1 + piece.count]
            assert [f.seq for f in got if isinstance(f, Trade) and f.replay] == list(
                range(piece.from_seq, piece.from_seq + piece.count)
            )
        # the other consumer never sees the asker's history, and nobody is told of a loss
        assert not [f for f in other.frames if isinstance(f, Control)] and not replayed(other)
        assert not asker.of(Gap) and not other.of(Gap)
        assert live(other) == list(range(first, producer.seq))
        await asker.stop()
        await other.stop()
    await producer.server.close()


async def test_a_range_the_ring_no_longer_holds_is_said_so(sock_dir: Path) -> None:
    producer = Producer(sock_dir, "binance-s", Exchange.BINANCE, ["BTC-USDT"], replay_ring_bytes=4096)
    await producer.start()
    async with running_relay(sock_dir) as relay:
        rec = Recorder(endpoint(sock_dir))
        rec.start()
        await eventually(lambda: len(relay.consumers) == 1 and bool(relay.inputs), what="connections")
        first = producer.seq
        for _ in range(20):
            producer.publish_trades(10)
            await asyncio.sleep(0)  # separate flushes: the ring drops whole ones
        head = producer.seq
        await eventually(lambda: len(live(rec)) == 200, what="live trades")
        rec.client.send(resume(producer, first))
        await eventually(lambda: bool(controls(rec, ControlOp.REPLAY_END)), what="the end of the answer")
        (piece,) = controls(rec, ControlOp.REPLAY)
        assert first < piece.from_seq < head  # the start is gone: the consumer knows exactly what
        assert replayed(rec) == list(range(piece.from_seq, head))
        assert producer.server.ring.held_bytes <= 4096
        await rec.stop()
    await producer.server.close()


async def test_another_session_gets_only_the_end_with_the_current_epoch(sock_dir: Path) -> None:
    producer = Producer(sock_dir, "binance-t", Exchange.BINANCE, ["BTC-USDT"], replay_ring_bytes=1 << 20)
    await producer.start()
    async with running_relay(sock_dir) as relay:
        rec = Recorder(endpoint(sock_dir))
        rec.start()
        await eventually(lambda: len(relay.consumers) == 1 and bool(relay.inputs), what="connections")
        producer.publish_trades(10)
        rec.client.send(resume(producer, 0, epoch_ns=producer.epoch_ns - 1))
        await eventually(lambda: bool(controls(rec, ControlOp.REPLAY_END)), what="the answer")
        (end,) = controls(rec, ControlOp.REPLAY_END)
        assert end.epoch_ns == producer.epoch_ns and not controls(rec, ControlOp.REPLAY) and not replayed(rec)
        await rec.stop()
    await producer.server.close()


async def test_a_resume_sent_before_the_feed_connects_waits_for_it(sock_dir: Path) -> None:
    """A relay restart: the consumer reconnects and asks before the relay has found the feed again."""
    producer = Producer(sock_dir, "binance-u", Exchange.BINANCE, ["BTC-USDT"], replay_ring_bytes=1 << 20)
    async with running_relay(sock_dir) as relay:
        rec = Recorder(endpoint(sock_dir))
        rec.start()
        await eventually(lambda: len(relay.consumers) == 1, what="the consumer")
        rec.client.send(resume(producer, producer.seq))
        await eventually(lambda: bool(relay.pending_resumes), what="the request held")
        await producer.start()
        first = producer.seq
        producer.publish_trades(30)  # nobody reads the feed yet: only its ring has these
        await eventually(lambda: bool(controls(rec, ControlOp.REPLAY_END)), what="the answer")
        assert replayed(rec) == list(range(first, first + 30))
        assert not relay.pending_resumes and not relay.resumes
        await rec.stop()
    await producer.server.close()


async def test_a_consumer_that_leaves_takes_its_waiting_requests_with_it(sock_dir: Path) -> None:
    producer = Producer(sock_dir, "binance-v", Exchange.BINANCE, ["BTC-USDT"], replay_ring_bytes=1 << 20)
    async with running_relay(sock_dir) as relay:
        rec = Recorder(endpoint(sock_dir))
        rec.start()
        await eventually(lambda: len(relay.consumers) == 1, what="the consumer")
        rec.client.send(resume(producer, 0))  # a feed that is not there
        await eventually(lambda: bool(relay.pending_resumes), what="the request held")
        await rec.stop()
        await eventually(lambda: not relay.consumers, what="the consumer gone")
        assert not relay.pending_resumes and not relay.resumes


async def test_a_repeated_resume_for_an_open_session_is_answered_once(sock_dir: Path) -> None:
    producer = Producer(sock_dir, "binance-w", Exchange.BINANCE, ["BTC-USDT"], replay_ring_bytes=1 << 20)
    async with running_relay(sock_dir) as relay:
        rec = Recorder(endpoint(sock_dir))
        rec.start()
        await eventually(lambda: len(relay.consumers) == 1, what="the consumer")
        for rid in (1, 2, 3):  # the feed is not there yet: all three would wait
            rec.client.send(resume(producer, producer.seq, request_id=rid))
        await eventually(lambda: bool(relay.pending_resumes), what="the request held")
        await asyncio.sleep(0.05)
        assert len(relay.resumes) == 1  # the repeats are ignored while the first is open
        await producer.start()
        producer.publish_trades(5)
        await eventually(lambda: bool(controls(rec, ControlOp.REPLAY_END)), what="the answer")
        await asyncio.sleep(0.05)
        assert [e.request_id for e in controls(rec, ControlOp.REPLAY_END)] == [1]
        assert producer.server.resumes == 1
        await rec.stop()
    await producer.server.close()
