"""The cryptofeed 3.0.1 collectors of ``bench e2e``'s peer pipeline; runs in cryptofeed's own Python 3.13.

Not part of the alphapulse runtime (cryptofeed is AGPL, never our dependency). ``e2e.py`` starts
it as ``<cryptofeed python> _cryptofeed_e2e_peer.py ZMQ_PORT KRAKEN_URL COINBASE_URL BINANCE_URL
BINANCE_REST_URL [--batch-max N] [--strategy-port PORT]``: one FeedHandler with the three venues pointed at our
simulator and the channels our collectors take (trades, tickers, L2 books of depth 10; the Binance book's REST snapshot
from the simulator too), each published with cryptofeed's own ZeroMQ backend (``TradeZMQ``,
``TickerZMQ``, ``BookZMQ``: PUB sockets, topics ``<EXCHANGE>-<trades|ticker|book>-<symbol>``) as a
user would. cryptofeed takes Binance trades from ``@aggTrade`` (ours from ``@trade``: the same
rate here) and Kraken tickers on trades (ours on best bid/offer changes). Symbol tables are seeded
in-process so nothing is fetched from the network. cryptofeed's backends batch by default (up to
500 updates or 0.5 s); ``--batch-max 1`` sends each update at once. ``--strategy-port``: trades are
published a second time, with a second ``TradeZMQ``, to a strategy process bound there — how a
cryptofeed user feeds a strategy in its own process (a ZeroMQ PUB connects to one address).
"""

import argparse
from decimal import Decimal

from cryptofeed import FeedHandler  # type: ignore[import-not-found]
from cryptofeed.backends.zmq import BookZMQ, TickerZMQ, TradeZMQ  # type: ignore[import-not-found]
from cryptofeed.connection import RestEndpoint, Routes, WebsocketEndpoint  # type: ignore[import-not-found]
from cryptofeed.defines import L2_BOOK, TICKER, TRADES  # type: ignore[import-not-found]
from cryptofeed.exchanges import Binance, Coinbase, Kraken  # type: ignore[import-not-found]
from cryptofeed.symbols import Symbols  # type: ignore[import-not-found]

SYMBOLS = {
    "kraken": {"BTC-USD": "BTC/USD", "ETH-USD": "ETH/USD", "SOL-USD": "SOL/USD"},
    "coinbase": {"BTC-USD": "BTC-USD", "ETH-USD": "ETH-USD", "SOL-USD": "SOL-USD"},
    "binance": {"BTC-USDT": "BTCUSDT", "ETH-USDT": "ETHUSDT", "SOL-USDT": "SOLUSDT"},
}
BOOK_DEPTH = 10  # what an ExchangeFeed asks for by default


def _allow_plain_ws() -> None:
    """cryptofeed insists on wss://; the local simulator speaks ws:// (ours is measured without TLS too)."""
    import cryptofeed.connection as cc

    original = cc.WSAsyncConn.__init__

    def init(self: object, address: str, conn_id: str, subscription: object = None, **kw: object) -> None:
        original(self, "wss://" + address.removeprefix("ws://"), conn_id, subscription=subscription, **kw)
        self.address = address  # type: ignore[attr-defined]

    cc.WSAsyncConn.__init__ = init


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("zmq_port", type=int)
    parser.add_argument("urls", nargs=4, metavar="URL")  # Kraken, Coinbase, Binance websockets; Binance REST
    parser.add_argument("--batch-max", type=int, default=None)
    parser.add_argument("--strategy-port", type=int, default=None)
    args = parser.parse_args()
    _allow_plain_ws()
    urls = dict(zip(("kraken", "coinbase", "binance"), args.urls[:3], strict=True))
    Binance.rest_endpoints = [
        RestEndpoint(args.urls[3], routes=Routes("/api/v3/exchangeInfo", l2book="/api/v3/depth?symbol={}&limit={}"))
    ]
    batching = {"batch_max": args.batch_max, "batch_interval": 0.0} if args.batch_max else {}
    zmq = {"host": "127.0.0.1", "port": args.zmq_port, **batching}
    fh = FeedHandler(config={"log": {"disabled": True}})
    for venue, cls in (("kraken", Kraken), ("coinbase", Coinbase), ("binance", Binance)):
        table = SYMBOLS[venue]
        info = {
            "instrument_type": dict.fromkeys(table, "spot"),
            "tick_size": dict.fromkeys(table, Decimal("0.01")),
        }
        Symbols.set(cls.id, table, info)
        # cryptofeed appends Binance's ``/stream?streams=`` itself
        url = urls[venue].removesuffix("/").removesuffix("/stream")
        cls.websocket_endpoints = [WebsocketEndpoint(url, options={"compression": None})]
        trades = [TradeZMQ(**zmq)]
        if args.strategy_port:  # first: cryptofeed hands a trade to its callbacks in order
            trades.insert(0, TradeZMQ(**{**zmq, "port": args.strategy_port}))
        fh.add_feed(
            cls(
                symbols=list(table),
                channels=[TRADES, TICKER, L2_BOOK],
                max_depth=BOOK_DEPTH,
                # cryptofeed's Kraken checksum rejects the simulator's books, which our collectors' check
                # (the one that passes on the venue's recorded session) accepts: a user would turn it off
                checksum_validation=False,
                callbacks={TRADES: trades, TICKER: TickerZMQ(**zmq), L2_BOOK: BookZMQ(**zmq)},
            )
        )
    fh.run()


if __name__ == "__main__":
    main()
