"""The supervisor runs real child processes: restart with backoff, clean stop, output captured."""

import asyncio
import io
import sys
from pathlib import Path

from relay_harness import eventually

from alphapulse.clock import FakeClock
from alphapulse.supervisor import ProcessSpec, Supervisor


async def test_crashing_child_is_restarted_with_backoff_and_stable_one_keeps_running(tmp_path: Path) -> None:
    clock = FakeClock()
    out = io.StringIO()
    crash = ProcessSpec("crash", (sys.executable, "-c", "print('boom'); raise SystemExit(3)"), stage=1)
    steady = ProcessSpec("steady", (sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"))
    sup = Supervisor([crash, steady], log_dir=tmp_path, clock=clock, out=out)
    task = asyncio.create_task(sup.run(), name="test.supervisor")
    await eventually(lambda: sup.children[0].restarts >= 3, what="three restarts")
    backoffs = [s for s in clock.slept_s if s != 0.3]  # 0.3 s is the pause between start stages
    assert backoffs[:3] == [0.5, 1.0, 2.0]
    await eventually(lambda: sup.children[1].state == "running", what="steady running")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert sup.children[1].state == "stopped"
    assert "exit 3; restarting in 0.5s" in out.getvalue()
    text = out.getvalue()
    assert "crash | boom" in text
    assert "steady | up" in text
    assert (tmp_path / "crash.log").read_text().count("boom") >= 3


async def test_child_ignoring_sigterm_is_killed_after_the_timeout(tmp_path: Path) -> None:
    stubborn = ProcessSpec(
        "stubborn",
        (
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(60)",
        ),
    )
    sup = Supervisor([stubborn], log_dir=tmp_path, out=io.StringIO(), stop_timeout_s=0.5)
    task = asyncio.create_task(sup.run(), name="test.supervisor")
    await eventually(
        lambda: "ready" in (tmp_path / "stubborn.log").read_text() if (tmp_path / "stubborn.log").exists() else False,
        what="child ready",
    )
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert sup.children[0].state == "stopped"
    assert sup.children[0].last_exit == -9
