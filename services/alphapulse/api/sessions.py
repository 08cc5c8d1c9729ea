"""Redis-backed sessions and login throttling.

A session id is 32 random bytes handed to the browser in an HttpOnly cookie. Redis stores the
session under ``HMAC-SHA256(session_secret, id)``, so whoever reads Redis (a dump, a replica)
learns no usable cookie. Each user's session keys are also kept in a set, which is what makes
"revoke every session of this user" one call. Expiry is both a Redis TTL and an ``exp_ns`` checked
against the clock, so an expired session is refused even before Redis evicts it.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import msgspec
import redis.asyncio as aioredis

from alphapulse.clock import Clock

__all__ = ("LoginThrottle", "Session", "SessionStore", "ThrottleVerdict")


class Session(msgspec.Struct, frozen=True):
    user_id: int
    username: str
    role: str
    created_ns: int
    exp_ns: int


class SessionStore:
    def __init__(self, redis: "aioredis.Redis", *, secret: bytes, prefix: str, ttl_s: int, clock: Clock) -> None:
        self._redis = redis
        self._secret = secret
        self._prefix = prefix
        self._ttl_s = ttl_s
        self._clock = clock

    def _key(self, sid: str) -> str:
        digest = hmac.new(self._secret, sid.encode(), hashlib.sha256).hexdigest()
        return f"{self._prefix}session:{digest}"

    def _user_key(self, user_id: int) -> str:
        return f"{self._prefix}user-sessions:{user_id}"

    async def create(self, *, user_id: int, username: str, role: str) -> tuple[str, Session]:
        sid = secrets.token_urlsafe(32)
        now_ns = self._clock.now_ns()
        session = Session(user_id, username, role, now_ns, now_ns + self._ttl_s * 1_000_000_000)
        key = self._key(sid)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(key, msgspec.json.encode(session), ex=self._ttl_s)
            pipe.sadd(self._user_key(user_id), key)
            pipe.expire(self._user_key(user_id), self._ttl_s)
            await pipe.execute()
        return sid, session

    async def get(self, sid: str) -> Session | None:
        if not sid or len(sid) > 128:
            return None
        raw = await self._redis.get(self._key(sid))
        if raw is None:
            return None
        session = msgspec.json.decode(raw, type=Session)
        if session.exp_ns <= self._clock.now_ns():
            await self.delete(sid, user_id=session.user_id)
            return None
        return session

    async def delete(self, sid: str, *, user_id: int) -> None:
        key = self._key(sid)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.srem(self._user_key(user_id), key)
            await pipe.execute()

    async def revoke_user(self, user_id: int) -> int:
        """Delete every session of ``user_id``; returns how many were live."""
        user_key = self._user_key(user_id)
        keys = await self._redis.smembers(user_key)
        deleted = 0
        if keys:
            deleted = int(await self._redis.delete(*keys))
        await self._redis.delete(user_key)
        return deleted


@dataclass(frozen=True, slots=True)
class ThrottleVerdict:
    allowed: bool
    retry_after_s: int = 0
    reason: str = ""


class LoginThrottle:
    """Per-username lockout after N failures, and a per-client-address rate limit on attempts."""

    def __init__(
        self,
        redis: "aioredis.Redis",
        *,
        prefix: str,
        max_failures: int,
        lockout_s: int,
        ip_per_minute: int,
        clock: Clock,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._max_failures = max_failures
        self._lockout_s = lockout_s
        self._ip_per_minute = ip_per_minute
        self._clock = clock

    def _fail_key(self, username: str) -> str:
        return f"{self._prefix}login-failures:{username.lower()}"

    async def check(self, *, username: str, client: str) -> ThrottleVerdict:
        """Count this attempt against the client address and refuse it if either limit is hit."""
        minute = self._clock.now_ns() // 60_000_000_000
        ip_key = f"{self._prefix}login-attempts:{client}:{minute}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(ip_key)
            pipe.expire(ip_key, 60)
            pipe.get(self._fail_key(username))
            pipe.ttl(self._fail_key(username))
            attempts, _, failures, ttl = await pipe.execute()
        if int(failures or 0) >= self._max_failures:
            return ThrottleVerdict(False, max(int(ttl), 1), "too many failed logins: account temporarily locked")
        if int(attempts) > self._ip_per_minute:
            return ThrottleVerdict(False, 60, "too many login attempts from this address")
        return ThrottleVerdict(True)

    async def record_failure(self, username: str) -> int:
        key = self._fail_key(username)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, self._lockout_s)
            count, _ = await pipe.execute()
        return int(count)

    async def record_success(self, username: str) -> None:
        await self._redis.delete(self._fail_key(username))

    async def unlock(self, username: str) -> None:
        await self._redis.delete(self._fail_key(username))
