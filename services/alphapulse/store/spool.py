"""A bounded on-disk journal of row batches: the writer's memory that survives a database outage
and a ``kill -9``.

Every batch is appended here first (one ``write`` into the page cache: no database, no fsync on
the hot path) and the database side consumes it in order, moving a *committed* pointer forward
after each database commit. So:

* database down or slow: the backlog grows on disk up to ``max_bytes`` and drains when it returns;
* writer killed mid-batch: on restart the records after the pointer are written again, and the
  tables' natural keys (``ON CONFLICT DO NOTHING``) make the replay duplicate-free;
* a record torn by the kill (a partial last write) fails its length/CRC check and is cut off.

Layout: ``<dir>/<16-digit number>.seg`` segment files of records, and ``<dir>/committed`` holding
``"<segment> <offset>"`` (written to a temp file, then renamed: atomic). A record is a 32-byte
header (magic, kind, rows, payload length, append time in ns, CRC32 of the payload) and the payload.
Segments wholly before the pointer are deleted.

The pointer is not fsynced per commit: after a power loss it may point a little behind, which
only costs a duplicate-free replay. Segment data reaches disk at the OS's pace (``sync_every_s``
adds periodic fsyncs); a ``kill -9`` loses nothing already written into the page cache.
"""

import contextlib
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ("Position", "Record", "Spool")

_MAGIC: Final = 0x41505331  # "APS1"
_HEADER: Final = struct.Struct("<IHHIIqII")  # magic, kind, reserved, rows, payload_len, appended_ns, crc, reserved
HEADER_BYTES: Final = _HEADER.size
_SEG_DIGITS: Final = 16


@dataclass(frozen=True, order=True, slots=True)
class Position:
    segment: int
    offset: int


@dataclass(frozen=True, slots=True)
class Record:
    kind: int
    rows: int
    payload: bytes
    appended_ns: int
    start: Position
    end: Position  # where the next record begins: commit this to consume the record


