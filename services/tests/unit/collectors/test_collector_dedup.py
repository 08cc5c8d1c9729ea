"""TradeDedup: every (symbol, trade id) once; admit() also says how many ids a trade skips."""

from alphapulse.collectors.dedup import TradeDedup


def test_admit_counts_the_ids_skipped_and_refuses_repeats() -> None:
    d = TradeDedup()
    assert d.admit(1, 100) == 0  # the first trade of a symbol skips nothing known
    assert d.admit(1, 101) == 0
    assert d.admit(1, 105) == 3  # 102..104 skipped
    assert d.admit(1, 105) == -1
    assert d.admit(1, 101) == -1
    assert d.admit(1, 103) == 0  # late, inside the hole: once
    assert d.admit(1, 103) == -1
    assert d.admit(2, 101) == 0  # symbols are independent


def test_admit_and_accept_agree() -> None:
    ids = [5, 6, 9, 7, 7, 12, 8, 11, 10, 10, 3, 13]
    a, b = TradeDedup(), TradeDedup()
    assert [a.admit(1, i) >= 0 for i in ids] == [b.accept(1, i) for i in ids]


def test_newest_first_batches_are_emitted_once() -> None:
    d = TradeDedup()
    assert d.accept_batch(1, [12, 11, 10]) == {10, 11, 12}
    assert d.accept_batch(1, [14, 13, 12]) == {13, 14}
