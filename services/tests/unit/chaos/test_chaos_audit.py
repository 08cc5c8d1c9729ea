"""The loss/duplicate audit and the soak's growth judgement (pure functions)."""

from alphapulse.chaos.audit import GapRow, TradeRow, audit_trades, percentile
from alphapulse.chaos.soak import MIB, GrowthBound, growth

S = 1_000_000_000


def _rows(ids: list[int], inst: int = 7, exchange: str = "binance") -> list[TradeRow]:
    return [TradeRow(exchange, inst, tid, tid * S) for tid in ids]


def test_contiguous_trades_lose_and_double_nothing() -> None:
    a = audit_trades(_rows([10, 11, 12, 13]), [])
    assert (a.trades, a.duplicates, a.lost_silently, a.lost_with_gap) == (4, 0, 0, 0)


def test_a_hole_without_a_gap_row_is_silent_loss() -> None:
    a = audit_trades(_rows([10, 11, 15]), [GapRow("binance", "exchange", 100 * S)])
    assert a.lost_silently == 3
    assert a.holes[0].first == 12 and a.holes[0].count == 3 and a.holes[0].explained_by is None


def test_a_hole_with_a_gap_row_of_that_venue_or_of_no_venue_is_explicit() -> None:
    assert audit_trades(_rows([10, 11, 15]), [GapRow("binance", "exchange", 13 * S)]).lost_with_gap == 3
    assert audit_trades(_rows([10, 11, 15]), [GapRow("", "writer_start", 12 * S)]).lost_with_gap == 3
    other_venue = audit_trades(_rows([10, 11, 15]), [GapRow("kraken", "reconnect", 13 * S)])
    assert other_venue.lost_silently == 3


def test_duplicates_and_a_lost_tail_are_counted() -> None:
    a = audit_trades(_rows([10, 11, 11, 12]), [], expected_last={7: 14})
    assert a.duplicates == 1
    assert a.lost_silently == 2  # 13 and 14 never arrived


def test_instruments_are_audited_separately() -> None:
    a = audit_trades([*_rows([1, 2, 3], inst=1), *_rows([100, 101], inst=2)], [])
    assert a.lost_silently == 0 and a.trades == 5


def test_percentile_nearest_rank() -> None:
    assert percentile([], 99) == 0.0
    assert percentile([float(i) for i in range(1, 101)], 99) == 99.0
    assert percentile([5.0], 50) == 5.0


def test_growth_ignores_warmup_and_judges_against_the_bound() -> None:
    flat = [(float(t), 100 * MIB + (50 * MIB if t < 10 else 0)) for t in range(100)]
    g = growth("relay", [(t, b) for t, b in flat], warmup_s=10, bound=GrowthBound(16, 0.05))
    assert g.growth_mib == 0 and g.within and g.start_mib == 100
    leak = [(float(t), 100 * MIB + t * MIB) for t in range(100)]
    g = growth("writer", leak, warmup_s=10, bound=GrowthBound(16, 0.05))
    assert not g.within and g.growth_mib > 60
    assert 3500 < g.slope_mib_per_h < 3700  # 1 MiB/s


def test_a_bounded_cache_the_process_fills_is_allowed_on_top_of_the_bound() -> None:
    filling = [(float(t), 100 * MIB + min(t, 60) * MIB) for t in range(100)]  # a 60 MiB ring filling up
    assert not growth("collector-x", filling, warmup_s=0, bound=GrowthBound(16, 0.05)).within
    g = growth("collector-x", filling, warmup_s=0, bound=GrowthBound(16, 0.05), allowance_bytes=64 * MIB * 1.25)
    assert g.within and g.limit_mib > 80
