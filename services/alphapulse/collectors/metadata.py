"""Instrument scales from each venue's own reference data, never from constants.

Kraken's come over the WebSocket (``instrument`` channel, handled by the Kraken parser). Coinbase's
public products endpoint and Binance's ``exchangeInfo`` are fetched over REST here (``spec.restUrl``
replaces the venue's REST base, e.g. to point at the simulator); the pure functions turn the
responses into :class:`InstrumentSpec` values so they are tested without I/O. Binance's REST depth
snapshot (the local-book procedure) is fetched here as well.
"""

import json
from typing import Any
from urllib.parse import quote

import httpx

from alphapulse.collectors.binance import DepthSnapshot, snapshot_decoder
from alphapulse.collectors.parsing import InstrumentSpec, decimals_of
from alphapulse.collectors.symbols import SymbolMap
from alphapulse.errors import ConfigError, RetryableError
from alphapulse.protocol import to_fixed

__all__ = (
    "MetadataError",
    "binance_instruments",
    "coinbase_instruments",
    "fetch_binance_depth",
    "fetch_binance_instruments",
    "fetch_coinbase_instruments",
)

REST_TIMEOUT_S = 10.0
MAX_REST_BYTES = 64 * 1024 * 1024


class MetadataError(RetryableError):
    """The venue's reference data could not be fetched or read (retry later)."""


def _missing(symbols: SymbolMap, found: set[str], where: str) -> None:
    missing = [s.native for s in symbols if s.native not in found]
    if missing:
        raise ConfigError(f"{where} does not list {', '.join(missing)}: check the feed's symbols")


def coinbase_instruments(doc: Any, symbols: SymbolMap) -> list[InstrumentSpec]:
    """From ``GET /api/v3/brokerage/market/products``: price tick = quote_increment, size step = base_increment."""
    products = doc.get("products") if isinstance(doc, dict) else None
    if not isinstance(products, list):
        raise MetadataError("Coinbase products response has no 'products' list")
    specs = []
    for p in products:
        info = symbols.by_native.get(p.get("product_id", "")) if isinstance(p, dict) else None
        if info is None:
            continue
        tick = p.get("price_increment") or p.get("quote_increment")
        step = p.get("base_increment")
        try:
            ps, qs = decimals_of(tick), decimals_of(step)
            specs.append(InstrumentSpec(info, ps, qs, to_fixed(tick, ps), to_fixed(step, qs)))
        except (ValueError, ArithmeticError, TypeError) as e:
            raise MetadataError(f"Coinbase product {info.native}: bad increments {tick!r}/{step!r}: {e}") from e
    _missing(symbols, {s.info.native for s in specs}, "Coinbase's products")
    return specs


def binance_instruments(doc: Any, symbols: SymbolMap) -> list[InstrumentSpec]:
    """From ``GET /api/v3/exchangeInfo``: PRICE_FILTER.tickSize and LOT_SIZE.stepSize (looked up by type)."""
    entries = doc.get("symbols") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise MetadataError("Binance exchangeInfo has no 'symbols' list")
    specs = []
    for s in entries:
        info = symbols.by_native.get(s.get("symbol", "")) if isinstance(s, dict) else None
        if info is None:
            continue
        filters = {f.get("filterType"): f for f in s.get("filters", []) if isinstance(f, dict)}
        try:
            tick = filters["PRICE_FILTER"]["tickSize"]
            step = filters["LOT_SIZE"]["stepSize"]
            ps, qs = decimals_of(tick), decimals_of(step)
            specs.append(InstrumentSpec(info, ps, qs, to_fixed(tick, ps), to_fixed(step, qs)))
        except (KeyError, ValueError, ArithmeticError, TypeError) as e:
            raise MetadataError(f"Binance symbol {info.native}: no usable PRICE_FILTER/LOT_SIZE: {e}") from e
    _missing(symbols, {s.info.native for s in specs}, "Binance's exchangeInfo")
    return specs


async def _get(client: httpx.AsyncClient, url: str) -> bytes:
    try:
        response = await client.get(url, timeout=REST_TIMEOUT_S)
    except httpx.HTTPError as e:
        raise MetadataError(f"GET {url}: {e!r}") from e
    if response.status_code != 200:
        raise MetadataError(f"GET {url}: HTTP {response.status_code}: {response.text[:200]}")
    if len(response.content) > MAX_REST_BYTES:
        raise MetadataError(f"GET {url}: response of {len(response.content)} bytes is too large")
    return response.content


async def fetch_coinbase_instruments(client: httpx.AsyncClient, base: str, symbols: SymbolMap) -> list[InstrumentSpec]:
    query = "&".join(f"product_ids={quote(s.native)}" for s in symbols)
    body = await _get(client, f"{base.rstrip('/')}/api/v3/brokerage/market/products?product_type=SPOT&{query}")
    try:
        doc = json.loads(body)
    except ValueError as e:
        raise MetadataError(f"Coinbase products: not JSON: {e}") from e
    return coinbase_instruments(doc, symbols)


async def fetch_binance_instruments(client: httpx.AsyncClient, base: str, symbols: SymbolMap) -> list[InstrumentSpec]:
    names = quote(json.dumps([s.native for s in symbols], separators=(",", ":")))
    body = await _get(client, f"{base.rstrip('/')}/api/v3/exchangeInfo?symbols={names}")
    try:
        doc = json.loads(body)
    except ValueError as e:
        raise MetadataError(f"Binance exchangeInfo: not JSON: {e}") from e
    return binance_instruments(doc, symbols)


async def fetch_binance_depth(client: httpx.AsyncClient, base: str, native: str, limit: int) -> DepthSnapshot:
    body = await _get(client, f"{base.rstrip('/')}/api/v3/depth?symbol={quote(native)}&limit={limit}")
    try:
        return snapshot_decoder.decode(body)
    except ValueError as e:  # msgspec's DecodeError/ValidationError are ValueErrors
        raise MetadataError(f"Binance depth snapshot for {native}: {e}") from e
