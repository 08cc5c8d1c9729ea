"""A small, seeded market session in the export layout: for tests, notebooks and trying backtests.

Two venues quote the same asset (a random walk with a lagging second venue, so cross-venue spreads
open and close) and print trades at the touch. The book updates describe the same top of book (a
snapshot first, then per quote: the old best levels deleted, the new ones set), so L1 and L2
backtests see one market. Same seed, same bytes.
"""

from pathlib import Path

import numpy as np
import numpy.typing as npt

from alphapulse.protocol import Exchange
from alphapulse.trading.backtest.export_layout import write_partition

__all__ = ("write_sample_session",)

START_NS = 1_764_028_800_000_000_000  # 2025-11-25T00:00:00Z


def write_sample_session(
    root: Path, *, quotes: int = 20_000, seed: int = 7, step_ms: int = 100, start_ns: int = START_NS
) -> list[Path]:
    rng = np.random.default_rng(seed)
    ts = start_ns + np.arange(quotes, dtype=np.int64) * step_ms * 1_000_000
    # the mid in cents: a random walk around 90,000.00 with occasional jumps
    steps = rng.choice([-1, 0, 1], size=quotes, p=[0.3, 0.4, 0.3]) * rng.integers(1, 4_000, size=quotes)
    mid = 9_000_000 + np.cumsum(steps)
    paths = []
    venues = [(Exchange.BINANCE, "BTC-USDT", 0), (Exchange.KRAKEN, "BTC-USD", 30)]  # kraken lags 30 quotes
    for exchange, symbol, lag in venues:
        m = np.concatenate([np.full(lag, mid[0]), mid[: quotes - lag]]) if lag else mid
        half = rng.integers(1, 20, size=quotes)
        bid, ask = m - half, m + half
        qty_bid = rng.integers(1, 200, size=quotes) * 1_000_000  # 0.01 .. 2 BTC at scale 8
        qty_ask = rng.integers(1, 200, size=quotes) * 1_000_000
        recv = ts + rng.integers(0, 5_000_000, size=quotes)  # up to 5 ms of network jitter
        recv.sort()
        paths.append(
            write_partition(
                root,
                "quotes",
                exchange,
                symbol,
                2,
                8,
                {
                    "ts_exchange_ns": ts,
                    "ts_recv_ns": recv,
                    "bid_price": bid,
                    "bid_qty": qty_bid,
                    "ask_price": ask,
                    "ask_qty": qty_ask,
                    "seq": np.arange(quotes, dtype=np.int64) * 2,
                },
            )
        )
        paths.append(_write_book(root, exchange, symbol, recv, ts, bid, ask, qty_bid, qty_ask))
        every = 5
        idx = np.arange(0, quotes, every)
        buy = rng.random(len(idx)) < 0.5
        paths.append(
            write_partition(
                root,
                "trades",
                exchange,
                symbol,
                2,
                8,
                {
                    "ts_exchange_ns": ts[idx],
                    "ts_recv_ns": recv[idx],
                    "trade_id": np.arange(1, len(idx) + 1, dtype=np.int64),
                    "side": ["buy" if b else "sell" for b in buy],
                    "price": np.where(buy, ask[idx], bid[idx]),
                    "qty": rng.integers(1, 50, size=len(idx)) * 100_000,
                    "seq": np.arange(len(idx), dtype=np.int64),
                },
            )
        )
    return paths


def _write_book(
    root: Path,
    exchange: Exchange,
    symbol: str,
    recv: npt.NDArray[np.int64],
    ts: npt.NDArray[np.int64],
    bid: npt.NDArray[np.int64],
    ask: npt.NDArray[np.int64],
    qty_bid: npt.NDArray[np.int64],
    qty_ask: npt.NDArray[np.int64],
) -> Path:
    rows: dict[str, list[int]] = {k: [] for k in ("ts_exchange_ns", "ts_recv_ns", "price", "qty", "flags", "seq")}
    sides: list[str] = []

    def add(i: int, side: str, px: int, qty: int, flags: int) -> None:
        rows["ts_exchange_ns"].append(int(ts[i]))
        rows["ts_recv_ns"].append(int(recv[i]))
        rows["price"].append(int(px))
        rows["qty"].append(int(qty))
        rows["flags"].append(flags)
        rows["seq"].append(len(sides))
        sides.append(side)

    add(0, "bid", bid[0], qty_bid[0], 1)  # snapshot (flag 1); its last row closes the message (flag 2)
    add(0, "ask", ask[0], qty_ask[0], 1 | 2)
    for i in range(1, len(bid)):
        if bid[i] != bid[i - 1]:
            add(i, "bid", bid[i - 1], 0, 0)
        if ask[i] != ask[i - 1]:
            add(i, "ask", ask[i - 1], 0, 0)
        add(i, "bid", bid[i], qty_bid[i], 0)
        add(i, "ask", ask[i], qty_ask[i], 2)
    return write_partition(
        root, "book_updates", exchange, symbol, 2, 8, {**{k: np.array(v, dtype=np.int64) for k, v in rows.items()},
                                                       "side": sides}
    )  # fmt: skip
