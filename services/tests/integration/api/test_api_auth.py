"""Auth flows against a real server, PostgreSQL and Redis."""

import jwt
import pytest
from api_harness import TEST_PASSWORD, RunningApi, login

from alphapulse.api.auth import SESSION_COOKIE
from alphapulse.tokens import TokenError, verify_token

PROBLEM = "application/problem+json"


async def test_login_sets_a_hardened_session_cookie(api: RunningApi, users: dict[str, int]) -> None:
    async with api.client() as client:
        resp = await login(client, "trader")
        assert resp.status_code == 200, resp.text
        assert resp.json()["user"]["username"] == "trader"
        assert resp.json()["user"]["role"] == "trader"
        set_cookie = resp.headers["set-cookie"].lower()
        assert set_cookie.startswith(f"{SESSION_COOKIE}=")
        assert "httponly" in set_cookie
        assert "samesite=strict" in set_cookie
        me = await client.get("/api/auth/me")
        assert me.status_code == 200
        assert me.json()["user"]["id"] == users["trader"]


async def test_secure_flag_is_on_by_default(api: RunningApi, users: dict[str, int], database: str, prefix: str) -> None:
    from api_harness import OffsetClock, make_settings, serve_api

    settings = make_settings(database, prefix + "secure:")
    assert make_settings(database, prefix, cookie_secure=True).cookie_secure
    async with serve_api(settings.with_(cookie_secure=True), OffsetClock()) as base:
        import httpx

        async with httpx.AsyncClient(base_url=base) as client:
            resp = await login(client, "viewer")
            assert resp.status_code == 200
            assert "secure" in resp.headers["set-cookie"].lower()


async def test_wrong_password_is_401_problem(api: RunningApi, users: dict[str, int]) -> None:
    async with api.client() as client:
        resp = await login(client, "trader", "not-the-password")
        assert resp.status_code == 401
        assert resp.headers["content-type"].startswith(PROBLEM)
        assert resp.json()["detail"] == "invalid username or password"
        assert "set-cookie" not in resp.headers
        unknown = await login(client, "nobody-here", "whatever-password")
        assert unknown.status_code == 401
        assert unknown.json()["detail"] == resp.json()["detail"]  # no user enumeration


async def test_lockout_after_too_many_failures_even_with_the_right_password(
    api: RunningApi, users: dict[str, int]
) -> None:
    async with api.client() as client:
        for _ in range(api.settings.login_max_failures):
            assert (await login(client, "trader", "wrong-password-x")).status_code == 401
        locked = await login(client, "trader")
        assert locked.status_code == 429
        assert int(locked.headers["retry-after"]) > 0
        assert "locked" in locked.json()["detail"]
        # other users are not affected
        assert (await login(client, "viewer")).status_code == 200
        # an admin clears the lockout
        admin = await login(client, "admin")
        assert admin.status_code == 200
        assert (await client.post("/api/users/trader/unlock")).status_code == 204
        assert (await login(client, "trader")).status_code == 200


async def test_expired_session_is_refused(api: RunningApi, users: dict[str, int]) -> None:
    async with api.client() as client:
        assert (await login(client, "viewer")).status_code == 200
        assert (await client.get("/api/auth/me")).status_code == 200
        api.clock.advance(api.settings.session_ttl_s + 1)
        resp = await client.get("/api/auth/me")
        assert resp.status_code == 401
        assert "expired" in resp.json()["detail"]


async def test_no_cookie_and_forged_cookie_are_401(api: RunningApi, users: dict[str, int]) -> None:
    async with api.client() as client:
        assert (await client.get("/api/auth/me")).status_code == 401
        client.cookies.set(SESSION_COOKIE, "forged-session-id")
        assert (await client.get("/api/auth/me")).status_code == 401


async def test_logout_ends_the_session(api: RunningApi, users: dict[str, int]) -> None:
    async with api.client() as client:
        await login(client, "viewer")
        sid = client.cookies[SESSION_COOKIE]
        assert (await client.post("/api/auth/logout")).status_code == 204
        client.cookies.set(SESSION_COOKIE, sid)  # replaying the old cookie does not work
        assert (await client.get("/api/auth/me")).status_code == 401


async def test_admin_revokes_every_session_of_a_user(api: RunningApi, users: dict[str, int]) -> None:
    async with api.client() as t1, api.client() as t2, api.client() as admin:
        await login(t1, "trader")
        await login(t2, "trader")
        await login(admin, "admin")
        resp = await admin.delete("/api/users/trader/sessions")
        assert resp.status_code == 200
        assert resp.json() == {"username": "trader", "sessions_revoked": 2}
        assert (await t1.get("/api/auth/me")).status_code == 401
        assert (await t2.get("/api/auth/me")).status_code == 401
        assert (await admin.get("/api/auth/me")).status_code == 200
        assert (await admin.delete("/api/users/nobody/sessions")).status_code == 404


