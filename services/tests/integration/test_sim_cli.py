"""``alphapulse sim`` as scripts use it: announce URLs as JSON lines, serve, stop on SIGINT."""

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest
from sim_testkit import FIXTURES
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedError

SERVICES = Path(__file__).resolve().parents[2]


async def _start(*args: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SERVICES), os.environ.get("PYTHONPATH", "")])}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "alphapulse",
        "--log-level",
        "WARNING",
        "sim",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def _stop(proc: asyncio.subprocess.Process) -> int:
    proc.send_signal(signal.SIGINT)
    async with asyncio.timeout(10):
        return await proc.wait()


async def _collect(ws: ClientConnection, into: list[str | bytes]) -> None:
    async with asyncio.timeout(10):
        async for msg in ws:
            into.append(msg)


async def test_cli_all_venues_synthetic() -> None:
    proc = await _start("--venue", "all", "--rate", "300", "--symbols", "BTC-USDT,ETH-USDT")
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(20):
            lines = [json.loads(await proc.stdout.readline()) for _ in range(3)]
        assert [x["venue"] for x in lines] == ["kraken", "coinbase", "binance"]
        by_venue = {x["venue"]: x for x in lines}
        assert by_venue["binance"]["url"].endswith("/stream")
        assert by_venue["binance"]["rest_url"]
        assert by_venue["kraken"]["url"].endswith("/v2")
        assert by_venue["kraken"]["rest_url"] is None
        async with connect(by_venue["binance"]["url"] + "?streams=ethusdt@trade") as ws:
            msg = json.loads(await ws.recv())
            assert msg["stream"] == "ethusdt@trade"
            assert msg["data"]["s"] == "ETHUSDT"
    finally:
        assert await _stop(proc) == 0


async def test_cli_replay_with_a_scheduled_fault() -> None:
    proc = await _start("--venue", "binance", "--replay", str(FIXTURES / "binance"), "--fault", "drop_connection@1.5")
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(20):
            info = json.loads(await proc.stdout.readline())
        assert info["mode"] == "replay"
        want = (FIXTURES / "binance" / "session.jsonl").read_text().splitlines()
        got: list[str | bytes] = []
        async with connect(info["url"] + "?streams=btcusdt@trade") as ws:
            with pytest.raises(ConnectionClosedError):  # the scheduled drop ends it abruptly
                await _collect(ws, got)
        assert got == want
    finally:
        assert await _stop(proc) == 0


async def test_cli_one_process_per_venue() -> None:
    proc = await _start("--venue", "all", "--processes", "--rate", "300")
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(30):
            lines = [json.loads(await proc.stdout.readline()) for _ in range(3)]
        assert [x["venue"] for x in lines] == ["kraken", "coinbase", "binance"]
        async with connect(lines[1]["url"]) as ws:
            await ws.send('{"type":"subscribe","product_ids":["BTC-USD"],"channel":"ticker"}')
            assert json.loads(await ws.recv())["channel"] == "subscriptions"
    finally:
        assert await _stop(proc) == 0


async def test_cli_rejects_bad_fault_specs() -> None:
    proc = await _start("--fault", "meltdown@1")
    async with asyncio.timeout(20):
        _, err = await proc.communicate()
    assert proc.returncode == 2
    assert b"KIND@AFTER_S" in err
