"""floor: the cost of one hop (asleep, woken, busy-polling, kept awake) and of one message's work after 1 ms idle.

Every hop of the pipeline is one of these, and at 1,000 events/s the reader is asleep each time, so
the message is sent 1 ms apart, as the pipeline's are. Six cases, each with both processes pinned:

* ``same_cpu``: writer and reader on one CPU (the reader runs once the writer blocks);
* ``cross_cpu``: on two CPUs, the reader blocked in ``recv`` (an idle CPU must be woken: on a VM
  this is where the hypervisor shows, 12–70 µs seen on machines of the same kind);
* ``cross_cpu_busy_poll``: on two CPUs, the reader spinning on a non-blocking ``recv``: the hop as
  it is on a core dedicated to one stage (what the architecture's 15–35 µs assumes);
* ``cross_cpu_kept_awake``: ``cross_cpu`` with both CPUs kept from halting by a ``SCHED_IDLE`` spinner
  each (:mod:`alphapulse.keepawake`): the reader still sleeps and is still woken, on a CPU that is
  running;
* ``cross_cpu_beside_busy``: ``cross_cpu`` with a CPU-bound process at normal priority on both CPUs, as
  on a node whose cores a stage shares with busy work: the woken reader waits for that work's time slice;
* ``cross_cpu_beside_busy_short_slice``: the same with the reader's time slice at 100 µs (the services'
  ``--time-slice-us``, :mod:`alphapulse.timeslice`), so it preempts the busy process when woken; ``None``
  where the kernel keeps no slice per thread (before Linux 6.12).

``measure()`` reports p50/p99 of the one-way time in nanoseconds, both ends reading one clock;
``alphapulse bench e2e`` records it beside every run, since it bounds what any pipeline here can do.

The other half of a woken hop is the work the woken process does with what its sleep left of the
CPU's caches. ``cold_work()`` times one collector message (a Kraken trade: decode, exact numbers,
the 48-byte frame, the write to a Unix socket) back to back, after 1 ms asleep, as at 1,000
events/s, and after 1 ms during which another process ran on the same CPU and walked a few MiB of
memory, as the other stages of a pipeline sharing a node's cores do: on a VM whose host runs other
tenants while a vCPU idles the second is several times the first; where the host leaves the core
alone it is not, and the third is what the other stages' use of the caches adds. A fourth case
sleeps as the second does on a CPU kept from halting (:mod:`alphapulse.keepawake`), where the host
cannot run anything else on the core meanwhile. None includes the wake-up's own CPU (the event
loop, the socket read), which at one message per wake can be most of a stage's cost
(docs/performance-history.md, the seventh session).
"""

import argparse
import contextlib
import multiprocessing as mp
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from alphapulse.keepawake import keep_awake
from alphapulse.timeslice import MIN_SLICE_US, set_time_slice, time_slice_us

if TYPE_CHECKING:  # imported where used: the parent (bench e2e's) never needs the collector's parser
    from alphapulse.collectors.kraken import KrakenParser
    from alphapulse.collectors.output import FrameWriter

__all__ = ("CASES", "add_arguments", "cold_work", "measure", "run")

CASES = (
    "same_cpu",
    "cross_cpu",
    "cross_cpu_busy_poll",
    "cross_cpu_kept_awake",
    "cross_cpu_beside_busy",
    "cross_cpu_beside_busy_short_slice",
)
_MESSAGE_BYTES = 48
# what the neighbour walks while the measured process waits: more than a core's L2 on the CPUs the
# project runs on (1-2 MiB), less than their shared L3, as a few other Python stages' code and heaps are
_NEIGHBOUR_BYTES = 4 << 20


def _reader(path: str, cpu: int, spin: bool, n: int, pipe: Connection, slice_us: int | None = None) -> None:
    os.sched_setaffinity(0, {cpu})
    if slice_us is not None:
        set_time_slice(slice_us)
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


def _one(cpus: tuple[int, int], spin: bool, n: int, interval_s: float, slice_us: int | None = None) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="ap-floor-") as tmp:
        path = str(Path(tmp) / "hop.sock")
        parent, child = ctx.Pipe()
        reader = ctx.Process(target=_reader, args=(path, cpus[1], spin, n, child, slice_us), daemon=True)
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
    """The cases (a case needing two CPUs is ``None`` on a machine with one available)."""
    cpus = sorted(os.sched_getaffinity(0))
    last = cpus[-1]
    out: dict[str, Any] = {"same_cpu": _one((last, last), False, n, interval_s)}
    if len(cpus) >= 2:
        out["cross_cpu"] = _one((cpus[0], last), False, n, interval_s)
        out["cross_cpu_busy_poll"] = _one((cpus[0], last), True, n, interval_s)
        with keep_awake(cpus=(cpus[0], last)):
            out["cross_cpu_kept_awake"] = _one((cpus[0], last), False, n, interval_s)
        with keep_awake(cpus=(cpus[0], last), sched_idle=False):
            out["cross_cpu_beside_busy"] = _one((cpus[0], last), False, n, interval_s)
            out["cross_cpu_beside_busy_short_slice"] = (
                _one((cpus[0], last), False, n, interval_s, MIN_SLICE_US) if time_slice_us() else None
            )
    return {case: out.get(case) for case in CASES}  # a case this machine cannot run reads None


