"""`alphapulse tap` as users run it: a real relay, a real producer, the real CLI in a subprocess."""

import asyncio
import json
import sys
from pathlib import Path

from relay_harness import Producer, eventually

from alphapulse.protocol import Exchange
from alphapulse.relay import Relay


async def run_tap(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "alphapulse",
        "tap",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_tap_prints_exact_json_lines_from_the_relay_and_from_a_feed(sock_dir: Path) -> None:
    producer = Producer(sock_dir, "binance-tap", Exchange.BINANCE, ["BTC-USDT"])
    await producer.start()
    relay = Relay(sock_dir, scan_interval_s=0.02)
    await relay.start()
    task = asyncio.create_task(relay.run(), name="test.relay")
    try:
        await eventually(lambda: producer.server.readers == 1, what="relay connected")

        async def publish_soon() -> None:
            await eventually(lambda: len(relay.consumers) == 1, what="tap connected")
            producer.publish_trades(3)

        pub = asyncio.create_task(publish_soon(), name="test.publish")
        code, out, err = await run_tap("--sock-dir", str(sock_dir), "--json", "--count", "3", "--type", "trade")
        await pub
        assert code == 0, err
        docs = [json.loads(line) for line in out.splitlines()]
        assert [d["type"] for d in docs] == ["trade"] * 3
        assert docs[0]["exchange"] == "binance"
        assert docs[0]["symbol"] == "BTC-USDT"
        assert docs[0]["price"] == "90000.01"  # 9_000_001 at scale 2, exact
        assert docs[0]["qty"] == "1.00000000"
        assert docs[0]["side"] == "buy"
        assert {"seq", "ts_exchange_ns", "ts_recv_ns", "trade_id"} <= docs[0].keys()

        # --feed reads the collector's socket directly (beside the relay), and --timeout ends a quiet tap
        code, out, err = await run_tap("--sock-dir", str(sock_dir), "--feed", "binance-tap", "--timeout", "0.5")
        assert code == 0, err
        assert "feed" in out
        assert "instrument" in out
        assert "BTC-USDT" in out
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await producer.server.close()


async def test_tap_without_a_relay_says_so(sock_dir: Path) -> None:
    code, _, err = await run_tap("--sock-dir", str(sock_dir), "--json")
    assert code == 2
    assert "cannot connect" in err
