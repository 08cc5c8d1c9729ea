"""The wired service (what `alphapulse bridge` runs) and the `bridge token` verb, end to end."""

import asyncio
import contextlib
import io
from pathlib import Path

import httpx
import orjson
import pytest
from bridge_harness import KEY, eventually_true
from prometheus_client import CollectorRegistry
from relay_harness import Producer
from websockets.asyncio.client import connect

from alphapulse.bridge.service import Bridge, BridgeSettings
from alphapulse.cli import main
from alphapulse.protocol import Exchange
from alphapulse.relay import Relay
from alphapulse.tokens import verify_token


async def test_service_health_follows_the_relay_and_streams_to_a_browser(sock_dir: Path) -> None:
    feed = Producer(sock_dir, "binance-spot", Exchange.BINANCE, ["BTC-USDT"])
    await feed.start()
    bridge = Bridge(BridgeSettings([f"unix:{sock_dir / 'relay.sock'}"], KEY, port=0), registry=CollectorRegistry())
    await bridge.start()
    task = asyncio.create_task(bridge.run(), name="test.bridge")
    base = f"http://127.0.0.1:{bridge.port}"
    try:
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{base}/healthz")).status_code == 503  # no relay yet
            assert (await http.get(f"{base}/livez")).status_code == 200  # but alive
            relay = Relay(sock_dir, scan_interval_s=0.02)
            await relay.start()
            relay_task = asyncio.create_task(relay.run(), name="test.relay")
            try:
                await eventually_true(lambda: bridge.core.instruments == 1, what="instrument via the relay")
                health = await http.get(f"{base}/healthz")
                assert (health.status_code, health.text) == (200, "ok: relay connected, 0 clients\n")
                async with connect(f"ws://127.0.0.1:{bridge.port}/ws") as ws:
                    token = _cli_token()
                    await ws.send(orjson.dumps({"op": "auth", "token": token}).decode())
                    await ws.recv()
                    await ws.send(
                        '{"op":"subscribe","exchange":"binance","symbols":["BTC-USDT"],"channels":["trades"]}'
                    )
                    await ws.recv()
                    feed.publish_trades(3)
                    events: list[dict[str, object]] = []
                    while len(events) < 3:
                        events += orjson.loads(await asyncio.wait_for(ws.recv(), 10))
                    assert [e["price"] for e in events] == ["90000.01"] * 3
                    assert [e["qty"] for e in events] == ["1.00000000"] * 3
            finally:
                relay_task.cancel()
                await asyncio.gather(relay_task, return_exceptions=True)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await bridge.close()
        await feed.server.close()


def _cli_token() -> str:
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
        mp.setenv("ALPHAPULSE_BRIDGE_SECRET", KEY.decode())
        assert main(["bridge", "token", "--sub", "carol", "--role", "trader", "--ttl-s", "60"]) == 0
    token = out.getvalue().strip()
    assert verify_token(KEY, token).role == "trader"
    return token


def test_bridge_refuses_to_start_without_a_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ALPHAPULSE_BRIDGE_SECRET", raising=False)
    assert main(["bridge", "--port", "0"]) == 2
    assert "ALPHAPULSE_BRIDGE_SECRET is not set" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["--max-pending-per-address", "0"], None, "--max-pending-per-address must be at least 1"),
        (["--trusted-proxies", "ingress-nginx"], None, "--trusted-proxies: 'ingress-nginx' is not an IP address"),
        ([], "10.244.1.5/16", "ALPHAPULSE_TRUSTED_PROXIES: '10.244.1.5/16' has host bits set"),
    ],
)
def test_bridge_refuses_limits_and_proxies_it_cannot_honour(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str], env: str | None, needle: str
) -> None:
    """A typo in the trusted proxies would leave every browser sharing one address's slots without a word."""
    monkeypatch.setenv("ALPHAPULSE_BRIDGE_SECRET", KEY.decode())
    if env is not None:
        monkeypatch.setenv("ALPHAPULSE_TRUSTED_PROXIES", env)
    assert main(["bridge", "--port", "0", *args]) == 2
    assert needle in capsys.readouterr().err
