"""The bridge's front door over real WebSockets: tokens, origins, sizes, malformed input, HTTP routes."""

import asyncio
import time

import httpx
import jwt
import orjson
import pytest
from bridge_harness import KEY, eventually_true, running_bridge, token
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from alphapulse.tokens import BRIDGE_AUDIENCE as AUDIENCE


async def close_of(url: str, *messages: str | bytes, origin: str | None = None) -> tuple[int, str]:
    """Send ``messages`` and return the close code and reason the bridge answers with."""
    async with connect(url, origin=origin, compression=None) as ws:  # type: ignore[arg-type]
        for m in messages:
            await ws.send(m)
        with pytest.raises(ConnectionClosed) as info:
            await _drain(ws)
    assert info.value.rcvd is not None
    return info.value.rcvd.code, info.value.rcvd.reason


async def _drain(ws: ClientConnection) -> None:
    """Read until the bridge closes the connection (raises ConnectionClosed)."""
    while True:
        await asyncio.wait_for(ws.recv(), 10)


def auth(tok: str) -> str:
    return orjson.dumps({"op": "auth", "token": tok}).decode()


async def refused_before_upgrade(url: str, headers: list[tuple[str, str]] | None = None) -> bytes:
    """Connect expecting the bridge's 503 before the WebSocket upgrade; return the reason it gives."""
    with pytest.raises(InvalidStatus) as info:
        async with connect(url, origin="http://good.example", additional_headers=headers):  # type: ignore[arg-type]
            pass
    assert info.value.response.status_code == 503
    assert info.value.response.headers["Retry-After"] == "1"
    return bytes(info.value.response.body)


async def test_bad_tokens_are_refused_with_4001_and_a_reason() -> None:
    async with running_bridge() as bridge:
        expired = jwt.encode(
            {"sub": "a", "role": "viewer", "exp": int(time.time()) - 60, "aud": AUDIENCE}, KEY, algorithm="HS256"
        )
        forged = jwt.encode({"sub": "a", "role": "admin", "exp": int(time.time()) + 60}, b"f" * 32, algorithm="HS256")
        assert await close_of(bridge.url, auth(expired)) == (4001, "token expired")
        assert await close_of(bridge.url, auth(forged)) == (4001, "token signature is invalid")
        code, reason = await close_of(bridge.url, auth("garbage"))
        assert code == 4001
        assert reason.startswith("token is invalid")
        assert bridge.metric("alphapulse_bridge_rejected_total", reason="token") == 3


async def test_first_message_must_be_auth_and_come_in_time() -> None:
    async with running_bridge(auth_timeout_s=0.2) as bridge:
        sub = orjson.dumps({"op": "subscribe", "exchange": "binance", "symbols": ["BTC-USDT"]}).decode()
        code, reason = await close_of(bridge.url, sub)
        assert code == 4002
        assert "first message must be" in reason
        code, reason = await close_of(bridge.url)
        assert code == 4002
        assert "within 0.2 s" in reason
        assert bridge.metric("alphapulse_bridge_rejected_total", reason="auth_timeout") == 1


async def test_bad_origin_is_refused_at_the_handshake() -> None:
    async with running_bridge(origins=["http://good.example"]) as bridge:
        with pytest.raises(InvalidStatus) as info:
            async with connect(bridge.url, origin="http://evil.example"):  # type: ignore[arg-type]
                pass
        assert info.value.response.status_code == 403
        assert b"origin http://evil.example is not allowed" in info.value.response.body
        async with connect(bridge.url, origin="http://good.example") as ws:  # type: ignore[arg-type]
            await ws.send(auth(token()))
            assert orjson.loads(await ws.recv())[0]["type"] == "welcome"
        assert bridge.metric("alphapulse_bridge_rejected_total", reason="origin") == 1


async def test_oversized_message_is_refused_with_1009() -> None:
    async with running_bridge(max_message_bytes=1024) as bridge:
        code, reason = await close_of(bridge.url, auth(token()), "x" * 2000)
        assert code == 1009
        assert "exceeds limit" in reason
        await eventually_true(
            lambda: bridge.metric("alphapulse_bridge_rejected_total", reason="oversized") == 1, what="oversized count"
        )


