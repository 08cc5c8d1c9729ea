"""Helpers for the collector unit tests: run a venue parser over fixture lines, decode what it wrote."""

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from alphapulse.collectors.binance import BinanceParser
from alphapulse.collectors.coinbase import CoinbaseParser
from alphapulse.collectors.kraken import KrakenParser
from alphapulse.collectors.metadata import binance_instruments, coinbase_instruments
from alphapulse.collectors.output import FrameWriter
from alphapulse.collectors.parsing import VenueParser
from alphapulse.collectors.symbols import SymbolMap
from alphapulse.framejson import FrameRenderer
from alphapulse.protocol import Exchange, Frame, FrameDecoder, feed_id, from_fixed, to_decimal

PARSERS: dict[str, type[VenueParser]] = {"kraken": KrakenParser, "coinbase": CoinbaseParser, "binance": BinanceParser}
RECV_NS = 1_772_461_900_000_000_000


def read_lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def expected_symbols(fixtures: Path, venue: str) -> list[str]:
    rows = [json.loads(x) for x in read_lines(fixtures / venue / "expected_normalized.jsonl")]
    return sorted({r["symbol"] for r in rows})


class Harness:
    """A parser with its writer, collecting every published byte."""

    def __init__(self, fixtures: Path, venue: str, symbols: list[str] | None = None, **kw: Any) -> None:
        self.venue = venue
        exchange = Exchange[venue.upper()]
        self.published: list[bytes] = []
        self.writer = FrameWriter(feed_id(f"test-{venue}"), exchange, f"test-{venue}", RECV_NS, self.published.append)
        smap = SymbolMap(exchange, symbols or expected_symbols(fixtures, venue))
        self.parser = PARSERS[venue](self.writer, smap, **kw)
        if venue == "coinbase":
            for spec in coinbase_instruments(json.loads((fixtures / venue / "rest_products.json").read_bytes()), smap):
                self.parser.set_instrument(spec)
        if venue == "binance":
            for spec in binance_instruments(
                json.loads((fixtures / venue / "rest_exchange_info.json").read_bytes()), smap
            ):
                self.parser.set_instrument(spec)
        self.parser.on_connect()
        self.writer.flush()
        self.decoder = FrameDecoder()
        self.renderer = FrameRenderer()
        self.frames: list[Frame] = []

    def feed(self, lines: list[bytes], recv_ns: int = RECV_NS) -> None:
        for i, line in enumerate(lines):
            self.parser.feed(line, recv_ns + i)
            self.writer.flush()

    def decoded(self) -> list[Frame]:
        for chunk in self.published:
            self.frames.extend(self.decoder.feed(chunk))
        self.published.clear()
        return self.frames

    def rendered(self) -> list[dict[str, Any]]:
        return [self.renderer.render(f) for f in self.decoded()]


def normalized_trades(rendered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Trades in the shape of expected_normalized.jsonl (decimals as Decimal for exact comparison)."""
    return [
        {
            "symbol": d["symbol"],
            "side": d["side"],
            "price": Decimal(d["price"]),
            "qty": Decimal(d["qty"]),
            "ts_ns": d["ts_exchange_ns"],
            "trade_id": d["trade_id"],
            "snapshot": bool(d.get("snapshot", False)),
        }
        for d in rendered
        if d["type"] == "trade"
    ]


def expected_trades(fixtures: Path, venue: str) -> list[dict[str, Any]]:
    rows = [json.loads(x) for x in read_lines(fixtures / venue / "expected_normalized.jsonl")]
    return [
        {
            "symbol": r["symbol"],
            "side": r["side"],
            "price": Decimal(r["price"]),
            "qty": Decimal(r["qty"]),
            "ts_ns": r["ts_ns"],
            "trade_id": r["trade_id"],
            "snapshot": r["snapshot"],
        }
        for r in rows
    ]


def book_strings(h: Harness, native: str) -> dict[str, list[tuple[Decimal, Decimal]]]:
    """The parser's book of ``native`` as exact decimals, best first."""
    spec = h.parser.instruments[native]
    book = h.parser.books.get(spec.info.symbol_id)
    ps, qs = spec.price_scale, spec.qty_scale
    return {
        "bids": [(to_decimal(p, ps), to_decimal(q, qs)) for p, q in book.bids],
        "asks": [(to_decimal(p, ps), to_decimal(q, qs)) for p, q in book.asks],
    }


def meta_book(levels: dict[str, list[list[str]]]) -> dict[str, list[tuple[Decimal, Decimal]]]:
    return {side: [(Decimal(p), Decimal(q)) for p, q in levels[side]] for side in ("bids", "asks")}


def kraken_snapshot_message(h: Harness, native: str) -> bytes:
    """What Kraken would send on a book resubscribe: the current book (from a reference parser), with its checksum."""
    from alphapulse.collectors.kraken import kraken_checksum

    spec = h.parser.instruments[native]
    book = h.parser.books.get(spec.info.symbol_id)
    ps, qs = spec.price_scale, spec.qty_scale

    def levels(side: Any) -> str:
        return ",".join(f'{{"price":{from_fixed(p, ps)},"qty":{from_fixed(q, qs)}}}' for p, q in side)

    return (
        f'{{"channel":"book","type":"snapshot","data":[{{"symbol":"{native}","bids":[{levels(book.bids)}],'
        f'"asks":[{levels(book.asks)}],"checksum":{kraken_checksum(book)},"timestamp":"2026-03-02T14:30:30.000000Z"}}]}}'
    ).encode()
