"""API settings: environment (``ALPHAPULSE_*``, ``DATABASE_URL``, ``REDIS_URL``), then flags.

Secrets have no defaults: :meth:`ApiSettings.from_env` raises :class:`ConfigError` at start-up when
``ALPHAPULSE_SESSION_SECRET`` or ``ALPHAPULSE_BRIDGE_SECRET`` is missing or too short.
"""

from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from alphapulse.errors import ConfigError
from alphapulse.proxies import parse_trusted_proxies
from alphapulse.settings import ENV_PREFIX, data_dir, env, env_float, env_int

__all__ = ("MIN_SECRET_BYTES", "ApiSettings", "RiskLimits")

MIN_SECRET_BYTES = 32  # HS256 keys shorter than the hash output weaken the MAC (RFC 7518 §3.2)


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Pre-trade checks applied before an order is queued (docs/api.md, "Risk checks")."""

    max_order_qty: Decimal | None = None
    max_order_notional: Decimal = Decimal(100_000)
    # ``exchange:SYMBOL`` pairs; ``None`` allows every instrument known to the instruments table.
    allowed_symbols: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class ApiSettings:
    database_url: str
    redis_url: str
    session_secret: bytes = field(repr=False)
    bridge_secret: bytes = field(repr=False)
    key_prefix: str = "alphapulse:"
    session_ttl_s: int = 8 * 3600
    bridge_token_ttl_s: int = 60
    cookie_secure: bool = True
    login_max_failures: int = 5
    login_lockout_s: int = 900
    login_ip_per_minute: int = 30
    # Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or CIDR networks, or
    # "*"). Empty: none, the TCP peer is the client (right when nothing proxies the API). Behind an
    # Ingress the peer is the controller, so without this every browser shares one login limit.
    trusted_proxies: tuple[str, ...] = ()
    quotes_cache_ttl_ms: int = 1000
    candles_cache_ttl_ms: int = 2000
    equity_snapshot_interval_s: float = 60.0
    consume_order_events: bool = True
    access_log: bool = True
    frontend_dir: Path = Path("frontend/dist")
    # The backtester's DuckDB results file (docs/trading.md), read-only here.
    backtests_db: Path = Path(".alphapulse/backtests.duckdb")
    # Where browsers reach the bridge (told to the dashboard by GET /api/config).
    bridge_url: str = "ws://127.0.0.1:8765/ws"
    risk: RiskLimits = field(default_factory=RiskLimits)

    @property
    def orders_stream(self) -> str:
        return f"{self.key_prefix}orders"

    @property
    def order_events_stream(self) -> str:
        return f"{self.key_prefix}order-events"

    def with_(self, **changes: Any) -> "ApiSettings":
        return replace(self, **changes)

    @classmethod
    def from_env(cls, **overrides: Any) -> "ApiSettings":
        """Read the environment; ``overrides`` (from flags or tests) win. Fails fast on bad secrets."""
        values: dict[str, Any] = {
            "database_url": env("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/alphapulse",
            "redis_url": env("REDIS_URL") or "redis://127.0.0.1:6379/0",
            "key_prefix": env("KEY_PREFIX") or "alphapulse:",
            "session_ttl_s": env_int("SESSION_TTL_S", 8 * 3600),
            "bridge_token_ttl_s": env_int("BRIDGE_TOKEN_TTL_S", 60),
            "cookie_secure": _env_bool("COOKIE_SECURE", default=True),
            "login_max_failures": env_int("LOGIN_MAX_FAILURES", 5),
            "login_lockout_s": env_int("LOGIN_LOCKOUT_S", 900),
            "login_ip_per_minute": env_int("LOGIN_IP_PER_MINUTE", 30),
            "trusted_proxies": parse_trusted_proxies(env("TRUSTED_PROXIES") or ""),
            "quotes_cache_ttl_ms": env_int("QUOTES_CACHE_TTL_MS", 1000),
            "candles_cache_ttl_ms": env_int("CANDLES_CACHE_TTL_MS", 2000),
            "equity_snapshot_interval_s": env_float("EQUITY_SNAPSHOT_INTERVAL_S", 60.0),
            "access_log": _env_bool("API_ACCESS_LOG", default=True),
            "frontend_dir": Path(env("FRONTEND_DIR") or "frontend/dist"),
            "bridge_url": env("BRIDGE_URL") or "ws://127.0.0.1:8765/ws",
            "backtests_db": Path(env("BACKTESTS_DB") or data_dir() / "backtests.duckdb"),
            "risk": RiskLimits(
                max_order_qty=_env_decimal("RISK_MAX_ORDER_QTY"),
                max_order_notional=_env_decimal("RISK_MAX_ORDER_NOTIONAL") or Decimal(100_000),
                allowed_symbols=_env_symbols("RISK_ALLOWED_SYMBOLS"),
            ),
        }
        if "session_secret" not in overrides:
            values["session_secret"] = _required_secret("SESSION_SECRET")
        if "bridge_secret" not in overrides:
            values["bridge_secret"] = _required_secret("BRIDGE_SECRET")
        values.update(overrides)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        for name, secret in (("SESSION_SECRET", self.session_secret), ("BRIDGE_SECRET", self.bridge_secret)):
            if len(secret) < MIN_SECRET_BYTES:
                raise ConfigError(
                    f"{ENV_PREFIX}{name} must be at least {MIN_SECRET_BYTES} bytes "
                    f"(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
                )
        if self.session_secret == self.bridge_secret:
            raise ConfigError(
                f"{ENV_PREFIX}SESSION_SECRET and {ENV_PREFIX}BRIDGE_SECRET must differ: "
                "the bridge only needs to verify tokens, never to forge sessions"
            )
        if self.login_max_failures < 1 or self.login_lockout_s < 1:
            raise ConfigError("login lockout settings must be positive")
        if self.session_ttl_s < 1 or self.bridge_token_ttl_s < 1:
            raise ConfigError("session and token lifetimes must be positive")
        # overrides (flags, tests) skip the parser; uvicorn would silently ignore a malformed entry
        parse_trusted_proxies(",".join(self.trusted_proxies))


def _required_secret(name: str) -> bytes:
    raw = env(name)
    if not raw:
        raise ConfigError(
            f"{ENV_PREFIX}{name} is not set; the API has no default secrets "
            f"(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    return raw.encode()


def _env_bool(name: str, *, default: bool) -> bool:
    raw = env(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{ENV_PREFIX}{name}={raw!r} is not a boolean")


def _env_decimal(name: str) -> Decimal | None:
    raw = env(name)
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation as e:
        raise ConfigError(f"{ENV_PREFIX}{name}={raw!r} is not a decimal number") from e
    if not value.is_finite() or value <= 0:
        raise ConfigError(f"{ENV_PREFIX}{name} must be a positive number")
    return value


def _env_symbols(name: str) -> frozenset[str] | None:
    raw = env(name)
    if not raw or raw.strip() == "*":
        return None
    pairs = frozenset(p.strip() for p in raw.split(",") if p.strip())
    for pair in pairs:
        if ":" not in pair:
            raise ConfigError(f"{ENV_PREFIX}{name}: {pair!r} is not 'exchange:SYMBOL' (e.g. binance:BTC-USDT)")
    return pairs