async def test_session_keys_in_redis_are_not_the_cookie(api: RunningApi, users: dict[str, int]) -> None:
    async with api.client() as client:
        await login(client, "viewer")
        sid = client.cookies[SESSION_COOKIE]
    keys = [k.decode() async for k in api.redis.scan_iter(match=f"{api.settings.key_prefix}session:*")]
    assert len(keys) == 1
    assert sid not in keys[0]


async def test_bridge_token_carries_sub_role_and_short_expiry(api: RunningApi, users: dict[str, int]) -> None:
    async with api.client() as client:
        await login(client, "trader")
        resp = await client.post("/api/auth/bridge-token")
        assert resp.status_code == 201
        token = resp.json()["token"]
    # verified exactly as the bridge verifies it (one implementation: alphapulse.tokens)
    claims = verify_token(api.settings.bridge_secret, token)
    assert claims.sub == "trader"
    assert claims.role == "trader"
    raw = jwt.decode(token, options={"verify_signature": False})
    assert raw["aud"] == "alphapulse-bridge"
    assert 0 < raw["exp"] - raw["iat"] <= api.settings.bridge_token_ttl_s
    with pytest.raises(TokenError, match="signature"):
        verify_token(api.settings.session_secret, token)
    with pytest.raises(TokenError, match="expired"):
        verify_token(api.settings.bridge_secret, token, now_s=claims.exp_s + 60)


async def test_user_management_is_admin_only(api: RunningApi, users: dict[str, int]) -> None:
    async with api.client() as trader, api.client() as admin:
        await login(trader, "trader")
        await login(admin, "admin")
        assert (await trader.get("/api/users")).status_code == 403
        new = {"username": "analyst", "password": TEST_PASSWORD, "role": "viewer"}
        assert (await trader.post("/api/users", json=new)).status_code == 403
        created = await admin.post("/api/users", json=new)
        assert created.status_code == 201, created.text
        assert created.json()["role"] == "viewer"
        assert (await admin.post("/api/users", json=new)).status_code == 409
        weak = await admin.post("/api/users", json={**new, "username": "weakling", "password": "short"})
        assert weak.status_code == 400
        assert "at least" in weak.json()["detail"]
        bad_role = await admin.post("/api/users", json={**new, "username": "x-user", "role": "root"})
        assert bad_role.status_code == 400
        assert bad_role.headers["content-type"].startswith(PROBLEM)
        names = [u["username"] for u in (await admin.get("/api/users")).json()]
        assert names == ["admin", "trader", "viewer", "analyst"]


async def test_login_input_is_validated(api: RunningApi, users: dict[str, int]) -> None:
    async with api.client() as client:
        for body in (
            {},
            {"username": "trader"},
            {"username": "", "password": "x"},
            {"username": "trader", "password": "x" * 300},
            {"username": "t", "password": "p", "extra": 1},
        ):
            resp = await client.post("/api/auth/login", json=body)
            assert resp.status_code == 400, body
            assert resp.headers["content-type"].startswith(PROBLEM)
        resp = await client.post("/api/auth/login", content=b"{not json", headers={"content-type": "application/json"})
        assert resp.status_code == 400


async def test_admin_changes_a_role_or_disables_a_user_and_their_sessions_end(
    api: RunningApi, users: dict[str, int]
) -> None:
    async with api.client() as admin, api.client() as trader:
        await login(admin, "admin")
        await login(trader, "trader")
        demoted = await admin.patch("/api/users/trader", json={"role": "viewer"})
        assert demoted.status_code == 200, demoted.text
        assert demoted.json()["role"] == "viewer"
        assert (await trader.get("/api/auth/me")).status_code == 401  # the old session carried "trader"
        relogged = await login(trader, "trader")
        assert relogged.json()["user"]["role"] == "viewer"
        assert (await admin.patch("/api/users/trader", json={"disabled": True})).json()["disabled"] is True
        assert (await trader.get("/api/auth/me")).status_code == 401
        assert (await login(trader, "trader")).status_code == 401  # disabled: same answer as a wrong password
        assert (await admin.patch("/api/users/admin", json={"role": "viewer"})).status_code == 409
        assert (await admin.patch("/api/users/nobody", json={"disabled": True})).status_code == 404
        assert (await admin.patch("/api/users/trader", json={"role": "root"})).status_code == 400
        assert (await trader.patch("/api/users/admin", json={"disabled": True})).status_code == 401
