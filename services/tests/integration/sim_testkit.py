"""Client-side helpers for the simulator tests: independent reference implementations.

Written from the fixtures' README, not from the simulator's code, so that a shared bug cannot
make both sides agree.
"""

import asyncio
import json
import zlib
from decimal import Decimal
from typing import Any

from websockets.asyncio.client import ClientConnection

from alphapulse.sim.replay import default_fixtures_dir

FIXTURES = default_fixtures_dir()


async def recv_all(ws: ClientConnection, idle_s: float = 0.3, limit: int = 100_000) -> list[str]:
    """Messages until ``idle_s`` passes without one (or ``limit`` arrive)."""
    out: list[str] = []
    while len(out) < limit:
        try:
            async with asyncio.timeout(idle_s):
                msg = await ws.recv()
        except TimeoutError:
            break
        assert isinstance(msg, str)
        out.append(msg)
    return out


async def recv_until(ws: ClientConnection, pred: Any, timeout_s: float = 5.0) -> dict[str, Any]:
    """The first JSON message satisfying ``pred`` (others are skipped)."""
    async with asyncio.timeout(timeout_s):
        while True:
            msg = json.loads(await ws.recv(), parse_float=Decimal)
            if pred(msg):
                return msg  # type: ignore[no-any-return]


class KrakenBook:
    """A Kraken v2 book as the README prescribes: apply in order, truncate, checksum top 10."""

    def __init__(self, depth: int, price_precision: int, qty_precision: int) -> None:
        self.depth = depth
        self.pp = price_precision
        self.qp = qty_precision
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}

    def apply(self, item: dict[str, Any], snapshot: bool = False) -> None:
        if snapshot:
            self.bids.clear()
            self.asks.clear()
        for side, levels in ((self.bids, item["bids"]), (self.asks, item["asks"])):
            for lv in levels:
                price, qty = Decimal(str(lv["price"])), Decimal(str(lv["qty"]))
                if qty == 0:
                    side.pop(price, None)
                else:
                    side[price] = qty
        for side, rev in ((self.bids, True), (self.asks, False)):
            for p in sorted(side, reverse=rev)[self.depth :]:
                del side[p]

    def checksum(self) -> int:
        def token(value: Decimal, places: int) -> str:
            return f"{value:.{places}f}".replace(".", "").lstrip("0")

        text = ""
        for side, rev in ((self.asks, False), (self.bids, True)):
            for p in sorted(side, reverse=rev)[:10]:
                text += token(p, self.pp) + token(side[p], self.qp)
        return zlib.crc32(text.encode())


def binance_sync(
    snapshot: dict[str, Any], events: list[dict[str, Any]]
) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal], int, list[dict[str, Any]]]:
    """The documented local-book procedure; returns bids, asks, last update id and used events."""
    last = int(snapshot["lastUpdateId"])
    assert events, "no depth event buffered"
    assert last >= events[0]["U"] - 1 or last >= events[0]["U"], "snapshot older than the buffer: refetch"
    bids = {Decimal(p): Decimal(q) for p, q in snapshot["bids"]}
    asks = {Decimal(p): Decimal(q) for p, q in snapshot["asks"]}
    used = []
    for ev in events:
        if ev["u"] <= last:
            continue  # already in the snapshot
        assert ev["U"] <= last + 1, f"missed events: U={ev['U']} > {last + 1}"
        for side, levels in ((bids, ev["b"]), (asks, ev["a"])):
            for p, q in levels:
                if Decimal(q) == 0:
                    side.pop(Decimal(p), None)
                else:
                    side[Decimal(p)] = Decimal(q)
        last = ev["u"]
        used.append(ev)
    return bids, asks, last, used
