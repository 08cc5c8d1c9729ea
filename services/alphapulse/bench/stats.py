"""Latency and throughput summaries shared by every benchmark."""

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ("latency_summary", "render_table", "result")


def latency_summary(samples_ns: npt.NDArray[np.int64] | list[int]) -> dict[str, float]:
    arr = np.asarray(samples_ns, dtype=np.float64)
    if arr.size == 0:
        return {"p50": float("nan"), "p99": float("nan"), "p999": float("nan"), "count": 0}
    p50, p99, p999 = np.percentile(arr, [50, 99, 99.9])
    return {"p50": round(float(p50)), "p99": round(float(p99)), "p999": round(float(p999)), "count": int(arr.size)}


def result(system: str, throughput_per_s: float, latency_ns: dict[str, float], **extra: Any) -> dict[str, Any]:
    return {"system": system, "throughput_per_s": round(throughput_per_s), "latency_ns": latency_ns, **extra}


def render_table(report: dict[str, Any]) -> str:
    """A human-readable table of a benchmark report."""
    rows = [("system", "scenario", "throughput/s", "p50 µs", "p99 µs", "p99.9 µs")]
    for r in report.get("results", []):
        lat = r.get("latency_ns") or {}

        def us(key: str, lat: dict[str, float] = lat) -> str:
            v = lat.get(key)
            return "-" if v is None or np.isnan(v) else f"{v / 1000:.1f}"

        rows.append(
            (
                str(r.get("system")),
                str(r.get("scenario") or r.get("venue") or "-") + (f" (run {r['run']})" if "run" in r else ""),
                f"{r.get('throughput_per_s', 0):,}",
                us("p50"),
                us("p99"),
                us("p999"),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [f"bench {report.get('bench')}"]
    lines += [
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in rows
    ]
    for note in report.get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines)
