"""Shared body of fuzz_kraken.py, fuzz_coinbase.py and fuzz_binance.py: one venue parser, fed a
session (the input split at newlines, one venue message per line) after the real session's start."""

import json
from collections.abc import Callable, Iterator

import atheris
from fuzz_common import fixtures_dir, run

with atheris.instrument_imports(include=["alphapulse"]):
    from alphapulse.collectors.binance import BinanceParser
    from alphapulse.collectors.coinbase import CoinbaseParser
    from alphapulse.collectors.kraken import KrakenParser
    from alphapulse.collectors.metadata import binance_instruments, coinbase_instruments
    from alphapulse.collectors.output import FrameWriter
    from alphapulse.collectors.parsing import VenueParser
    from alphapulse.collectors.symbols import SymbolMap
    from alphapulse.protocol import Exchange, FrameDecoder, feed_id

PARSERS: dict[str, type[VenueParser]] = {"kraken": KrakenParser, "coinbase": CoinbaseParser, "binance": BinanceParser}
RECV_NS = 1_772_461_900_000_000_000


def _lines(venue: str, name: str) -> list[bytes]:
    return (fixtures_dir() / venue / name).read_bytes().split(b"\n")[:-1]


def make_target(venue: str) -> Callable[[bytes], None]:
    fx = fixtures_dir() / venue
    symbols = sorted({json.loads(x)["symbol"] for x in _lines(venue, "expected_normalized.jsonl")})
    exchange = Exchange[venue.upper()]
    warmup = _lines(venue, "session.jsonl")[:40]

    def target(data: bytes) -> None:
        published: list[bytes] = []
        writer = FrameWriter(feed_id(f"fuzz-{venue}"), exchange, f"fuzz-{venue}", RECV_NS, published.append)
        smap = SymbolMap(exchange, symbols)
        parser = PARSERS[venue](writer, smap)
        if venue == "coinbase":
            for spec in coinbase_instruments(json.loads((fx / "rest_products.json").read_bytes()), smap):
                parser.set_instrument(spec)
        if venue == "binance":
            for spec in binance_instruments(json.loads((fx / "rest_exchange_info.json").read_bytes()), smap):
                parser.set_instrument(spec)
        parser.on_connect()
        for i, line in enumerate([*warmup, *data.split(b"\n")]):
            before = sum(parser.stats.errors.values()) + sum(parser.stats.messages.values())
            parser.feed(line, RECV_NS + i)  # any exception here is a crash
            after = sum(parser.stats.errors.values()) + sum(parser.stats.messages.values())
            assert after > before, "a message was neither parsed nor counted as an error"
        writer.flush()
        decoder = FrameDecoder()
        for chunk in published:
            decoder.feed(chunk)  # what the collector wrote must decode

    return target


def seeds(venue: str) -> Iterator[bytes]:
    lines = [*_lines(venue, "session.jsonl"), *_lines(venue, "malformed.jsonl")]
    for name in ("gap_session.jsonl",):
        lines += _lines(venue, name)
    for i in range(0, len(lines), 4):
        yield b"\n".join(lines[i : i + 4])


def main(venue: str) -> None:
    run(venue, make_target(venue), lambda: seeds(venue))
