"""Short-lived HS256 JWTs for the bridge WebSocket (DESIGN.md: claims sub, role, exp)."""

from typing import Any

import jwt

__all__ = ("BRIDGE_AUDIENCE", "decode_bridge_token", "issue_bridge_token")

BRIDGE_AUDIENCE = "alphapulse-bridge"


def issue_bridge_token(secret: bytes, *, username: str, role: str, now_s: int, ttl_s: int) -> str:
    claims = {"sub": username, "role": role, "iat": now_s, "exp": now_s + ttl_s, "aud": BRIDGE_AUDIENCE}
    return jwt.encode(claims, secret, algorithm="HS256")


def decode_bridge_token(secret: bytes, token: str, *, now_s: int | None = None) -> dict[str, Any]:
    """What the bridge does: verify signature, algorithm, audience and expiry. Raises ``jwt.InvalidTokenError``."""
    options: jwt.types.Options = {"require": ["sub", "role", "exp"]}
    if now_s is not None:
        # PyJWT checks ``exp`` against the wall clock; a caller with its own clock checks it itself.
        options["verify_exp"] = False
    claims: dict[str, Any] = jwt.decode(token, secret, algorithms=["HS256"], audience=BRIDGE_AUDIENCE, options=options)
    if now_s is not None and int(claims["exp"]) <= now_s:
        raise jwt.ExpiredSignatureError("Signature has expired")
    return claims
