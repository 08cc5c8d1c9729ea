"""The public command lines, as users run them (subprocesses, uvloop, real sockets)."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import yaml
from relay_harness import eventually, running_relay
from trading_harness import BookProducer

from alphapulse.protocol import Exchange

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "services" / "alphapulse" / "trading" / "examples"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{REPO / 'services'}{os.pathsep}{REPO / 'operator'}"}


async def test_trade_runs_an_example_file_on_the_relay_serves_health_and_stops_on_sigint(
    sock_dir: Path, tmp_path: Path
) -> None:
    doc = yaml.safe_load((EXAMPLES / "spread.yaml").read_text())
    doc["audit"] = False  # the shared Redis's real audit key is not for tests
    cfg = tmp_path / "spread.yaml"
    cfg.write_text(yaml.safe_dump(doc))
    producer = BookProducer(sock_dir, "binance-cli", Exchange.BINANCE, ["BTC-USDT"])
    await producer.start()
    async with running_relay(sock_dir) as relay:
        await eventually(lambda: bool(relay.inputs), what="relay to find the feed")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "alphapulse", "trade", "-f", str(cfg), "--sock-dir", str(sock_dir),
            "--no-orders", "--port", "0", env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        assert proc.stdout is not None
        url = ""
        lines: list[str] = []
        try:
            async with asyncio.timeout(60):
                while not url:
                    line = (await proc.stdout.readline()).decode()
                    assert line, f"trade exited early: {''.join(lines[-20:])}"
                    lines.append(line)
                    if '"metrics listening"' in line:
                        url = json.loads(line)["url"].removesuffix("/metrics")
            sid = producer.sids[0]
            await eventually(
                lambda: any(c.filter.by_symbol.get(sid) for c in relay.consumers), timeout_s=30, what="subscription"
            )
            health = await asyncio.to_thread(lambda: urllib.request.urlopen(url + "/healthz", timeout=5).read())
            assert health.startswith(b"ok")
            metrics = await asyncio.to_thread(lambda: urllib.request.urlopen(url + "/metrics", timeout=5).read())
            assert b"alphapulse_trading_gaps_total" in metrics
        finally:
            proc.send_signal(signal.SIGINT)
            async with asyncio.timeout(30):
                rest = await proc.stdout.read()
                code = await proc.wait()
        assert code == 0, rest.decode()[-2000:]
    await producer.server.close()


def test_backtest_cli_sample_convert_run_list(tmp_path: Path) -> None:
    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "alphapulse", "backtest", *args], env=_env(), capture_output=True, text=True,
            timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return done.stdout

    cli("sample", "--out", str(tmp_path / "export"), "--quotes", "3000")
    converted = json.loads(cli("convert", "--export", str(tmp_path / "export"), "--catalog", str(tmp_path / "cat")))
    assert converted["quotes"] == 6000 and converted["book_deltas"] > 0
    db, png = tmp_path / "bt.duckdb", tmp_path / "ema.png"
    runs = [
        json.loads(cli("run", "-f", str(EXAMPLES / "ema_reversion.yaml"), "--catalog", str(tmp_path / "cat"),
                       "--results", str(db), "--report", str(png), "--book", book).splitlines()[-1])
        for book in ("L1_MBP", "L2_MBP")
    ]  # fmt: skip
    assert png.read_bytes()[:4] == b"\x89PNG"
    listed = [json.loads(line) for line in cli("list", "--results", str(db)).splitlines()]
    assert {r["run_id"] for r in listed} == {r["run_id"] for r in runs}
