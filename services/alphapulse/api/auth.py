"""Who is calling: the session cookie resolved to a :class:`Principal`, and the role it needs.

A handler declares ``principal: Principal`` to require a live session; the role it needs comes
from the handler's ``opt={"role": ...}`` (default ``viewer``). Roles are ordered
viewer < trader < admin: a trader may do what a viewer may, an admin everything.
"""

from dataclasses import dataclass
from typing import Any, Final

from litestar import Request
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from alphapulse.api.context import ApiContext

__all__ = ("ROLE_RANK", "SESSION_COOKIE", "Principal", "provide_principal", "role_at_least")

SESSION_COOKIE: Final = "alphapulse_session"
ROLE_RANK: Final = {"viewer": 0, "trader": 1, "admin": 2}


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    username: str
    role: str
    session_id: str
    exp_ns: int

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def role_at_least(role: str, needed: str) -> bool:
    return ROLE_RANK.get(role, -1) >= ROLE_RANK[needed]


async def provide_principal(request: Request[Any, Any, Any], ctx: NamedDependency[ApiContext]) -> Principal:
    sid = request.cookies.get(SESSION_COOKIE)
    if not sid:
        raise NotAuthorizedException("not logged in: POST /api/auth/login first")
    session = await ctx.sessions.get(sid)
    if session is None:
        raise NotAuthorizedException("session expired or revoked: log in again")
    needed = request.route_handler.opt.get("role", "viewer")
    if not role_at_least(session.role, needed):
        raise PermissionDeniedException(f"this action needs the {needed} role; you are {session.role}")
    return Principal(session.user_id, session.username, session.role, sid, session.exp_ns)