def _cold_worker(cpu: int, n: int, idle_s: float, cases: tuple[str, ...], pipe: Connection) -> None:
    try:
        pipe.send(_cold_times(cpu, n, idle_s, cases))
    except Exception as e:  # reported by the parent at once, not as a minute's silence
        pipe.send({"error": f"{type(e).__name__}: {e}"})


def _neighbour(turns: socket.socket, idle_s: float) -> None:
    """Another process on the measured process's CPU (forked from it, so pinned the same): on each turn
    it is given (the measured one blocked, waiting for it), it walks ``_NEIGHBOUR_BYTES`` for ``idle_s``,
    then hands the CPU back. An empty read ends it."""
    memory = np.ones(_NEIGHBOUR_BYTES // 8, dtype=np.int64)
    while turns.recv(1):
        deadline = time.perf_counter() + idle_s
        while True:
            memory += 1  # reads and writes every line: the caches hold this, not the measured process
            if time.perf_counter() >= deadline:
                break
        turns.sendall(b"\x01")


def _cold_times(cpu: int, n: int, idle_s: float, cases: tuple[str, ...]) -> dict[str, Any]:
    # imported here: the parent (bench e2e's) never needs the collector's parser
    from alphapulse.bench.collector import prelude, trade_messages
    from alphapulse.collectors.kraken import KrakenParser
    from alphapulse.collectors.output import FrameWriter
    from alphapulse.collectors.symbols import SymbolMap
    from alphapulse.protocol import Exchange, feed_id

    os.sched_setaffinity(0, {cpu})
    out, sink = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    sink.setblocking(False)

    def publish(data: bytes) -> None:
        out.sendall(data)  # as the feed server writes to a reader: one send per flush

    writer = FrameWriter(feed_id("floor"), Exchange.KRAKEN, "floor", time.time_ns(), publish)
    parser = KrakenParser(writer, SymbolMap(Exchange.KRAKEN, ["BTC-USD"]))
    parser.on_connect()
    for message in prelude("kraken", None):
        parser.feed(message, time.time_ns())
    writer.flush()
    messages = iter(trade_messages("kraken", len(cases) * (n + 100)))
    turn, their_turn = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()  # this process is multiprocessing's daemon, which may not start children of its own
    if pid == 0:
        try:
            turn.close()
            _neighbour(their_turn, idle_s)
        finally:
            os._exit(0)
    their_turn.close()
    report: dict[str, Any] = {}
    try:
        for case in cases:
            report[case] = _time_messages(case, n, idle_s, parser, writer, messages, sink, turn)
    finally:
        turn.close()  # the neighbour's read returns empty: it exits
        os.waitpid(pid, 0)
    if parser.stats.errors or writer.trades != len(cases) * (n + 100):
        raise RuntimeError(f"the collector work went wrong: {parser.stats.errors}, {writer.trades} trades")
    return report


def _time_messages(
    case: str,
    n: int,
    idle_s: float,
    parser: "KrakenParser",
    writer: "FrameWriter",
    messages: Iterator[bytes],
    sink: socket.socket,
    turn: socket.socket,
) -> dict[str, Any]:
    times = np.empty(n + 100, dtype=np.int64)
    start = time.perf_counter_ns()
    for i in range(len(times)):
        if case == "after_idle":
            time.sleep(idle_s)
        elif case == "after_neighbour":
            turn.sendall(b"\x01")  # blocked until the neighbour has had the CPU for its millisecond
            turn.recv(1)
        t0 = time.perf_counter_ns()
        parser.feed(next(messages), t0)
        writer.flush()
        times[i] = time.perf_counter_ns() - t0
        with contextlib.suppress(BlockingIOError):
            while sink.recv(65536):
                pass
    per_s = len(times) * 1e9 / (time.perf_counter_ns() - start)
    p50, p99 = np.percentile(times[100:], [50, 99])  # the first 100 warm the path up
    return {"p50": round(float(p50)), "p99": round(float(p99)), "count": n, "per_s": round(per_s)}


def cold_work(n: int = 1000, idle_s: float = 0.001) -> dict[str, Any]:
    """One collector message's CPU time, hot, after ``idle_s`` asleep, after ``idle_s`` of another
    process's run on the same CPU, and after ``idle_s`` asleep with the CPU kept from halting
    (:mod:`alphapulse.keepawake`) (p50/p99 ns), in fresh processes pinned to the last CPU."""
    cpu = sorted(os.sched_getaffinity(0))[-1]
    report = _cold_process(cpu, n, idle_s, ("hot", "after_idle", "after_neighbour"))
    with keep_awake(cpus=(cpu,)):
        report["after_idle_kept_awake"] = _cold_process(cpu, n, idle_s, ("after_idle",))["after_idle"]
    return report


def _cold_process(cpu: int, n: int, idle_s: float, cases: tuple[str, ...]) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_cold_worker, args=(cpu, n, idle_s, cases, child), daemon=True)
    proc.start()
    try:
        if not parent.poll(60 + n * idle_s * 2 * len(cases)):
            raise RuntimeError("the floor's cold-work process did not report")
        report: dict[str, Any] = parent.recv()
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
    if "error" in report:
        raise RuntimeError(f"the floor's cold-work process failed: {report['error']}")
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--messages", type=int, default=2000, help="messages per case (default 2000, 1 ms apart)")


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    n = int(getattr(args, "messages", None) or 2000)
    floor = measure(n)
    results = [
        {"system": "unix socket hop", "scenario": case, "throughput_per_s": 1000, "latency_ns": floor[case]}
        for case in CASES
        if floor[case] is not None
    ]
    work = cold_work(n)
    results += [
        {
            "system": "collector message (Kraken trade)",
            "scenario": case,
            "throughput_per_s": lat["per_s"],
            "latency_ns": lat,
        }
        for case, lat in work.items()
    ]
    return {
        "bench": "floor",
        "machine": {"cpus": sorted(os.sched_getaffinity(0))},
        "results": results,
        "notes": verdict(floor, work),
    }


