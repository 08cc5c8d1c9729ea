"""Tokens: HS256 with the bridge secret; every way a token can be wrong says why."""

import jwt
import pytest

from alphapulse.bridge.auth import AUDIENCE, Principal, TokenError, issue_token, require_secret, verify_token
from alphapulse.errors import ConfigError

KEY = b"k" * 32
NOW = 1_800_000_000


def test_round_trip() -> None:
    token = issue_token(KEY, "alice", "trader", now_s=NOW, ttl_s=60)
    assert verify_token(KEY, token, now_s=NOW + 30) == Principal("alice", "trader", NOW + 60)


@pytest.mark.parametrize(
    ("token", "needle"),
    [
        (issue_token(KEY, "alice", "viewer", now_s=NOW, ttl_s=60), "expired"),
        (issue_token(b"x" * 32, "alice", "viewer", now_s=NOW + 1000), "signature"),
        (jwt.encode({"sub": "a", "exp": NOW + 2000}, KEY, algorithm="HS256"), "role"),
        (jwt.encode({"sub": "a", "role": "god", "exp": NOW + 2000, "aud": AUDIENCE}, KEY, algorithm="HS256"), "role"),
        (jwt.encode({"sub": "a", "role": "viewer", "exp": NOW + 2000}, KEY, algorithm="HS256"), "aud"),
        (
            jwt.encode({"sub": "a", "role": "viewer", "exp": NOW + 2000, "aud": "x"}, KEY, algorithm="HS256"),
            "(?i)audience",
        ),
        (jwt.encode({"role": "viewer", "exp": NOW + 2000}, KEY, algorithm="HS256"), "sub"),
        (jwt.encode({"sub": "a", "role": "viewer", "exp": NOW + 2000}, KEY * 2, algorithm="HS384"), "invalid"),
        ("not-a-jwt", "invalid"),
    ],
)
def test_bad_tokens_are_refused_with_a_reason(token: str, needle: str) -> None:
    with pytest.raises(TokenError, match=needle):
        verify_token(KEY, token, now_s=NOW + 1000)


def test_unsigned_token_is_refused() -> None:
    token = jwt.encode({"sub": "a", "role": "admin", "exp": NOW + 2000}, None, algorithm="none")
    with pytest.raises(TokenError):
        verify_token(KEY, token, now_s=NOW)


def test_secret_is_required_and_long_enough() -> None:
    with pytest.raises(ConfigError, match="not set"):
        require_secret(None)
    with pytest.raises(ConfigError, match="at least 32"):
        require_secret("short")
    assert require_secret("s" * 32) == b"s" * 32
