"""Password hashing (bridge tokens: services/tests/unit/bridge/test_bridge_auth.py, one implementation)."""

from alphapulse.api.passwords import PasswordHasher, check_password_policy


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
