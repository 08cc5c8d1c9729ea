"""Normalized symbols and each venue's spelling."""

import pytest

from alphapulse.collectors.symbols import SymbolMap, native_symbol
from alphapulse.errors import ConfigError
from alphapulse.protocol import Exchange, symbol_id


@pytest.mark.parametrize(
    ("exchange", "native"), [(Exchange.KRAKEN, "BTC/USD"), (Exchange.COINBASE, "BTC-USD"), (Exchange.BINANCE, "BTCUSD")]
)
def test_native_spelling(exchange: Exchange, native: str) -> None:
    assert native_symbol(exchange, "btc-usd") == native
    smap = SymbolMap(exchange, ["BTC-USD"])
    info = smap.by_native[native]
    assert (info.symbol, info.symbol_id) == ("BTC-USD", symbol_id(exchange, "BTC-USD"))


def test_binance_reverse_map_only_knows_subscribed_symbols() -> None:
    smap = SymbolMap(Exchange.BINANCE, ["BTC-USDT"])
    assert smap.by_native["BTCUSDT"].symbol == "BTC-USDT"
    assert "BTCUSDC" not in smap.by_native


def test_ambiguous_or_malformed_symbols_are_refused() -> None:
    with pytest.raises(ConfigError, match="both"):
        SymbolMap(Exchange.BINANCE, ["BTC-USDT", "BTCU-SDT"])
    with pytest.raises(ConfigError, match="BASE-QUOTE"):
        SymbolMap(Exchange.KRAKEN, ["BTCUSD"])
