"""``/api/auth``: log in and out, who am I, bridge tokens; ``/api/users``: admin user management."""

import asyncio
from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import Cookie
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from alphapulse.api import metrics
from alphapulse.api.auth import SESSION_COOKIE
from alphapulse.api.deps import Ctx, CurrentUser
from alphapulse.api.schemas import (
    BridgeTokenOut,
    CreateUserIn,
    LoginIn,
    RevokedOut,
    SessionOut,
    UpdateUserIn,
    UserOut,
)
from alphapulse.api.users import UserError, UserExistsError, create_user, list_users, user_out
from alphapulse.tokens import issue_token

__all__ = ("AuthController", "UsersController")

_USER_COLUMNS = "id, username, role, disabled, created_at"


def _ns_to_dt(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


class TooManyRequests(HTTPException):
    status_code = 429


class Conflict(HTTPException):
    status_code = 409


class AuthController(Controller):
    path = "/api/auth"
    tags = ["auth"]  # noqa: RUF012  (litestar reads class attributes)

    @post("/login", status_code=HTTP_200_OK, security=[], summary="Log in; sets the session cookie")
    async def login(self, request: Request[Any, Any, Any], data: JSONBody[LoginIn], ctx: Ctx) -> Response[SessionOut]:
        client = request.client.host if request.client else "unknown"
        verdict = await ctx.throttle.check(username=data.username, client=client)
        if not verdict.allowed:
            metrics.LOGINS.labels(result="throttled").inc()
            raise TooManyRequests(verdict.reason, headers={"Retry-After": str(verdict.retry_after_s)})
        row = await ctx.pool.fetchrow(
            f"SELECT {_USER_COLUMNS}, password_hash FROM users WHERE username = $1", data.username
        )
        ok = await asyncio.to_thread(ctx.hasher.verify, row["password_hash"] if row else None, data.password)
        if not ok or row is None or row["disabled"]:
            metrics.LOGINS.labels(result="failed").inc()
            await ctx.throttle.record_failure(data.username)
            raise NotAuthorizedException("invalid username or password")
        await ctx.throttle.record_success(data.username)
        sid, session = await ctx.sessions.create(user_id=row["id"], username=row["username"], role=row["role"])
        metrics.LOGINS.labels(result="ok").inc()
        cookie = Cookie(
            key=SESSION_COOKIE,
            value=sid,
            max_age=ctx.settings.session_ttl_s,
            path="/",
            httponly=True,
            secure=ctx.settings.cookie_secure,
            samesite="strict",
        )
        return Response(SessionOut(user=user_out(row), expires_at=_ns_to_dt(session.exp_ns)), cookies=[cookie])

    @post("/logout", status_code=HTTP_204_NO_CONTENT, summary="End this session")
    async def logout(self, principal: CurrentUser, ctx: Ctx) -> Response[None]:
        await ctx.sessions.delete(principal.session_id, user_id=principal.user_id)
        expired = Cookie(
            key=SESSION_COOKIE,
            value="",
            max_age=0,
            path="/",
            httponly=True,
            secure=ctx.settings.cookie_secure,
            samesite="strict",
        )
        return Response(None, status_code=HTTP_204_NO_CONTENT, cookies=[expired])

    @get("/me", summary="The logged-in user and when the session expires")
    async def me(self, principal: CurrentUser, ctx: Ctx) -> SessionOut:
        row = await ctx.pool.fetchrow(f"SELECT {_USER_COLUMNS} FROM users WHERE id = $1", principal.user_id)
        if row is None:
            raise NotAuthorizedException("user no longer exists")
        return SessionOut(user=user_out(row), expires_at=_ns_to_dt(principal.exp_ns))

    @post("/bridge-token", status_code=HTTP_201_CREATED, summary="A short-lived JWT for the bridge WebSocket")
    async def bridge_token(self, principal: CurrentUser, ctx: Ctx) -> BridgeTokenOut:
        now_s = ctx.clock.now_ns() // 1_000_000_000
        ttl_s = ctx.settings.bridge_token_ttl_s
        token = issue_token(ctx.settings.bridge_secret, principal.username, principal.role, now_s=now_s, ttl_s=ttl_s)
        return BridgeTokenOut(token=token, expires_at=datetime.fromtimestamp(now_s + ttl_s, tz=UTC))


class UsersController(Controller):
    path = "/api/users"
    tags = ["users"]  # noqa: RUF012
    opt = {"role": "admin"}  # noqa: RUF012

    @get("/", summary="List users (admin)")
    async def list_(self, principal: CurrentUser, ctx: Ctx) -> list[UserOut]:
        return await list_users(ctx.pool)

    @post("/", summary="Create a user (admin)")
    async def create(self, principal: CurrentUser, data: JSONBody[CreateUserIn], ctx: Ctx) -> UserOut:
        try:
            return await create_user(
                ctx.pool, ctx.hasher, username=data.username, password=data.password, role=data.role
            )
        except UserExistsError as e:
            raise Conflict(str(e)) from e
        except UserError as e:
            raise HTTPException(str(e), status_code=400) from e

    @delete("/{username:str}/sessions", status_code=HTTP_200_OK, summary="Revoke every session of a user (admin)")
    async def revoke_sessions(self, principal: CurrentUser, username: FromPath[str], ctx: Ctx) -> RevokedOut:
        user_id = await ctx.pool.fetchval("SELECT id FROM users WHERE username = $1", username)
        if user_id is None:
            raise NotFoundException(f"no user {username!r}")
        count = await ctx.sessions.revoke_user(user_id)
        return RevokedOut(username=username, sessions_revoked=count)

    @patch("/{username:str}", summary="Change a user's role or disable it; ends its sessions (admin)")
    async def update(
        self, principal: CurrentUser, username: FromPath[str], data: JSONBody[UpdateUserIn], ctx: Ctx
    ) -> UserOut:
        if username == principal.username and (data.disabled or (data.role not in {None, "admin"})):
            raise Conflict("an admin cannot demote or disable itself (ask another admin)")
        row = await ctx.pool.fetchrow(
            f"UPDATE users SET role = coalesce($2, role), disabled = coalesce($3, disabled) "
            f"WHERE username = $1 RETURNING {_USER_COLUMNS}",
            username,
            data.role,
            data.disabled,
        )
        if row is None:
            raise NotFoundException(f"no user {username!r}")
        # Sessions carry the role they were issued with: end them so the change applies at once.
        await ctx.sessions.revoke_user(row["id"])
        return user_out(row)

    @post("/{username:str}/unlock", status_code=HTTP_204_NO_CONTENT, summary="Clear a login lockout (admin)")
    async def unlock(self, principal: CurrentUser, username: FromPath[str], ctx: Ctx) -> None:
        await ctx.throttle.unlock(username)
