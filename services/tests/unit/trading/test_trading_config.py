"""Strategy files: paper by default, real execution only when asked twice and keyed from the environment."""

import pytest

from alphapulse.errors import ConfigError
from alphapulse.protocol import Exchange
from alphapulse.trading.config import parse_trade_spec


def test_defaults_are_paper_on_every_venue_with_the_order_gateway() -> None:
    spec = parse_trade_spec({}, env={})
    assert {v.exchange for v in spec.venues} == set(Exchange)
    assert all(v.mode == "paper" and v.api_key is None for v in spec.venues)
    assert spec.orders.enabled and spec.orders.stream == "alphapulse:orders"
    assert spec.orders.redis_url == "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(
    ("venue", "env", "message"),
    [
        ({"mode": "live"}, {}, "live: true"),
        ({"mode": "live", "live": True}, {}, "api_key_env"),
        ({"mode": "live", "live": True, "api_key_env": "K", "api_secret_env": "S"}, {"K": "k"}, "must both be set"),
        ({"mode": "livee"}, {}, "paper or live"),
        ({"book_type": "L3_MBO"}, {}, "L1_MBP or L2_MBP"),
        ({"leverage": 5}, {}, "unknown key"),
    ],
)
def test_live_execution_is_refused_unless_fully_configured(
    venue: dict[str, object], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_trade_spec({"venues": {"BINANCE": venue}}, env=env)


def test_coinbase_has_no_live_adapter_and_keys_come_from_the_environment() -> None:
    live = {"mode": "live", "live": True, "api_key_env": "K", "api_secret_env": "S"}
    with pytest.raises(ConfigError, match="no execution adapter"):
        parse_trade_spec({"venues": {"COINBASE": live}}, env={"K": "k", "S": "s"})
    (kraken,) = parse_trade_spec({"venues": {"KRAKEN": live}}, env={"K": "key", "S": "secret"}).venues
    assert (kraken.mode, kraken.api_key, kraken.api_secret) == ("live", "key", "secret")
    assert "secret" not in repr(kraken)


def test_strategies_and_errors_name_their_place() -> None:
    spec = parse_trade_spec({"strategies": [{"path": "pkg.mod:Strat", "config": {"a": 1}}]}, env={})
    assert spec.strategies[0].resolved_config_path == "pkg.mod:StratConfig"
    with pytest.raises(ConfigError, match=r"strategies\[0\].path"):
        parse_trade_spec({"strategies": [{"path": "nocolon"}]}, env={})
    with pytest.raises(ConfigError, match="trader_id"):
        parse_trade_spec({"trader_id": "PAPER"}, env={})
