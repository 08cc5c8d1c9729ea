"""`alphapulse up` as users run it: the stack starts with embedded servers and stops cleanly on
SIGTERM (and on SIGINT even when started by a shell that ignores SIGINT for background jobs)."""

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest


def processes_mentioning(text: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            found.append(f"{pid}: {cmd[:160]}")
    return found


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
async def test_up_runs_the_stack_and_stops_everything(stop_signal: signal.Signals) -> None:
    # the embedded PostgreSQL runs unprivileged: its folder's parents must be searchable by others
    base = Path(tempfile.mkdtemp(prefix="ap-up-", dir="/tmp"))
    base.chmod(0o755)
    data = base / "data"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "alphapulse",
        "up",
        "--no-sim",
        "--data-dir",
        str(data),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        # what a non-interactive shell does to a background job: SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            line = (await asyncio.wait_for(proc.stdout.readline(), 90)).decode()
            assert line, "up exited early:\n" + "".join(seen[-30:])
            seen.append(line)
            if line.startswith("PROCESS"):  # the status table: every stage is running
                break
        text = "".join(seen)
        for name in ("relay: running", "writer: running", "bridge: running", "api: running"):
            assert name in text, text
        assert (data / "stack.env").exists()
        assert processes_mentioning(str(data))
    finally:
        proc.send_signal(stop_signal)
        rest, _ = await asyncio.wait_for(proc.communicate(), 60)
    out = text + rest.decode()
    assert proc.returncode == 0, out[-3000:]
    assert "[up] stopped" in out
    assert not (data / "stack.env").exists()
    leftovers = processes_mentioning(str(data))
    assert not leftovers, leftovers  # children and embedded PostgreSQL/Redis are gone
    shutil.rmtree(base, ignore_errors=True)


def test_plan_lists_the_default_stack(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "alphapulse", "up", "--plan", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    names = [line.split()[1] for line in out.splitlines()]
    assert names == [
        "sim",
        "relay",
        "collector:kraken-sim",
        "collector:coinbase-sim",
        "collector:binance-sim",
        "writer",
        "bridge",
        "trade",
        "api",
    ]


async def test_children_do_not_outlive_a_killed_supervisor() -> None:
    base = Path(tempfile.mkdtemp(prefix="ap-up-", dir="/tmp"))
    base.chmod(0o755)
    data = base / "data"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "alphapulse",
        "up",
        "--no-sim",
        "--no-embedded",
        "--data-dir",
        str(data),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        assert line, "up exited early"
        if line.startswith("PROCESS"):
            break
    assert processes_mentioning(str(data / "run"))  # the relay
    proc.kill()  # kill -9: no chance to stop anything
    await proc.wait()
    for _ in range(100):
        if not processes_mentioning(str(data / "run")):
            break
        await asyncio.sleep(0.1)
    assert not processes_mentioning(str(data / "run"))
    shutil.rmtree(base, ignore_errors=True)
