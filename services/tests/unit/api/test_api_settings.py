"""Start-up settings: no default secrets, fail fast with a message that says what to do."""

import pytest

from alphapulse.api.settings import ApiSettings
from alphapulse.errors import ConfigError
from alphapulse.proxies import parse_trusted_proxies

GOOD = {"ALPHAPULSE_SESSION_SECRET": "s" * 40, "ALPHAPULSE_BRIDGE_SECRET": "b" * 40}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "ALPHAPULSE_SESSION_SECRET",
        "ALPHAPULSE_BRIDGE_SECRET",
        "ALPHAPULSE_RISK_ALLOWED_SYMBOLS",
        "ALPHAPULSE_RISK_MAX_ORDER_NOTIONAL",
        "ALPHAPULSE_COOKIE_SECURE",
        "ALPHAPULSE_TRUSTED_PROXIES",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("missing", ["ALPHAPULSE_SESSION_SECRET", "ALPHAPULSE_BRIDGE_SECRET"])
def test_a_missing_secret_fails_fast(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    for k, v in GOOD.items():
        if k != missing:
            monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError, match=f"{missing} is not set"):
        ApiSettings.from_env()


def test_short_or_shared_secrets_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPHAPULSE_SESSION_SECRET", "short")
    monkeypatch.setenv("ALPHAPULSE_BRIDGE_SECRET", "b" * 40)
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        ApiSettings.from_env()
    monkeypatch.setenv("ALPHAPULSE_SESSION_SECRET", "b" * 40)
    with pytest.raises(ConfigError, match="must differ"):
        ApiSettings.from_env()


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in GOOD.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("ALPHAPULSE_RISK_ALLOWED_SYMBOLS", "binance:BTC-USDT, kraken:ETH-USD")
    monkeypatch.setenv("ALPHAPULSE_RISK_MAX_ORDER_NOTIONAL", "2500.5")
    monkeypatch.setenv("ALPHAPULSE_COOKIE_SECURE", "false")
    settings = ApiSettings.from_env()
    assert settings.risk.allowed_symbols == frozenset({"binance:BTC-USDT", "kraken:ETH-USD"})
    assert str(settings.risk.max_order_notional) == "2500.5"
    assert settings.cookie_secure is False
    assert settings.trusted_proxies == ()  # trust nobody unless told
    assert settings.orders_stream == "alphapulse:orders"
    assert settings.order_events_stream == "alphapulse:order-events"
    assert "s" * 40 not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ALPHAPULSE_COOKIE_SECURE", "maybe"),
        ("ALPHAPULSE_RISK_MAX_ORDER_NOTIONAL", "-5"),
        ("ALPHAPULSE_RISK_ALLOWED_SYMBOLS", "BTC-USDT"),
        ("ALPHAPULSE_TRUSTED_PROXIES", "ingress-nginx"),
    ],
)
def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    for k, v in GOOD.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError):
        ApiSettings.from_env()


def test_trusted_proxies_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in GOOD.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("ALPHAPULSE_TRUSTED_PROXIES", "10.244.0.0/16,10.0.0.7")
    assert ApiSettings.from_env().trusted_proxies == ("10.244.0.0/16", "10.0.0.7")
    # a flag (an override) wins, and is checked like the environment
    assert ApiSettings.from_env(trusted_proxies=("*",)).trusted_proxies == ("*",)
    with pytest.raises(ConfigError, match=r"'10\.0\.0\.300' is not an IP address"):
        ApiSettings.from_env(trusted_proxies=("10.0.0.300",))


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("", ()),
        ("  ", ()),
        ("*", ("*",)),
        ("10.244.0.0/16", ("10.244.0.0/16",)),
        ("10.244.0.0/16, 192.168.1.10 ,fd00::/8", ("10.244.0.0/16", "192.168.1.10", "fd00::/8")),
        ("10.0.0.1 FD00:0::1", ("10.0.0.1", "fd00::1")),
    ],
)
def test_trusted_proxies_parse(raw: str, parsed: tuple[str, ...]) -> None:
    assert parse_trusted_proxies(raw) == parsed


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        # uvicorn keeps an entry it cannot parse as a literal that never matches: the login limit
        # would stay shared by every user without a word
        ("ingress-nginx", "'ingress-nginx' is not an IP address or a CIDR network"),
        ("10.244.1.5/16", "has host bits set; the network is 10.244.0.0/16"),
        ("10.244.0.0/33", "'10.244.0.0/33' is not an IP address"),
        ("*, 10.0.0.1", "'*' trusts every peer and cannot be combined"),
    ],
)
def test_trusted_proxies_refuse_what_uvicorn_would_silently_ignore(raw: str, needle: str) -> None:
    with pytest.raises(ConfigError, match="ALPHAPULSE_TRUSTED_PROXIES") as info:
        parse_trusted_proxies(raw)
    assert needle in str(info.value)
