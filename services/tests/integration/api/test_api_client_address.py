"""Which address the login limit counts: the TCP peer, or X-Forwarded-For from a trusted proxy.

The real API under uvicorn with the production config (``alphapulse.api.server.uvicorn_config``), over
real sockets, PostgreSQL and Redis. The "proxy" is this test's HTTP client: it connects from 127.0.0.1
(trusted when ``trusted_proxies`` names it) or from 127.0.0.2 (another loopback address, never
trusted here), and sends the X-Forwarded-For an Ingress controller would.
"""

import logging

import httpx
import pytest
from api_harness import TEST_PASSWORD, RunningApi, login

CLIENT_A = "203.0.113.7"
CLIENT_B = "198.51.100.9"
UNTRUSTED_PEER = "127.0.0.2"


def _at_start_of_a_minute(api: RunningApi) -> None:
    """Move the API's clock to just after a minute boundary: the per-address window is a calendar
    minute, and a test crossing one would see its count reset half way."""
    now_s = api.clock.now_ns() / 1e9
    api.clock.advance(60 - now_s % 60 + 0.001)


def _client(api: RunningApi, *, source: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=source)
    return httpx.AsyncClient(base_url=api.base_url, timeout=10, transport=transport)


async def _spend_the_address_limit(client: httpx.AsyncClient, api: RunningApi, *, xff: list[str]) -> None:
    """``login_ip_per_minute`` failed logins, each for another unknown user (so no username lockout
    interferes), with the given X-Forwarded-For values in turn; every one must still be answered."""
    for i in range(api.settings.login_ip_per_minute):
        resp = await client.post(
            "/api/auth/login",
            json={"username": f"nobody-{i}", "password": "wrong-password-x"},
            headers={"X-Forwarded-For": xff[i % len(xff)]},
        )
        assert resp.status_code == 401, (i, resp.text)


async def _login_as(client: httpx.AsyncClient, username: str, *, xff: str) -> httpx.Response:
    return await client.post(
        "/api/auth/login",
        json={"username": username, "password": TEST_PASSWORD},
        headers={"X-Forwarded-For": xff},
    )


async def _counted_addresses(api: RunningApi) -> set[str]:
    """The addresses the login throttle has keys for (``<prefix>login-attempts:<addr>:<minute>``)."""
    prefix = f"{api.settings.key_prefix}login-attempts:"
    keys = [k.decode() async for k in api.redis.scan_iter(match=f"{prefix}*")]
    return {k.removeprefix(prefix).rsplit(":", 1)[0] for k in keys}


def _is_address_limit(resp: httpx.Response) -> bool:
    return resp.status_code == 429 and "from this address" in resp.json()["detail"]


class TestBehindATrustedProxy:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, object]:
        return {"trusted_proxies": ("127.0.0.1",), "access_log": True}

    async def test_each_forwarded_address_has_its_own_limit(
        self, api: RunningApi, users: dict[str, int], caplog: pytest.LogCaptureFixture
    ) -> None:
        assert api.settings.login_ip_per_minute == 30  # the default, as deployed
        caplog.set_level(logging.INFO, logger="alphapulse.api.access")
        _at_start_of_a_minute(api)
        async with _client(api) as proxy:
            await _spend_the_address_limit(proxy, api, xff=[CLIENT_A])
            assert _is_address_limit(await _login_as(proxy, "trader", xff=CLIENT_A))
            # another browser behind the same controller is not locked out by A
            resp = await _login_as(proxy, "trader", xff=CLIENT_B)
            assert resp.status_code == 200, resp.text
            # the right-most entry is the one the proxy appended; what the client sent before it is
            # its own claim and is not believed (ingress-nginx with compute-full-forwarded-for)
            assert _is_address_limit(await _login_as(proxy, "viewer", xff=f"{CLIENT_B}, {CLIENT_A}"))
        assert await _counted_addresses(api) == {CLIENT_A, CLIENT_B}
        # the access log names the browser too, not the proxy
        logged = {r.__dict__["client"] for r in caplog.records if r.name == "alphapulse.api.access"}
        assert {CLIENT_A, CLIENT_B} <= logged
        assert "127.0.0.1" not in logged

    async def test_an_untrusted_peer_cannot_forward(self, api: RunningApi, users: dict[str, int]) -> None:
        _at_start_of_a_minute(api)
        async with _client(api, source=UNTRUSTED_PEER) as direct:
            # a different X-Forwarded-For on every attempt buys nothing: the peer's address is counted
            await _spend_the_address_limit(direct, api, xff=[f"192.0.2.{i}" for i in range(1, 200)])
            assert _is_address_limit(await _login_as(direct, "trader", xff="192.0.2.250"))
        assert await _counted_addresses(api) == {UNTRUSTED_PEER}
        async with _client(api) as proxy:  # the trusted proxy's users are unaffected
            assert (await _login_as(proxy, "trader", xff=CLIENT_A)).status_code == 200


async def test_without_trusted_proxies_x_forwarded_for_is_ignored(api: RunningApi, users: dict[str, int]) -> None:
    assert api.settings.trusted_proxies == ()  # the default
    _at_start_of_a_minute(api)
    async with _client(api) as client:
        await _spend_the_address_limit(client, api, xff=[f"192.0.2.{i}" for i in range(1, 200)])
        assert _is_address_limit(await _login_as(client, "trader", xff="192.0.2.250"))
        assert _is_address_limit(await login(client, "trader"))
    assert await _counted_addresses(api) == {"127.0.0.1"}