class Spool:
    """Append-only segmented journal with one committed read pointer; single process, one loop."""

    def __init__(self, directory: str | os.PathLike[str], *, max_bytes: int, segment_bytes: int = 64 << 20) -> None:
        self.dir = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.dir.mkdir(parents=True, exist_ok=True)
        self.truncated_bytes = 0  # torn-tail bytes cut off when opening
        self.corrupt_bytes = 0  # bytes skipped because a record inside a segment failed its check
        self.corrupt_events: list[str] = []
        self.committed = self._read_pointer()
        segments = self._segments()
        for seg in segments:
            if seg < self.committed.segment:
                (self._seg_path(seg)).unlink(missing_ok=True)
        segments = [s for s in segments if s >= self.committed.segment]
        self._write_seg = segments[-1] if segments else self.committed.segment
        self._repair_tail(self._write_seg)
        self._fd = os.open(self._seg_path(self._write_seg), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._write_off = os.fstat(self._fd).st_size
        if self.committed.segment == self._write_seg and self.committed.offset > self._write_off:
            self.committed = Position(self._write_seg, self._write_off)  # the pointer outran a torn tail
        self.backlog_bytes = self._measure_backlog()

    # -- appending -------------------------------------------------------------------------

    def has_room(self, payload_bytes: int) -> bool:
        return self.backlog_bytes + HEADER_BYTES + payload_bytes <= self.max_bytes

    def append(self, kind: int, rows: int, payload: bytes, appended_ns: int) -> Position:
        """Append one record (one ``write`` call); the caller checks :meth:`has_room` first."""
        if self._write_off >= self.segment_bytes:
            self._roll()
        header = _HEADER.pack(_MAGIC, kind, 0, rows, len(payload), appended_ns, zlib.crc32(payload), 0)
        data = header + payload
        written = os.write(self._fd, data)
        if written != len(data):  # pragma: no cover - regular files write fully or raise
            raise OSError(f"short write to spool: {written} of {len(data)} bytes")
        self._write_off += len(data)
        self.backlog_bytes += len(data)
        return Position(self._write_seg, self._write_off)

    def sync(self) -> None:
        os.fsync(self._fd)

    def _roll(self) -> None:
        os.fsync(self._fd)
        os.close(self._fd)
        self._write_seg += 1
        self._fd = os.open(self._seg_path(self._write_seg), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._write_off = 0

    # -- consuming -------------------------------------------------------------------------

    def read(self, start: Position, max_rows: int, max_records: int = 10_000) -> list[Record]:
        """Records from ``start`` on, up to about ``max_rows`` rows (at least one record if any)."""
        out: list[Record] = []
        rows = 0
        for rec in self._iter(start):
            out.append(rec)
            rows += rec.rows
            if rows >= max_rows or len(out) >= max_records:
                break
        return out

    def end(self) -> Position:
        return Position(self._write_seg, self._write_off)

    def commit(self, pos: Position) -> None:
        """Everything before ``pos`` is in the database: move the pointer, free old segments."""
        if pos <= self.committed:
            return
        old = self.committed
        tmp = self.dir / "committed.tmp"
        tmp.write_text(f"{pos.segment} {pos.offset}\n")
        tmp.replace(self.dir / "committed")
        self.committed = pos
        for seg in range(old.segment, pos.segment):
            self._seg_path(seg).unlink(missing_ok=True)
        self.backlog_bytes = self._measure_backlog()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)

    # -- internals -------------------------------------------------------------------------

    def _iter(self, start: Position) -> Iterator[Record]:
        seg, off = start.segment, start.offset
        while seg <= self._write_seg:
            path = self._seg_path(seg)
            limit = self._write_off if seg == self._write_seg else (path.stat().st_size if path.exists() else 0)
            if off < limit:
                with open(path, "rb") as f:
                    f.seek(off)
                    while off < limit:
                        header = f.read(HEADER_BYTES)
                        if len(header) < HEADER_BYTES:
                            header = bytes(HEADER_BYTES)  # too short to be a record: fails below
                        magic, kind, _, rows, length, appended_ns, crc, _ = _HEADER.unpack(header)
                        payload = f.read(length) if magic == _MAGIC else b""
                        if magic != _MAGIC or len(payload) != length or zlib.crc32(payload) != crc:
                            # Not a torn tail (that is cut at open): damage inside the file. The
                            # rest of this segment cannot be framed again; skip it and say so.
                            self._skip_damage(seg, off, limit)
                            break
                        begin = Position(seg, off)
                        off += HEADER_BYTES + length
                        yield Record(kind, rows, payload, appended_ns, begin, Position(seg, off))
            if seg == self._write_seg:
                return
            seg, off = seg + 1, 0
            # The end of a full segment is the start of the next: consumers commit either.

    def _skip_damage(self, seg: int, off: int, limit: int) -> None:
        where = f"{self._seg_path(seg).name}:{off}"
        if where in self.corrupt_events:
            return
        self.corrupt_events.append(where)
        self.corrupt_bytes += limit - off
        if seg == self._write_seg:
            self._roll()  # never append after damage: new records go to a fresh segment

    def _measure_backlog(self) -> int:
        total = 0
        for seg in range(self.committed.segment, self._write_seg + 1):
            path = self._seg_path(seg)
            if seg == self._write_seg:
                total += self._write_off
            elif path.exists():
                total += path.stat().st_size
        return max(0, total - self.committed.offset)

    def _repair_tail(self, seg: int) -> None:
        """Cut a torn last record (a write interrupted by a crash) off the newest segment."""
        path = self._seg_path(seg)
        if not path.exists():
            return
        data = path.read_bytes()
        off = self.committed.offset if seg == self.committed.segment else 0
        good = off
        while good + HEADER_BYTES <= len(data):
            magic, _, _, _, length, _, crc, _ = _HEADER.unpack_from(data, good)
            end = good + HEADER_BYTES + length
            if magic != _MAGIC or end > len(data) or zlib.crc32(data[good + HEADER_BYTES : end]) != crc:
                break
            good = end
        if good < len(data):
            self.truncated_bytes = len(data) - good
            with open(path, "r+b") as f:
                f.truncate(good)

    def _read_pointer(self) -> Position:
        try:
            seg, off = (self.dir / "committed").read_text().split()
            return Position(int(seg), int(off))
        except (FileNotFoundError, ValueError):
            segments = self._segments()
            return Position(segments[0] if segments else 0, 0)

    def _segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.dir.glob("*.seg") if p.stem.isdigit())

    def _seg_path(self, seg: int) -> Path:
        return self.dir / f"{seg:0{_SEG_DIGITS}d}.seg"
