"""The soak: the stack at a steady rate for a long time, resident memory of every process sampled.

Growth is judged after a warm-up (caches, buffers and the allocator settle in the first minutes):
the median of the last tenth of the samples against the median of the first tenth after warm-up,
and a least-squares slope over the whole post-warm-up series (MiB per hour) for the record.
"""

import asyncio
import os
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import psutil

from alphapulse.chaos.audit import audit_trades
from alphapulse.chaos.stack import ChaosStack, StackOptions

__all__ = ("GrowthBound", "ProcessGrowth", "SoakResult", "growth", "run_soak")

MIB = 1 << 20
HARNESS = "chaos (sim + clients)"


@dataclass(frozen=True, slots=True)
class GrowthBound:
    """Allowed growth per process after warm-up: ``fixed_mib`` plus ``fraction`` of its size then."""

    fixed_mib: float = 16.0
    fraction: float = 0.05

    def limit_bytes(self, start_bytes: float, allowance_bytes: float = 0.0) -> float:
        return self.fixed_mib * MIB + self.fraction * start_bytes + allowance_bytes


@dataclass(frozen=True, slots=True)
class ProcessGrowth:
    process: str
    samples: int
    start_mib: float
    end_mib: float
    growth_mib: float
    limit_mib: float
    slope_mib_per_h: float
    within: bool
    judged: bool = True  # False for the harness itself (simulators and clients): reported, not judged


@dataclass(slots=True)
class SoakResult:
    duration_s: float
    rate: float
    warmup_s: float
    bound: str
    processes: list[ProcessGrowth] = field(default_factory=list)
    trades: int = 0
    lost: int = 0
    lost_with_gap: int = 0
    duplicated: int = 0
    restarts: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return (
            all(p.within for p in self.processes if p.judged)
            and self.lost == 0
            and self.duplicated == 0
            and not any(self.restarts.values())
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def growth(
    name: str,
    series: list[tuple[float, int]],
    warmup_s: float,
    bound: GrowthBound,
    *,
    judged: bool = True,
    allowance_bytes: float = 0.0,
) -> ProcessGrowth:
    """``series`` is (seconds since start, RSS bytes); ``allowance_bytes``: a bounded cache the process
    is meant to fill (a collector's replay ring), allowed on top of the bound. Pure."""
    kept = [(t, b) for t, b in series if t >= warmup_s] or series
    tenth = max(1, len(kept) // 10)
    start = statistics.median(b for _, b in kept[:tenth])
    end = statistics.median(b for _, b in kept[-tenth:])
    slope = 0.0
    if len(kept) >= 2:
        ts = [t for t, _ in kept]
        bs = [float(b) for _, b in kept]
        if max(ts) > min(ts):
            slope = statistics.linear_regression(ts, bs).slope * 3600 / MIB
    limit = bound.limit_bytes(start, allowance_bytes)
    return ProcessGrowth(
        name, len(series), round(start / MIB, 1), round(end / MIB, 1), round((end - start) / MIB, 2),
        round(limit / MIB, 1), round(slope, 1), end - start <= limit, judged,
    )  # fmt: skip


async def run_soak(
    duration_s: float,
    *,
    rate: float = 500.0,
    interval_s: float = 1.0,
    warmup_s: float | None = None,
    bound: GrowthBound | None = None,
    clients: int = 2,
) -> SoakResult:
    bound = bound or GrowthBound()
    warmup = warmup_s if warmup_s is not None else min(300.0, duration_s * 0.2)
    options = StackOptions(rate=rate)
    result = SoakResult(
        duration_s,
        rate,
        warmup,
        f"{bound.fixed_mib:g} MiB + {bound.fraction:.0%} after warm-up"
        f" (collectors: + their {options.replay_ring_mib} MiB replay ring, x1.25)",
    )
    series: dict[str, list[tuple[float, int]]] = {}
    me = psutil.Process(os.getpid())
    async with ChaosStack(options, light_clients=True) as stack:
        for _ in range(clients - 1):
            stack.observers.append(await stack.add_observer(light=True))
        starts = {name: p.starts for name, p in stack.procs.items()}
        t0 = time.monotonic()
        while (elapsed := time.monotonic() - t0) < duration_s:
            for name, rss in stack.rss().items():
                series.setdefault(name, []).append((elapsed, rss))
            # the simulators and the clients run in this process: it is sampled too
            series.setdefault(HARNESS, []).append((elapsed, int(me.memory_info().rss)))
            await asyncio.sleep(interval_s)
        result.restarts = {n: p.starts - starts[n] for n, p in stack.procs.items()}
        exited = [n for n, p in stack.procs.items() if p.pid is None]
        for name in exited:
            result.restarts[name] = result.restarts.get(name, 0) + 1  # an exit during a soak is a failure
        await stack.settle()
        audit = audit_trades(await stack.db_trades(), await stack.db_gaps(), stack.expected_last())
        result.trades, result.lost, result.lost_with_gap = audit.trades, audit.lost_silently, audit.lost_with_gap
        result.duplicated = audit.duplicates + sum(o.duplicates() for o in stack.observers)
    # A collector fills its replay ring (bounded: --replay-ring-mib) over its first minutes: that is
    # growth by design, allowed with 25 % for the bytes objects' headers and the allocator.
    ring = options.replay_ring_mib * MIB * 1.25
    result.processes = [
        growth(n, s, warmup, bound, judged=n != HARNESS, allowance_bytes=ring if n.startswith("collector-") else 0.0)
        for n, s in sorted(series.items())
    ]
    return result