@pytest.mark.parametrize(
    ("message", "code", "needle"),
    [
        ("{not json", 4000, "not a JSON object"),
        ('{"op":"subscribe","exchange":"nyse","symbols":["IBM-USD"]}', 4000, "unknown exchange"),
        ('{"op":"subscribe","exchange":"binance","symbols":["BTC-USDT"],"channels":["ticks"]}', 4000, "channel"),
        ('{"op":"dance"}', 4000, "invalid message"),
        (b"\x00\x01", 1003, "binary messages are not accepted"),
    ],
)
async def test_malformed_messages_close_the_connection_with_a_reason(
    message: str | bytes, code: int, needle: str
) -> None:
    async with running_bridge() as bridge:
        got_code, reason = await close_of(bridge.url, auth(token()), message)
        assert got_code == code
        assert needle in reason
        await eventually_true(lambda: not bridge.core.clients, what="client removed")


async def test_token_refresh_and_ping() -> None:
    async with running_bridge() as bridge, connect(bridge.url) as ws:
        await ws.send(auth(token()))
        await ws.recv()
        await ws.send('{"op":"ping","id":"p1"}')
        assert orjson.loads(await ws.recv()) == [{"type": "pong", "id": "p1"}]
        await ws.send(orjson.dumps({"op": "auth", "token": token(ttl_s=900), "id": 2}).decode())
        reply = orjson.loads(await ws.recv())[0]
        assert (reply["type"], reply["id"], reply["sub"]) == ("welcome", 2, "alice")
        await ws.send(auth(token("mallory")))
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 10)
        assert info.value.rcvd is not None
        assert info.value.rcvd.code == 4001


async def test_metrics_and_healthz_on_the_same_port() -> None:
    async with running_bridge() as bridge, connect(bridge.url) as ws:
        await ws.send(auth(token()))
        await ws.recv()
        base = f"http://127.0.0.1:{bridge.server.port}"
        async with httpx.AsyncClient() as http:
            metrics = await http.get(f"{base}/metrics")
            health = await http.get(f"{base}/healthz")
            missing = await http.get(f"{base}/nope")
        assert metrics.status_code == 200
        assert "alphapulse_bridge_clients 1.0" in metrics.text
        assert "alphapulse_bridge_send_latency_seconds_bucket" in metrics.text
        assert health.status_code == 200
        assert missing.status_code == 404


async def test_a_client_flooding_messages_is_closed_with_4029() -> None:
    async with running_bridge(client_messages_burst=5, client_messages_per_s=0.5) as bridge:
        ping = orjson.dumps({"op": "ping"}).decode()
        async with connect(bridge.url, origin="http://good.example", compression=None) as ws:  # type: ignore[arg-type]
            await ws.send(auth(token()))
            for _ in range(5):  # the burst passes: each ping is answered
                await ws.send(ping)
            events: list[str] = []
            while len(events) < 6:  # replies of one tick share a message (a JSON array)
                events += [e["type"] for e in orjson.loads(await asyncio.wait_for(ws.recv(), 10))]
            assert events == ["welcome"] + ["pong"] * 5
            for _ in range(50):
                await ws.send(ping)
            with pytest.raises(ConnectionClosed) as info:
                await _drain(ws)
        assert info.value.rcvd is not None
        assert info.value.rcvd.code == 4029
        assert "too many messages" in info.value.rcvd.reason
        assert bridge.metric("alphapulse_bridge_rejected_total", reason="rate_limited") == 1
        await eventually_true(lambda: not bridge.core.clients, what="the client removed")
        # another client has its own bucket
        async with connect(bridge.url, origin="http://good.example", compression=None) as ws:  # type: ignore[arg-type]
            await ws.send(auth(token()))
            await ws.send(ping)
            assert orjson.loads(await ws.recv())[0]["type"] == "welcome"
            assert orjson.loads(await ws.recv())[0]["type"] == "pong"


