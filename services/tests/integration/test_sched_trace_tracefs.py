"""``SchedTrace`` on the real kernel: two processes taking turns over pipes, traced from tracefs (root)."""

import os
import time
from pathlib import Path

from alphapulse.bench.sched_trace import SchedTrace, check_available

ROUNDS = 300


def test_a_ping_pong_is_traced_and_the_instance_removed() -> None:
    root = check_available()  # root, as CI runs: tracefs is root's
    stale = root / "instances" / "alphapulse-999999999"  # left by a run that died (no such pid)
    stale.mkdir()
    ping_r, ping_w = os.pipe()
    pong_r, pong_w = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child answers each ping, then exits
        while os.read(ping_r, 1) == b"x":
            os.write(pong_w, b"y")
        os._exit(0)
    try:
        trace = SchedTrace({"child": child, "parent": os.getpid()}).start()
        instance = trace.instance
        assert Path(instance / "tracing_on").read_text().strip() == "1"
        for _ in range(ROUNDS):
            time.sleep(0.001)  # so that the child is asleep in read() when the ping comes
            os.write(ping_w, b"x")
            os.read(pong_r, 1)
        result = trace.stop()
    finally:
        os.write(ping_w, b"q")
        os.waitpid(child, 0)
    assert not instance.exists() and instance.parent == root / "instances"
    assert not stale.exists()
    assert result["lost_events"] == 0 and result["events"] > 2 * ROUNDS
    child_stats = result["processes"]["child"]
    # every ping woke the child (the parent's write), and nothing else did
    assert child_stats["woken_by"] == {"parent": 100.0}
    assert ROUNDS - 2 <= child_stats["wakeups"] <= ROUNDS
    seen = child_stats["wake_to_run_us"]
    assert seen is not None and 0 <= seen["p50"] <= seen["p90"] <= seen["p99"]
    assert child_stats["busy_us"]["p50"] > 0
    # the parent is woken by its own timer (an interrupt) and by the child's pong
    assert set(result["processes"]["parent"]["woken_by"]) >= {"child"}
