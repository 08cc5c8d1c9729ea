"""Password hashing with argon2id (argon2-cffi's RFC 9106 low-memory profile)."""

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ("MAX_PASSWORD_CHARS", "MIN_PASSWORD_CHARS", "PasswordHasher", "check_password_policy")

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 256  # bounds the hashing work one request can ask for


def check_password_policy(password: str) -> str | None:
    """``None`` when acceptable, otherwise the reason it is not."""
    if len(password) < MIN_PASSWORD_CHARS:
        return f"password must be at least {MIN_PASSWORD_CHARS} characters"
    if len(password) > MAX_PASSWORD_CHARS:
        return f"password must be at most {MAX_PASSWORD_CHARS} characters"
    return None


class PasswordHasher:
    def __init__(self, parameters: argon2.Parameters = argon2.profiles.RFC_9106_LOW_MEMORY) -> None:
        self._hasher = argon2.PasswordHasher.from_parameters(parameters)
        # Verifying against this keeps an unknown username as slow as a wrong password.
        self._dummy_hash = self._hasher.hash("not-a-real-password-only-for-timing")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """``password_hash`` is ``None`` for an unknown user: the same work is done, and it fails."""
        try:
            self._hasher.verify(password_hash or self._dummy_hash, password)  # raises unless it matches
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return password_hash is not None
