"""The writer's side of RESUME: where it is in each feed session, and asking for what it missed.

For every feed session (feed id + epoch) the writer keeps a **mark**: the first seq of that
session it does not have yet (every cell before the mark is in its spool, or is recorded as a gap).
The marks are saved next to the spool (``resume.json``) after every spool flush, so after a
``kill -9`` they never claim more than the spool holds; they may claim less (the last flush
interval), which only makes the next resume overlap, and overlaps are dropped by the tables'
natural keys.

On every connection to the relay the writer sends ``Control(RESUME, feed, epoch, from=mark)``
for each session it knows, and ``from=0`` for each session it first hears of in the relay's hello
(a first start, a collector restarted while the writer was away). The collector answers with
REPLAY pieces from its ring and a REPLAY_END naming its next live seq; what the ring no longer
held (or a session that no longer exists) becomes one explicit gap row (``replay_unavailable``).

While a resume is open the mark stays where it was: live cells of the session arrive first (the
relay forwards them from the moment we connect), the replayed ones after. Once REPLAY_END arrives,
the replayed range and the live cells since the connection are contiguous (the collector answers
up to what it had sent before our request, and everything it sent afterwards reached us live), so
the mark jumps to the last live cell + 1.

Which feed a cell belongs to: feed-level frames carry the feed id; market data carries a symbol
id, attributed to a feed by the instrument frames, which follow their feed frame in every hello.
"""

import itertools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import orjson

from alphapulse.protocol import CELL_BYTES, Control, ControlOp, Feed, FrameType, Instrument, decode
from alphapulse.protocol.bulk import CELL_DTYPE
from alphapulse.protocol.wire import FLAG_REPLAY, SEQ_MOD

__all__ = ("PROGRESS_FILE", "ResumeTracker", "Session")

log = logging.getLogger(__name__)

PROGRESS_FILE: Final = "resume.json"
_HALF: Final = SEQ_MOD // 2
_CONTROL: Final = int(FrameType.CONTROL)
_STATE_BYTES: Final = bytes([FrameType.FEED, FrameType.INSTRUMENT])
# cells outside the feed's numbering (gaps the relay or a feed socket makes carry seq 0) or not live
_UNNUMBERED = np.zeros(256, dtype=bool)
_UNNUMBERED[[FrameType.GAP, FrameType.CONTROL]] = True


def _after(a: int, b: int) -> bool:
    """``a`` is later than ``b`` in 32-bit sequence arithmetic."""
    return 0 < (a - b) % SEQ_MOD < _HALF


@dataclass(slots=True)
class Session:
    feed_id: int
    epoch_ns: int
    name: str = ""
    exchange: str = ""
    mark: int = 0  # the first seq of this session not yet held
    request_id: int | None = None  # the open RESUME, if any
    asked_from: int = 0
    live_first: int | None = None  # first and last live seq seen since the RESUME was sent
    live_last: int | None = None
    replay_first: int | None = None  # first seq of the first REPLAY piece of the answer

    def saved(self) -> dict[str, Any]:
        # while a resume is open, only what was held when it was asked for is certain
        mark = self.asked_from if self.request_id is not None else self.mark
        return {
            "feed_id": self.feed_id,
            "epoch_ns": self.epoch_ns,
            "name": self.name,
            "exchange": self.exchange,
            "mark": mark,
        }


