"""floor: this machine's cost of one hop (a 48-byte message between two processes), asleep, woken and busy-polling.

Every hop of the pipeline is one of these, and at 1,000 events/s the reader is asleep each time, so
the message is sent 1 ms apart, as the pipeline's are. Three cases, each with both processes pinned:

* ``same_cpu``: writer and reader on one CPU (the reader runs once the writer blocks);
* ``cross_cpu``: on two CPUs, the reader blocked in ``recv`` (an idle CPU must be woken: on a VM
  this is where the hypervisor shows, 12–70 µs seen on machines of the same kind);
* ``cross_cpu_busy_poll``: on two CPUs, the reader spinning on a non-blocking ``recv``: the hop as
  it is on a core dedicated to one stage (what the architecture's 15–35 µs assumes).

``measure()`` reports p50/p99 of the one-way time in nanoseconds, both ends reading one clock;
``alphapulse bench e2e`` records it beside every run, since it bounds what any pipeline here can do.
"""

import argparse
import multiprocessing as mp
import os
import socket
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ("CASES", "add_arguments", "measure", "run")

CASES = ("same_cpu", "cross_cpu", "cross_cpu_busy_poll")
_MESSAGE_BYTES = 48


def _reader(path: str, cpu: int, spin: bool, n: int, pipe: Connection) -> None:
    os.sched_setaffinity(0, {cpu})
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    pipe.send("ready")
    conn, _ = server.accept()
    conn.setblocking(not spin)
    delays = np.empty(n, dtype=np.int64)
    buf = bytearray(_MESSAGE_BYTES)
    for i in range(n):
        got = 0
        while got < _MESSAGE_BYTES:
            try:
                got += conn.recv_into(memoryview(buf)[got:])
            except BlockingIOError:
                continue  # busy-polling: ask again at once
        delays[i] = time.time_ns() - int.from_bytes(buf[:8], "little")
    pipe.send(delays)


def _sender(path: str, cpu: int, n: int, interval_s: float) -> None:
    os.sched_setaffinity(0, {cpu})
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    pad = bytes(_MESSAGE_BYTES - 8)
    for _ in range(n):
        time.sleep(interval_s)
        sock.sendall(time.time_ns().to_bytes(8, "little") + pad)
    sock.close()


def _one(cpus: tuple[int, int], spin: bool, n: int, interval_s: float) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="ap-floor-") as tmp:
        path = str(Path(tmp) / "hop.sock")
        parent, child = ctx.Pipe()
        reader = ctx.Process(target=_reader, args=(path, cpus[1], spin, n, child), daemon=True)
        reader.start()
        try:
            if not parent.poll(30):
                raise RuntimeError("the floor's reader did not start")
            parent.recv()
            sender = ctx.Process(target=_sender, args=(path, cpus[0], n, interval_s), daemon=True)
            sender.start()
            if not parent.poll(30 + n * interval_s * 3):
                raise RuntimeError("the floor's reader got no messages")
            delays = parent.recv()
            sender.join(10)
        finally:
            reader.kill()
            reader.join(5)
    p50, p99 = np.percentile(delays, [50, 99])
    return {"p50": round(float(p50)), "p99": round(float(p99)), "count": n}


def measure(n: int = 2000, interval_s: float = 0.001) -> dict[str, Any]:
    """The three cases (a case needing two CPUs is ``None`` on a machine with one available)."""
    cpus = sorted(os.sched_getaffinity(0))
    last = cpus[-1]
    out: dict[str, Any] = {"same_cpu": _one((last, last), False, n, interval_s)}
    two = len(cpus) >= 2
    out["cross_cpu"] = _one((cpus[0], last), False, n, interval_s) if two else None
    out["cross_cpu_busy_poll"] = _one((cpus[0], last), True, n, interval_s) if two else None
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--messages", type=int, default=2000, help="messages per case (default 2000, 1 ms apart)")


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    floor = measure(int(getattr(args, "messages", None) or 2000))
    results = [
        {"system": "unix socket hop", "scenario": case, "throughput_per_s": 1000, "latency_ns": floor[case]}
        for case in CASES
        if floor[case] is not None
    ]
    return {"bench": "floor", "machine": {"cpus": sorted(os.sched_getaffinity(0))}, "results": results}
