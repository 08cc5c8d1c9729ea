"""Deterministic synthetic market data for tests and benchmarks (no exchange needed)."""

import numpy as np

from alphapulse.store.rows import BOOK_DTYPE, QUOTE_DTYPE, TRADE_DTYPE, Rows, Side

__all__ = ("INSTRUMENTS", "book_rows", "instrument_documents", "quote_rows", "trade_rows")

# (instrument_id, exchange, symbol, price_scale, qty_scale)
INSTRUMENTS: tuple[tuple[int, str, str, int, int], ...] = (
    (0x1001, "kraken", "BTC-USD", 1, 8),
    (0x1002, "coinbase", "ETH-USD", 2, 8),
    (0x1003, "binance", "SOL-USDT", 4, 3),
)
_START_NS = 1_764_028_800_000_000_000  # 2025-11-25T00:00:00Z


def instrument_documents() -> list[dict[str, object]]:
    return [
        {
            "table": "instruments",
            "instrument_id": i,
            "exchange": e,
            "symbol": s,
            "price_scale": ps,
            "qty_scale": qs,
        }
        for i, e, s, ps, qs in INSTRUMENTS
    ]


def trade_rows(
    n: int, *, start: int = 0, seed: int = 7, start_ns: int = _START_NS, spacing_ns: int = 1_000_000
) -> Rows:
    """``n`` trades numbered from ``start`` (trade ids and seqs are unique per ``start + i``)."""
    rng = np.random.default_rng(seed + start)
    idx = np.arange(start, start + n, dtype=np.int64)
    rows = np.zeros(n, dtype=TRADE_DTYPE)
    which = idx % len(INSTRUMENTS)
    ids = np.array([i[0] for i in INSTRUMENTS], dtype=np.int64)
    pscale = np.array([i[3] for i in INSTRUMENTS], dtype=np.int16)
    qscale = np.array([i[4] for i in INSTRUMENTS], dtype=np.int16)
    base = np.array([600_000, 300_000, 1_500_000], dtype=np.int64)  # 60000.0, 3000.00, 150.0000
    rows["instrument_id"] = ids[which]
    rows["trade_id"] = idx + 1
    rows["seq"] = idx
    rows["ts_exchange_ns"] = start_ns + idx * spacing_ns + rng.integers(0, 999, n)
    rows["ts_recv_ns"] = rows["ts_exchange_ns"] + 150_000 + rng.integers(0, 50_000, n)
    rows["price_raw"] = base[which] + rng.integers(-5_000, 5_000, n)
    rows["qty_raw"] = rng.integers(1, 10**9, n)
    rows["side"] = np.where(rng.random(n) < 0.5, Side.BUY, Side.SELL)
    rows["price_scale"] = pscale[which]
    rows["qty_scale"] = qscale[which]
    return rows


def quote_rows(n: int, *, start: int = 0, seed: int = 11, start_ns: int = _START_NS) -> Rows:
    rng = np.random.default_rng(seed + start)
    idx = np.arange(start, start + n, dtype=np.int64)
    rows = np.zeros(n, dtype=QUOTE_DTYPE)
    which = idx % len(INSTRUMENTS)
    rows["instrument_id"] = np.array([i[0] for i in INSTRUMENTS], dtype=np.int64)[which]
    rows["seq"] = idx
    rows["ts_exchange_ns"] = start_ns + idx * 500_000
    rows["ts_recv_ns"] = rows["ts_exchange_ns"] + 100_000 + rng.integers(0, 9_000, n)
    mid = np.array([600_000, 300_000, 1_500_000], dtype=np.int64)[which] + rng.integers(-100, 100, n)
    rows["bid_price_raw"] = mid - 1
    rows["ask_price_raw"] = mid + 1 + rng.integers(0, 3, n)
    rows["bid_qty_raw"] = rng.integers(1, 10**8, n)
    rows["ask_qty_raw"] = rng.integers(1, 10**8, n)
    rows["price_scale"] = np.array([i[3] for i in INSTRUMENTS], dtype=np.int16)[which]
    rows["qty_scale"] = np.array([i[4] for i in INSTRUMENTS], dtype=np.int16)[which]
    return rows


def book_rows(n: int, *, start: int = 0, seed: int = 13, start_ns: int = _START_NS) -> Rows:
    rng = np.random.default_rng(seed + start)
    idx = np.arange(start, start + n, dtype=np.int64)
    rows = np.zeros(n, dtype=BOOK_DTYPE)
    which = idx % len(INSTRUMENTS)
    rows["instrument_id"] = np.array([i[0] for i in INSTRUMENTS], dtype=np.int64)[which]
    rows["seq"] = idx
    rows["ts_exchange_ns"] = start_ns + idx * 250_000
    rows["ts_recv_ns"] = rows["ts_exchange_ns"] + 90_000
    rows["side"] = np.where(idx % 2 == 0, Side.BUY, Side.SELL)
    rows["price_raw"] = np.array([600_000, 300_000, 1_500_000], dtype=np.int64)[which] + rng.integers(-50, 50, n)
    rows["qty_raw"] = np.where(rng.random(n) < 0.1, 0, rng.integers(1, 10**8, n))
    rows["flags"] = np.where(idx % 50 == 0, 1, 0)
    rows["price_scale"] = np.array([i[3] for i in INSTRUMENTS], dtype=np.int16)[which]
    rows["qty_scale"] = np.array([i[4] for i in INSTRUMENTS], dtype=np.int16)[which]
    return rows
