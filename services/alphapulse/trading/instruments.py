"""AlphaPulse instruments as NautilusTrader instruments, and the naming between the two.

Instrument ids are ``<BASE-QUOTE>.<VENUE>``, e.g. ``BTC-USDT.BINANCE``: our normalized symbol
unchanged (so ``tap``, the API and NautilusTrader all spell a market the same way) and the venue in
upper case, as NautilusTrader names venues. The venue's own spelling (``XBT/USD``, ``BTCUSDT``)
is the instrument's ``raw_symbol``.

An instrument's price and size precision are its wire scales, and its increments come from the
instrument frame, so every value on the wire maps to exactly one NautilusTrader value.
"""

from dataclasses import dataclass
from decimal import Decimal

from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue
from nautilus_trader.model.instruments import CurrencyPair
from nautilus_trader.model.objects import FIXED_PRECISION, Currency, Price, Quantity

from alphapulse.errors import ConfigError
from alphapulse.protocol import Exchange, Instrument, from_fixed, symbol_id

__all__ = (
    "InstrumentSpec",
    "currency_pair",
    "instrument_id",
    "parse_instrument_id",
    "spec_from_frame",
    "symbol_id_of",
)

DEFAULT_FEES: dict[Exchange, tuple[Decimal, Decimal]] = {
    # (maker, taker) of each venue's entry tier: paper fills should cost what real ones would
    Exchange.KRAKEN: (Decimal("0.0025"), Decimal("0.0040")),
    Exchange.COINBASE: (Decimal("0.0040"), Decimal("0.0060")),
    Exchange.BINANCE: (Decimal("0.0010"), Decimal("0.0010")),
}


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """What we need to know about a market, whether announced on the wire or read from a table."""

    exchange: Exchange
    symbol: str  # normalized BASE-QUOTE
    price_scale: int
    qty_scale: int
    price_increment: int  # at price_scale
    qty_increment: int  # at qty_scale
    native_symbol: str

    @property
    def symbol_id(self) -> int:
        return symbol_id(self.exchange, self.symbol)


def spec_from_frame(frame: Instrument) -> InstrumentSpec:
    return InstrumentSpec(
        frame.exchange,
        frame.symbol,
        frame.price_scale,
        frame.qty_scale,
        frame.price_increment,
        frame.qty_increment,
        frame.native_symbol,
    )


def instrument_id(exchange: Exchange, symbol: str) -> InstrumentId:
    return InstrumentId(Symbol(symbol.upper()), Venue(exchange.name))


def parse_instrument_id(iid: InstrumentId | str) -> tuple[Exchange, str]:
    """``BTC-USDT.BINANCE`` -> (Exchange.BINANCE, "BTC-USDT"); refuses venues we do not carry."""
    text = str(iid)
    symbol, dot, venue = text.rpartition(".")
    if not dot or not symbol:
        raise ConfigError(f"instrument id {text!r} is not SYMBOL.VENUE")
    try:
        exchange = Exchange[venue.upper()]
    except KeyError as e:
        raise ConfigError(f"instrument id {text!r}: venue {venue!r} is not one of {[x.name for x in Exchange]}") from e
    return exchange, symbol.upper()


def symbol_id_of(iid: InstrumentId | str) -> int:
    exchange, symbol = parse_instrument_id(iid)
    return symbol_id(exchange, symbol)


def _currency(code: str) -> Currency:
    # strict=False: an unknown code (a new listing, a simulator's coin) becomes an 8-decimal crypto
    return Currency.from_str(code, strict=False)


def currency_pair(spec: InstrumentSpec, ts_ns: int) -> CurrencyPair:
    """The NautilusTrader instrument of ``spec``; raises ConfigError if NautilusTrader cannot hold it."""
    for what, scale in (("price", spec.price_scale), ("quantity", spec.qty_scale)):
        if not 0 <= scale <= FIXED_PRECISION:
            raise ConfigError(f"{spec.symbol}: {what} scale {scale} is outside NautilusTrader's 0..{FIXED_PRECISION}")
    if spec.price_increment <= 0 or spec.qty_increment <= 0:
        raise ConfigError(f"{spec.symbol}: increments must be positive")
    base, sep, quote = spec.symbol.partition("-")
    if not sep or not base or not quote:
        raise ConfigError(f"symbol {spec.symbol!r} is not BASE-QUOTE")
    maker, taker = DEFAULT_FEES[spec.exchange]
    return CurrencyPair(
        instrument_id=instrument_id(spec.exchange, spec.symbol),
        raw_symbol=Symbol(spec.native_symbol or spec.symbol),
        base_currency=_currency(base),
        quote_currency=_currency(quote),
        price_precision=spec.price_scale,
        size_precision=spec.qty_scale,
        price_increment=Price.from_str(from_fixed(spec.price_increment, spec.price_scale)),
        size_increment=Quantity.from_str(from_fixed(spec.qty_increment, spec.qty_scale)),
        ts_event=ts_ns,
        ts_init=ts_ns,
        maker_fee=maker,
        taker_fee=taker,
    )
