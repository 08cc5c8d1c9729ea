"""The cryptofeed 3.0.1 side of ``bench collector``; runs in cryptofeed's own Python 3.13 environment.

Not part of the alphapulse package's runtime (it imports cryptofeed, AGPL, never our dependency):
``collector.py`` starts it as ``<cryptofeed python> _cryptofeed_peer.py VENUE PORT N``. The symbol
table is seeded in-process, so cryptofeed starts without fetching it over the network; its WebSocket
endpoint is pointed at the benchmark's local server. Prints one JSON line when N trades arrived.
"""

import json
import os
import sys
import time
from decimal import Decimal

from cryptofeed import FeedHandler  # type: ignore[import-not-found]
from cryptofeed.connection import WebsocketEndpoint  # type: ignore[import-not-found]
from cryptofeed.defines import TRADES  # type: ignore[import-not-found]
from cryptofeed.exchanges import Binance, Coinbase, Kraken  # type: ignore[import-not-found]
from cryptofeed.symbols import Symbols  # type: ignore[import-not-found]


def _allow_plain_ws() -> None:
    """cryptofeed insists on wss://; the benchmark's local server speaks ws:// (as ours is measured: no TLS)."""
    import cryptofeed.connection as cc

    original = cc.WSAsyncConn.__init__

    def init(self: object, address: str, conn_id: str, subscription: object = None, **kw: object) -> None:
        original(self, "wss://" + address.removeprefix("ws://"), conn_id, subscription=subscription, **kw)
        self.address = address  # type: ignore[attr-defined]

    cc.WSAsyncConn.__init__ = init


def main() -> None:
    _allow_plain_ws()
    venue, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    os.sched_setaffinity(0, {0})
    cls = {"kraken": Kraken, "coinbase": Coinbase, "binance": Binance}[venue]
    sym = {"kraken": "BTC-USD", "coinbase": "BTC-USD", "binance": "BTC-USDT"}[venue]
    native = {"kraken": "BTC/USD", "coinbase": "BTC-USD", "binance": "BTCUSDT"}[venue]
    Symbols.set(cls.id, {sym: native}, {"instrument_type": {sym: "spot"}, "tick_size": {sym: Decimal("0.01")}})
    path = {"kraken": "/v2", "coinbase": "", "binance": ""}[venue]
    cls.websocket_endpoints = [WebsocketEndpoint(f"ws://127.0.0.1:{port}{path}", options={"compression": None})]
    state = {"count": 0, "t0": 0.0, "c0": 0.0}

    async def trade(t: object, receipt_ts: float) -> None:
        if state["count"] == 0:
            state["t0"], state["c0"] = time.perf_counter(), time.process_time()
        state["count"] += 1
        if state["count"] >= n:
            wall, cpu = time.perf_counter() - state["t0"], time.process_time() - state["c0"]
            print(json.dumps({"trades": state["count"] - 1, "wall_s": wall, "cpu_s": cpu}), flush=True)
            os._exit(0)

    fh = FeedHandler(config={"log": {"disabled": True}})
    fh.add_feed(cls(symbols=[sym], channels=[TRADES], callbacks={TRADES: trade}))
    fh.run()


if __name__ == "__main__":
    main()