def verdict(floor: dict[str, Any], work: dict[str, Any]) -> list[str]:
    """What the floor means for exchange -> strategy on this machine, in words."""
    from alphapulse.bench.e2e import TARGETS_NS  # the targets live with the benchmark that judges them

    target_ns = TARGETS_NS[10][("exchange_to_strategy", "p50")]
    hops = 3  # exchange -> collector -> relay -> strategy
    woken_ns = hops * (floor.get("cross_cpu") or floor["same_cpu"])["p50"]
    head = f"a trade to a strategy crosses {hops} hops: {woken_ns / 1000:.0f} µs of wake-ups alone, "
    if woken_ns >= target_ns:
        notes = [head + f"above the {target_ns // 1000} µs p50 target before any work"]
    else:
        notes = [
            head
            + f"leaving {(target_ns - woken_ns) / 1000:.0f} µs of the {target_ns // 1000} µs p50 target for the work"
        ]
    busy = floor.get("cross_cpu_busy_poll")
    if busy is not None:
        notes.append(f"busy-polling on dedicated cores: {hops * busy['p50'] / 1000:.0f} µs for the same hops")
    awake = floor.get("cross_cpu_kept_awake")
    if awake is not None:
        notes.append(
            f"with the CPUs kept from halting (alphapulse keep-awake): {hops * awake['p50'] / 1000:.0f} µs for the "
            "same hops"
        )
    busy_neighbour = floor.get("cross_cpu_beside_busy")
    if busy_neighbour is not None:
        short = floor.get("cross_cpu_beside_busy_short_slice")
        notes.append(
            f"beside a CPU-bound process the hop's p99 is {busy_neighbour['p99'] / 1000:.0f} µs"
            + (
                f", {short['p99'] / 1000:.0f} µs with a {MIN_SLICE_US} µs time slice (--time-slice-us)"
                if short is not None
                else " (this kernel keeps no time slice per process: --time-slice-us needs Linux 6.12)"
            )
        )
    ratio = work["after_idle"]["p50"] / work["hot"]["p50"]
    notes.append(
        f"a stage's work after an idle millisecond costs {ratio:.1f}x its hot cost"
        + (" (its caches did not survive the idle time)" if ratio >= 2 else "")
    )
    neighbour = work.get("after_neighbour")
    if neighbour is not None:
        notes.append(
            f"after a millisecond in which another process ran on its CPU, "
            f"{neighbour['p50'] / work['hot']['p50']:.1f}x: what each stage pays where the pipeline's processes "
            "share the cores"
        )
    kept = work.get("after_idle_kept_awake")
    if kept is not None:
        notes.append(f"after an idle millisecond on a CPU kept from halting, {kept['p50'] / work['hot']['p50']:.1f}x")
    return notes
