"""The spool: ordered records, a committed pointer that survives reopening, bounds, torn tails."""

from pathlib import Path

from alphapulse.store.spool import HEADER_BYTES, Position, Spool


def test_records_come_back_in_order_and_commit_frees_them(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    for i in range(5):
        spool.append(1, i + 1, bytes([i]) * (10 * (i + 1)), appended_ns=i)
    records = spool.read(spool.committed, max_rows=100)
    assert [(r.rows, r.payload, r.appended_ns) for r in records] == [
        (i + 1, bytes([i]) * (10 * (i + 1)), i) for i in range(5)
    ]
    assert spool.backlog_bytes == sum(HEADER_BYTES + 10 * (i + 1) for i in range(5))
    spool.commit(records[2].end)
    assert [r.rows for r in spool.read(spool.committed, 100)] == [4, 5]
    assert spool.backlog_bytes == 2 * HEADER_BYTES + 40 + 50


def test_reopening_resumes_after_the_committed_pointer(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    ends = [spool.append(1, 1, f"r{i}".encode(), i) for i in range(4)]
    spool.commit(ends[1])
    spool.close()
    again = Spool(tmp_path, max_bytes=1 << 20)
    assert [r.payload for r in again.read(again.committed, 100)] == [b"r2", b"r3"]


def test_read_stops_near_max_rows(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    for _ in range(10):
        spool.append(1, 1000, b"x", 0)
    assert len(spool.read(spool.committed, max_rows=2500)) == 3


def test_segments_roll_over_and_old_ones_are_deleted(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=256)
    for i in range(40):
        spool.append(1, 1, bytes(50), i)
    assert len(list(tmp_path.glob("*.seg"))) > 5
    records = spool.read(spool.committed, max_rows=1000)
    assert len(records) == 40
    spool.commit(records[-1].end)
    assert len(list(tmp_path.glob("*.seg"))) == 1
    assert spool.backlog_bytes == 0


def test_the_bound_is_the_uncommitted_backlog(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=3 * (HEADER_BYTES + 100))
    for _ in range(3):
        assert spool.has_room(100)
        spool.append(1, 1, bytes(100), 0)
    assert not spool.has_room(100)
    spool.commit(spool.read(spool.committed, 1)[0].end)
    assert spool.has_room(100)


def test_a_torn_last_record_is_cut_off_on_reopen(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.append(1, 1, b"complete", 0)
    spool.close()
    seg = next(tmp_path.glob("*.seg"))
    with open(seg, "ab") as f:
        f.write(b"APS1 half a header")  # a write the kill interrupted
    again = Spool(tmp_path, max_bytes=1 << 20)
    assert again.truncated_bytes == len(b"APS1 half a header")
    assert [r.payload for r in again.read(again.committed, 10)] == [b"complete"]
    again.append(1, 1, b"next", 1)
    assert [r.payload for r in again.read(again.committed, 10)] == [b"complete", b"next"]


def test_damage_inside_a_segment_is_skipped_counted_and_reported_once(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=64)
    for i in range(4):
        spool.append(1, 1, bytes([i]) * 60, i)
    spool.close()
    first = sorted(tmp_path.glob("*.seg"))[0]
    data = bytearray(first.read_bytes())
    data[HEADER_BYTES + 3] ^= 0xFF  # flip a payload byte: the CRC no longer matches
    first.write_bytes(bytes(data))
    again = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=64)
    records = again.read(Position(0, 0), 10)
    assert [r.payload[0] for r in records] == [1, 2, 3]
    assert again.corrupt_bytes == HEADER_BYTES + 60
    again.read(Position(0, 0), 10)
    assert len(again.corrupt_events) == 1
