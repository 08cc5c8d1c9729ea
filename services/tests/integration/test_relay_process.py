"""`alphapulse relay` as a process: serves metrics and health, stops cleanly on SIGTERM."""

import asyncio
import signal
import socket
import sys
from pathlib import Path

import httpx
import psutil
import pytest
from relay_harness import Producer, eventually

from alphapulse.protocol import Exchange


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("busy_poll", [False, True], ids=["sleeping", "busy-polling"])
async def test_relay_process_metrics_health_and_clean_stop(sock_dir: Path, busy_poll: bool) -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "alphapulse",
        "relay",
        "--sock-dir",
        str(sock_dir),
        "--port",
        str(port),
        *(["--busy-poll"] if busy_poll else []),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    producer = Producer(sock_dir, "kraken-m", Exchange.KRAKEN, ["BTC-USD"])
    await producer.start()
    try:
        await eventually((sock_dir / "relay.sock").exists, what="relay socket")
        await eventually(lambda: producer.server.readers == 1, what="relay reads the feed")
        producer.publish_trades(25)  # + the 4 cells of the feed's hello (feed and instrument frames)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            health = await http.get("/healthz")
            assert health.status_code == 200
            assert "1 feeds" in health.text

            async def counted() -> bool:
                text = (await http.get("/metrics")).text
                return 'alphapulse_relay_frames_in_total{feed="kraken-m"} 29.0' in text

            for _ in range(200):
                if await counted():
                    break
                await asyncio.sleep(0.02)
            text = (await http.get("/metrics")).text
            assert 'alphapulse_relay_frames_in_total{feed="kraken-m"} 29.0' in text
            assert "alphapulse_relay_latency_seconds_bucket" in text
            assert (await http.get("/nope")).status_code == 404
        # --busy-poll: the relay spins on its CPU between reads; without it, it sleeps
        ps = psutil.Process(proc.pid)
        before = sum(ps.cpu_times()[:2])
        await asyncio.sleep(0.5)
        share = (sum(ps.cpu_times()[:2]) - before) / 0.5
        assert share > 0.33 if busy_poll else share < 0.1
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 10)
        await producer.server.close()
    assert code == 0
    assert not (sock_dir / "relay.sock").exists()  # removed on the way out


async def test_second_relay_on_the_same_socket_is_refused(sock_dir: Path) -> None:
    first = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "alphapulse",
        "relay",
        "--sock-dir",
        str(sock_dir),
        "--port",
        str(free_port()),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await eventually((sock_dir / "relay.sock").exists, what="first relay")
        second = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "alphapulse",
            "relay",
            "--sock-dir",
            str(sock_dir),
            "--port",
            str(free_port()),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(second.communicate(), 20)
        assert second.returncode == 2
        assert b"another process is serving" in err
    finally:
        first.send_signal(signal.SIGTERM)
        await asyncio.wait_for(first.wait(), 10)
