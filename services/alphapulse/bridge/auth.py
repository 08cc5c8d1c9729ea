"""Browser tokens: short-lived HS256 JWTs signed with ``ALPHAPULSE_BRIDGE_SECRET``.

The API issues them; ``alphapulse bridge token`` prints one for development. Claims: ``sub``
(who), ``role`` (viewer, trader or admin), ``exp`` (expiry, seconds since the epoch) and ``iat``.
"""

from dataclasses import dataclass
from typing import Final

import jwt

from alphapulse.errors import ConfigError

__all__ = (
    "AUDIENCE",
    "MIN_SECRET_BYTES",
    "ROLES",
    "Principal",
    "TokenError",
    "issue_token",
    "require_secret",
    "verify_token",
)

ROLES: Final = ("viewer", "trader", "admin")
MIN_SECRET_BYTES: Final = 32  # RFC 7518 §3.2: an HS256 key must be at least as long as the hash output
ALGORITHM: Final = "HS256"
# The API's tokens name the bridge as their audience (api/tokens.py); the bridge must check it, and
# PyJWT refuses a token with an ``aud`` claim when no audience is expected. Found by the end-to-end
# security test (e2e/test_security_auth.py): API-issued tokens were refused with "Invalid audience".
AUDIENCE: Final = "alphapulse-bridge"
_LEEWAY_S: Final = 5  # clock skew tolerated between the API that signs and the bridge that checks


class TokenError(Exception):
    """The token is missing, malformed, badly signed, expired or lacks a claim; the message says which."""


@dataclass(frozen=True, slots=True)
class Principal:
    sub: str
    role: str
    exp_s: int


def require_secret(secret: str | None) -> bytes:
    """The signing key, or a ConfigError: there is no default secret, in development either."""
    if not secret:
        raise ConfigError("ALPHAPULSE_BRIDGE_SECRET is not set; the bridge refuses to run without a token secret")
    key = secret.encode()
    if len(key) < MIN_SECRET_BYTES:
        raise ConfigError(f"ALPHAPULSE_BRIDGE_SECRET must be at least {MIN_SECRET_BYTES} bytes (got {len(key)})")
    return key


def issue_token(key: bytes, sub: str, role: str, *, now_s: int, ttl_s: int = 300) -> str:
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if not sub:
        raise ValueError("sub must not be empty")
    claims = {"sub": sub, "role": role, "iat": now_s, "exp": now_s + ttl_s, "aud": AUDIENCE}
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def verify_token(key: bytes, token: str, *, now_s: int | None = None) -> Principal:
    """Check signature, algorithm, expiry and claims; raise TokenError with a reason a client can show."""
    options: dict[str, bool | list[str]] = {"require": ["exp", "sub", "role", "aud"]}
    if now_s is not None:
        # time claims are checked below against the injected clock, not the system's
        options.update(verify_exp=False, verify_iat=False, verify_nbf=False)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options=options,  # type: ignore[arg-type]
            leeway=_LEEWAY_S,
        )
    except jwt.ExpiredSignatureError as e:
        raise TokenError("token expired") from e
    except jwt.InvalidSignatureError as e:
        raise TokenError("token signature is invalid") from e
    except jwt.MissingRequiredClaimError as e:
        raise TokenError(f"token lacks the {e.claim!r} claim") from e
    except jwt.InvalidTokenError as e:
        raise TokenError(f"token is invalid: {e}") from e
    sub, role, exp = claims.get("sub"), claims.get("role"), claims.get("exp")
    if not isinstance(sub, str) or not sub:
        raise TokenError("token 'sub' claim must be a non-empty string")
    if role not in ROLES:
        raise TokenError(f"token role {role!r} is not one of {', '.join(ROLES)}")
    if not isinstance(exp, int):
        raise TokenError("token 'exp' claim must be an integer")
    if now_s is not None and exp + _LEEWAY_S < now_s:
        raise TokenError("token expired")
    return Principal(sub, role, exp)
