"""The strategy file ``alphapulse trade -f STRATEGY.yaml`` reads, validated into plain values.

No NautilusTrader import here: the file is checked (and its mistakes reported with their path)
before the ~1 s engine import. Example (every key but ``strategies`` optional)::

    trader_id: PAPER-001
    relay: [unix:/run/alphapulse/relay.sock]     # default: <sock-dir>/relay.sock
    venues:                                      # default: paper trading on all three venues
      BINANCE: {starting_balances: ["100000 USDT", "2 BTC"]}
      KRAKEN:  {mode: live, live: true, api_key_env: KRAKEN_KEY, api_secret_env: KRAKEN_SECRET}
    orders: {enabled: true, stream: "alphapulse:orders", events: "alphapulse:order-events"}
    strategies:
      - path: alphapulse.trading.strategies.spread:CrossVenueSpread
        config: {instrument_ids: [BTC-USDT.BINANCE, BTC-USD.KRAKEN], trade_size: "0.01"}

Real execution needs both ``mode: live`` and ``live: true`` on the venue and its keys in the
environment; anything less is refused, so a typo can never send a real order.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from alphapulse.errors import ConfigError
from alphapulse.protocol import Exchange

__all__ = ("OrdersSpec", "StrategySpec", "TradeSpec", "VenueSpec", "load_trade_spec", "parse_trade_spec")

LIVE_CAPABLE = frozenset({Exchange.BINANCE, Exchange.KRAKEN})  # venues NautilusTrader has execution adapters for
DEFAULT_BALANCES = {
    Exchange.BINANCE: ("100000 USDT", "10 BTC", "100 ETH"),
    Exchange.KRAKEN: ("100000 USD", "10 BTC", "100 ETH"),
    Exchange.COINBASE: ("100000 USD", "10 BTC", "100 ETH"),
}


@dataclass(frozen=True, slots=True)
class VenueSpec:
    exchange: Exchange
    mode: str = "paper"  # paper (NautilusTrader's sandbox) | live (the venue's own adapter)
    starting_balances: tuple[str, ...] = ()
    account_type: str = "CASH"
    oms_type: str = "NETTING"
    book_type: str = "L1_MBP"
    api_key: str | None = field(default=None, repr=False)
    api_secret: str | None = field(default=None, repr=False)
    testnet: bool = False


@dataclass(frozen=True, slots=True)
class StrategySpec:
    path: str  # module:Class of the Strategy; its config class is module:ClassConfig unless config_path
    config: dict[str, Any]
    config_path: str = ""

    @property
    def resolved_config_path(self) -> str:
        return self.config_path or f"{self.path}Config"


@dataclass(frozen=True, slots=True)
class OrdersSpec:
    enabled: bool = True
    redis_url: str = ""
    stream: str = "alphapulse:orders"
    events: str = "alphapulse:order-events"
    group: str = "trading"
    audit_stream: str = "alphapulse:trading-audit"


@dataclass(frozen=True, slots=True)
class TradeSpec:
    trader_id: str = "PAPER-001"
    relays: tuple[str, ...] = ()
    venues: tuple[VenueSpec, ...] = ()
    strategies: tuple[StrategySpec, ...] = ()
    orders: OrdersSpec = OrdersSpec()
    log_level: str = "INFO"
    instruments_database_url: str | None = None
    audit: bool = True  # every order/position event and decision to Redis alphapulse:trading-audit


def _mapping(value: object, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _only(doc: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(doc) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")


def _venue(name: str, doc: dict[str, Any], env: dict[str, str]) -> VenueSpec:
    where = f"venues.{name}"
    _only(
        doc,
        {
            "mode",
            "live",
            "starting_balances",
            "account_type",
            "oms_type",
            "book_type",
            "api_key_env",
            "api_secret_env",
            "testnet",
        },
        where,
    )
    try:
        exchange = Exchange[name.upper()]
    except KeyError as e:
        raise ConfigError(f"{where}: unknown venue; expected one of {[x.name for x in Exchange]}") from e
    mode = str(doc.get("mode", "paper"))
    if mode not in ("paper", "live"):
        raise ConfigError(f"{where}.mode: expected paper or live, got {mode!r}")
    key = secret = None
    if mode == "live":
        if doc.get("live") is not True:
            raise ConfigError(f"{where}: mode live also needs `live: true` (real orders, real money)")
        if exchange not in LIVE_CAPABLE:
            raise ConfigError(f"{where}: NautilusTrader has no execution adapter for {exchange.name}; use paper")
        key_env, secret_env = doc.get("api_key_env"), doc.get("api_secret_env")
        if not key_env or not secret_env:
            raise ConfigError(f"{where}: live trading needs api_key_env and api_secret_env (names of env variables)")
        key, secret = env.get(str(key_env)), env.get(str(secret_env))
        if not key or not secret:
            raise ConfigError(f"{where}: environment variables {key_env} and {secret_env} must both be set")
    balances = doc.get("starting_balances", DEFAULT_BALANCES[exchange])
    if not isinstance(balances, list | tuple) or not all(isinstance(b, str) for b in balances):
        raise ConfigError(f"{where}.starting_balances: expected a list like ['100000 USDT', '1 BTC']")
    book_type = str(doc.get("book_type", "L1_MBP"))
    if book_type not in ("L1_MBP", "L2_MBP"):
        raise ConfigError(f"{where}.book_type: expected L1_MBP or L2_MBP")
    return VenueSpec(
        exchange,
        mode,
        tuple(balances),
        str(doc.get("account_type", "CASH")),
        str(doc.get("oms_type", "NETTING")),
        book_type,
        key,
        secret,
        bool(doc.get("testnet", False)),
    )


def parse_trade_spec(doc: object, env: dict[str, str] | None = None) -> TradeSpec:
    env = dict(os.environ) if env is None else env
    top = _mapping(doc, "strategy file")
    _only(
        top,
        {"trader_id", "relay", "venues", "strategies", "orders", "log_level", "instruments_database_url", "audit"},
        "strategy file",
    )
    relays = top.get("relay") or ()
    if isinstance(relays, str):
        relays = (relays,)
    venues_doc = _mapping(top.get("venues"), "venues")
    venues = tuple(_venue(name, _mapping(v, f"venues.{name}"), env) for name, v in venues_doc.items())
    if not venues:
        venues = tuple(VenueSpec(x, starting_balances=DEFAULT_BALANCES[x]) for x in Exchange)
    strategies = []
    for i, s in enumerate(top.get("strategies") or ()):
        sd = _mapping(s, f"strategies[{i}]")
        _only(sd, {"path", "config", "config_path"}, f"strategies[{i}]")
        path = sd.get("path")
        if not isinstance(path, str) or ":" not in path:
            raise ConfigError(f"strategies[{i}].path: expected module:Class")
        strategies.append(
            StrategySpec(path, _mapping(sd.get("config"), f"strategies[{i}].config"), str(sd.get("config_path", "")))
        )
    od = _mapping(top.get("orders"), "orders")
    _only(od, {"enabled", "redis_url", "stream", "events", "group", "audit_stream"}, "orders")
    orders = OrdersSpec(
        bool(od.get("enabled", True)),
        str(od.get("redis_url") or env.get("REDIS_URL", "redis://127.0.0.1:6379/0")),
        str(od.get("stream", "alphapulse:orders")),
        str(od.get("events", "alphapulse:order-events")),
        str(od.get("group", "trading")),
        str(od.get("audit_stream", "alphapulse:trading-audit")),
    )
    trader_id = str(top.get("trader_id", "PAPER-001"))
    if "-" not in trader_id:
        raise ConfigError("trader_id: NautilusTrader needs NAME-TAG, e.g. PAPER-001")
    db = top.get("instruments_database_url")
    if db is True:  # `instruments_database_url: true` means $DATABASE_URL
        db = env.get("DATABASE_URL")
    return TradeSpec(
        trader_id,
        tuple(relays),
        venues,
        tuple(strategies),
        orders,
        str(top.get("log_level", "INFO")),
        str(db) if db else None,
        bool(top.get("audit", True)),
    )


def load_trade_spec(path: Path, env: dict[str, str] | None = None) -> TradeSpec:
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read {path}: {e}") from e
    return parse_trade_spec(doc, env)
