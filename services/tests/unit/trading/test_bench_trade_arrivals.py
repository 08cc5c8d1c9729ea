"""The arrivals file ``bench e2e``'s NautilusTrader strategy appends to while the node runs."""

from pathlib import Path

import numpy as np

from alphapulse.bench._trade_arrivals import COLUMNS, read_arrivals


def test_whole_rows_are_read_and_a_row_still_being_written_is_left_out(tmp_path: Path) -> None:
    path = tmp_path / "arrivals.bin"
    rows = np.array([[10, 1, 5, 7, 100], [20, 2, 15, 9, 101]], dtype="<i8")
    path.write_bytes(rows.tobytes() + rows[0, :2].tobytes())  # the reader caught an append halfway
    got = read_arrivals(path)
    assert list(got) == list(COLUMNS)
    assert got["t_strategy"].tolist() == [10, 20]
    assert got["trade_id"].tolist() == [100, 101]


def test_no_file_yet_reads_as_no_rows(tmp_path: Path) -> None:
    got = read_arrivals(tmp_path / "missing.bin")
    assert all(col.size == 0 for col in got.values())