async def test_connections_waiting_to_authenticate_are_bounded() -> None:
    """Unauthenticated sockets cannot pile up: past --max-pending the next is refused (HTTP 503 before the
    upgrade); once one authenticates its slot is free again."""
    async with running_bridge(max_pending=2) as bridge:
        origin = "http://good.example"
        a = await connect(bridge.url, origin=origin, compression=None)  # type: ignore[arg-type]
        b = await connect(bridge.url, origin=origin, compression=None)  # type: ignore[arg-type]
        await eventually_true(lambda: bridge.metric("alphapulse_bridge_pending_connections") == 2)
        assert b"too many connections waiting to authenticate (at most 2)" in await refused_before_upgrade(bridge.url)
        assert bridge.metric("alphapulse_bridge_rejected_total", reason="pending_limit") == 1
        await a.send(auth(token()))
        assert orjson.loads(await a.recv())[0]["type"] == "welcome"  # authenticated: no longer pending
        await eventually_true(lambda: bridge.metric("alphapulse_bridge_pending_connections") == 1)
        async with connect(bridge.url, origin=origin) as c:  # type: ignore[arg-type]
            await c.send(auth(token()))
            assert orjson.loads(await c.recv())[0]["type"] == "welcome"
        await b.close()
        await eventually_true(lambda: bridge.metric("alphapulse_bridge_pending_connections") == 0)
        await a.close()


async def test_one_address_cannot_take_every_slot_waiting_to_authenticate() -> None:
    """Past --max-pending-per-address, that address's next connection is refused (HTTP 503) while others
    still get in; behind a trusted proxy the address counted is the one it forwards."""
    origin = "http://good.example"

    def via_proxy(client: str) -> list[tuple[str, str]]:
        # what a proxy appends to whatever the client sent: a client cannot hide behind a name of its choosing
        return [("X-Forwarded-For", f"203.0.113.99, {client}")]

    async with running_bridge(max_pending=10, max_pending_per_address=2) as bridge:
        held = [await connect(bridge.url, origin=origin, compression=None) for _ in range(2)]  # type: ignore[arg-type]
        await eventually_true(lambda: bridge.metric("alphapulse_bridge_pending_connections") == 2)
        reason = await refused_before_upgrade(bridge.url)
        assert b"too many connections from 127.0.0.1 waiting to authenticate (at most 2)" in reason
        assert bridge.metric("alphapulse_bridge_rejected_total", reason="address_pending_limit") == 1
        assert bridge.metric("alphapulse_bridge_rejected_total", reason="pending_limit") == 0
        # without a trusted proxy, X-Forwarded-For names nobody: still 127.0.0.1, still refused
        assert b"from 127.0.0.1 waiting" in await refused_before_upgrade(bridge.url, via_proxy("198.51.100.1"))
        await held[0].send(auth(token()))
        assert orjson.loads(await held[0].recv())[0]["type"] == "welcome"  # authenticated: its slot is free
        async with connect(bridge.url, origin=origin) as c:  # type: ignore[arg-type]
            await c.send(auth(token()))
            assert orjson.loads(await c.recv())[0]["type"] == "welcome"
        for ws in held:
            await ws.close()

    async with running_bridge(max_pending=10, max_pending_per_address=1, trusted_proxies=("127.0.0.1",)) as bridge:
        a = await connect(bridge.url, origin=origin, additional_headers=via_proxy("198.51.100.1"))  # type: ignore[arg-type]
        # the same proxy, another client: counted apart
        b = await connect(bridge.url, origin=origin, additional_headers=via_proxy("198.51.100.2"))  # type: ignore[arg-type]
        await eventually_true(lambda: bridge.metric("alphapulse_bridge_pending_connections") == 2)
        reason = await refused_before_upgrade(bridge.url, via_proxy("198.51.100.1"))
        assert b"too many connections from 198.51.100.1 waiting" in reason
        await a.close()
        await b.close()
        await eventually_true(lambda: bridge.metric("alphapulse_bridge_pending_connections") == 0)
        assert bridge.server._pending_by_address == {}  # nothing kept for addresses with none waiting
