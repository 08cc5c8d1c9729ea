"""Bridge tokens and password hashing."""

import jwt
import pytest

from alphapulse.api.passwords import PasswordHasher, check_password_policy
from alphapulse.api.tokens import decode_bridge_token, issue_bridge_token

SECRET = b"k" * 48


def test_token_round_trip_and_expiry() -> None:
    token = issue_bridge_token(SECRET, username="alice", role="viewer", now_s=1_000, ttl_s=60)
    claims = decode_bridge_token(SECRET, token, now_s=1_059)
    assert (claims["sub"], claims["role"], claims["exp"]) == ("alice", "viewer", 1_060)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    with pytest.raises(jwt.ExpiredSignatureError):
        decode_bridge_token(SECRET, token, now_s=1_060)


def test_unsigned_and_foreign_tokens_are_refused() -> None:
    unsigned = jwt.encode(
        {"sub": "mallory", "role": "admin", "exp": 2**40, "aud": "alphapulse-bridge"}, None, algorithm="none"
    )
    with pytest.raises(jwt.InvalidTokenError):
        decode_bridge_token(SECRET, unsigned)
    other_audience = jwt.encode(
        {"sub": "x", "role": "admin", "exp": 2**40, "aud": "elsewhere"}, SECRET, algorithm="HS256"
    )
    with pytest.raises(jwt.InvalidAudienceError):
        decode_bridge_token(SECRET, other_audience)


def test_argon2id_hash_verifies_only_the_right_password() -> None:
    hasher = PasswordHasher()
    digest = hasher.hash("a long enough password")
    assert digest.startswith("$argon2id$")
    assert hasher.verify(digest, "a long enough password")
    assert not hasher.verify(digest, "another password!!")
    assert not hasher.verify(None, "a long enough password")
    assert not hasher.verify("not a hash", "a long enough password")


def test_password_policy() -> None:
    assert check_password_policy("short") is not None
    assert check_password_policy("x" * 300) is not None
    assert check_password_policy("twelve chars") is None