class ResumeTracker:
    """Stateful across buffers, like the converter; ``observe`` every buffer the relay client delivers."""

    def __init__(self, path: Path, *, now_ns: Callable[[], int]) -> None:
        self.path = path
        self.now_ns = now_ns
        self.send: Callable[[Control], None] = lambda _c: None  # the relay client's send, set by the owner
        self.sessions: dict[int, Session] = {}  # feed id -> its current session
        self.requests: dict[int, Session] = {}  # open RESUME request id -> session
        self.resumed = 0  # RESUME answers completed (tests, logs)
        self.loaded = False  # progress was found on disk at start
        self._ids = itertools.count(1)
        self._symbol_feed: dict[int, int] = {}
        self._keys = np.zeros(0, dtype=np.uint32)
        self._key_feed = np.zeros(0, dtype=np.int64)
        self._last_feed = 0  # the feed frame last seen: the instruments that follow are its
        self._piece_left = 0  # cells of the REPLAY piece being read
        self._dirty = False
        self._load()
        self._dirty = not self.loaded  # the first flush writes the file: this spool has a history now

    # -- persistence --------------------------------------------------------------------------

    def _load(self) -> None:
        try:
            doc = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return
        except (OSError, orjson.JSONDecodeError) as e:
            log.error(
                "resume progress unreadable; starting without it", extra={"path": str(self.path), "error": str(e)}
            )
            return
        for s in doc.get("sessions", []):
            sess = Session(int(s["feed_id"]), int(s["epoch_ns"]), str(s["name"]), str(s["exchange"]), int(s["mark"]))
            self.sessions[sess.feed_id] = sess
            self._index(sess.feed_id, sess.feed_id)
        self.loaded = True

    def save(self) -> None:
        """Write the marks (after the spool took the rows they cover); a no-op when nothing changed."""
        if not self._dirty:
            return
        doc = {"version": 1, "sessions": [s.saved() for s in self.sessions.values()]}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(doc))
        os.replace(tmp, self.path)  # atomic: a kill -9 leaves the old marks or the new ones
        self._dirty = False

    # -- the relay connection -------------------------------------------------------------------

    def on_connect(self) -> list[Control]:
        """A new relay connection: every open answer is void; ask again for every known session."""
        self.requests.clear()
        self._piece_left = 0
        return [self._request(sess, sess.mark) for sess in self.sessions.values()]

    def _request(self, sess: Session, from_seq: int) -> Control:
        rid = next(self._ids) % SEQ_MOD or next(self._ids)
        if sess.request_id is None:
            sess.asked_from = from_seq
        sess.request_id = rid
        sess.live_first = sess.live_last = sess.replay_first = None
        self.requests[rid] = sess
        self._dirty = True
        return Control(
            ControlOp.RESUME,
            sess.feed_id,
            request_id=rid,
            ts_ns=self.now_ns(),
            from_seq=sess.asked_from,
            epoch_ns=sess.epoch_ns,
        )

    # -- the cells ------------------------------------------------------------------------------

    def observe(self, data: bytes) -> list[dict[str, Any]]:
        """Account for one buffer of whole frames; returns gap documents for what cannot be recovered."""
        docs: list[dict[str, Any]] = []
        n = len(data) // CELL_BYTES
        pos = 0
        while pos < n:
            if self._piece_left:  # replayed cells: the REPLAY header already said which they are
                k = min(self._piece_left, n - pos)
                self._piece_left -= k
                pos += k
                continue
            rest = data[pos * CELL_BYTES :]
            at = rest[1::CELL_BYTES].find(_CONTROL)
            end = n if at < 0 else pos + at
            if end > pos:
                self._live(data[pos * CELL_BYTES : end * CELL_BYTES], docs)
            if at < 0:
                break
            ctl = decode(data, end * CELL_BYTES)
            pos = end + 1
            if isinstance(ctl, Control):
                self._answer(ctl, docs)
        return docs

    def _live(self, seg: bytes, docs: list[dict[str, Any]]) -> None:
        types = seg[1::CELL_BYTES]
        if types.translate(None, _STATE_BYTES) == types:
            self._marks(seg)
            return
        # feed and instrument frames change the attribution: take them in order
        start = 0
        for i, t in enumerate(types):
            if t not in _STATE_BYTES or seg[i * CELL_BYTES + 3] != 0:
                continue
            if i > start:
                self._marks(seg[start * CELL_BYTES : i * CELL_BYTES])
            frame = decode(seg, i * CELL_BYTES)
            if isinstance(frame, Feed):
                self._on_feed(frame, docs)
            elif isinstance(frame, Instrument):
                self._on_instrument(frame)
            start = i
        self._marks(seg[start * CELL_BYTES :])

    def _marks(self, seg: bytes) -> None:
        """Advance each session's mark to the last live numbered cell it has in ``seg``."""
        if not seg or not len(self._keys):
            return
        arr = np.frombuffer(seg, dtype=CELL_DTYPE)
        keys = arr["key"]
        idx = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
        feed = np.where(self._keys[idx] == keys, self._key_feed[idx], 0)
        feed[(arr["flags"] & FLAG_REPLAY).astype(bool) | _UNNUMBERED[arr["type"]]] = 0
        if not feed.any():
            return
        seqs = arr["seq"]
        for fid in np.unique(feed[feed != 0]).tolist():
            sess = self.sessions.get(fid)
            if sess is None:
                continue
            hits = np.flatnonzero(feed == fid)
            last = int(seqs[hits[-1]])
            if sess.request_id is None:
                sess.mark = (last + 1) % SEQ_MOD
            else:
                if sess.live_first is None:
                    sess.live_first = int(seqs[hits[0]])
                sess.live_last = last
            self._dirty = True

    def _on_feed(self, frame: Feed, docs: list[dict[str, Any]]) -> None:
        self._last_feed = frame.feed_id
        name, exchange = frame.name, frame.exchange.name.lower()
        cur = self.sessions.get(frame.feed_id)
        if cur is not None and cur.epoch_ns == frame.epoch_ns:
            cur.name, cur.exchange = name, exchange
            return
        if cur is not None and cur.request_id is not None:
            # The collector restarted while we were asking its old session: that session is gone.
            self.requests.pop(cur.request_id, None)
            docs.append(self._gap(cur, cur.asked_from, cur.live_first, "the collector restarted; its ring is gone"))
        sess = Session(frame.feed_id, frame.epoch_ns, name, exchange)
        self.sessions[frame.feed_id] = sess
        self._index(frame.feed_id, frame.feed_id)
        self._dirty = True
        if frame.replay:
            # a session we have not followed: everything from its start is what we missed
            self.send(self._request(sess, 0))
        else:
            sess.mark = frame.seq  # its first live frame: we follow it from here

    def _on_instrument(self, frame: Instrument) -> None:
        exchange = frame.exchange.name.lower()
        owner = self.sessions.get(self._last_feed)
        if owner is None or owner.exchange != exchange:
            same = [s for s in self.sessions.values() if s.exchange == exchange]
            owner = same[0] if len(same) == 1 else None
        if owner is not None and self._symbol_feed.get(frame.symbol_id) != owner.feed_id:
            self._index(frame.symbol_id, owner.feed_id)

    def _index(self, key: int, fid: int) -> None:
        self._symbol_feed[key] = fid
        keys = sorted(self._symbol_feed)
        self._keys = np.array(keys, dtype=np.uint32)
        self._key_feed = np.array([self._symbol_feed[k] for k in keys], dtype=np.int64)

    def _answer(self, ctl: Control, docs: list[dict[str, Any]]) -> None:
        if ctl.op == ControlOp.REPLAY:
            sess = self.requests.get(ctl.request_id)
            self._piece_left = ctl.count
            if sess is not None and sess.replay_first is None:
                sess.replay_first = ctl.from_seq
            return
        if ctl.op != ControlOp.REPLAY_END:
            return
        done = self.requests.pop(ctl.request_id, None)
        if done is None:
            return
        sess = done
        sess.request_id = None
        self.resumed += 1
        self._dirty = True
        if ctl.epoch_ns != sess.epoch_ns:
            docs.append(self._gap(sess, sess.asked_from, sess.live_first, "the collector restarted; its ring is gone"))
            if self.sessions.get(sess.feed_id) is sess:
                del self.sessions[sess.feed_id]  # the feed frame of its new session follows
            return
        held_from = sess.replay_first if sess.replay_first is not None else ctl.from_seq
        if _after(held_from, sess.asked_from):
            docs.append(self._gap(sess, sess.asked_from, held_from, "the collector's replay ring no longer held it"))
        if sess.live_first is not None and _after(sess.live_first, ctl.from_seq):
            docs.append(self._gap(sess, ctl.from_seq, sess.live_first, "neither replayed nor received live"))
        if sess.live_last is not None and not _after(ctl.from_seq, sess.live_last):
            sess.mark = (sess.live_last + 1) % SEQ_MOD
        else:
            sess.mark = ctl.from_seq
        log.info("resumed", extra={"feed": sess.name, "from_seq": sess.asked_from, "mark": sess.mark})

    def _gap(self, sess: Session, first: int, until: int | None, why: str) -> dict[str, Any]:
        missed = None if until is None else (until - first) % SEQ_MOD
        return {
            "table": "gaps", "source": "writer", "feed": sess.name, "exchange": sess.exchange,
            "reason": "replay_unavailable", "seq_from": first, "missed": missed, "detected_ns": self.now_ns(),
            "detail": {"epoch_ns": sess.epoch_ns, "why": why, "unit": "cells"},
        }  # fmt: skip
