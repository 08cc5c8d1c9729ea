"""Plain-text tables of scenario and soak results (the CLI's default output; docs/reliability.md)."""

from collections.abc import Sequence

from alphapulse.chaos.scenarios import ScenarioResult
from alphapulse.chaos.soak import SoakResult

__all__ = ("render_scenarios", "render_soak")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _s(v: float | None) -> str:
    return "not recovered" if v is None else f"{v:.2f}"


def render_scenarios(results: Sequence[ScenarioResult]) -> str:
    header = (
        "scenario", "scale", "trades", "lost", "lost with explicit gap (gap rows)", "duplicated",
        "recovery s (db / client)", "others slowed? (p99 ms before → during)", "ok",
    )  # fmt: skip
    rows = []
    for r in results:
        gap = f"{r.lost_with_gap} ({', '.join(r.gap_reasons)})" if r.gap_reasons else str(r.lost_with_gap)
        if r.others == "-":
            others = "n/a (everything is downstream)"
        else:
            verdict = "yes" if r.others_slowed or r.others_gaps else "no"
            others = f"{verdict}: {r.others} {r.others_p99_base_ms:g} → {r.others_p99_fault_ms:g}"
            if r.others_gaps:
                others += f", {r.others_gaps} gaps"
        recovery = f"{_s(r.recovery_s)} / {_s(r.client_recovery_s)}"
        if r.api_recovery_s is not None:
            recovery += f" (API ready {_s(r.api_recovery_s)})"
        if r.trading_recovery_s is not None or r.order_recovery_s is not None:
            recovery += f" (node quotes {_s(r.trading_recovery_s)}, order filled {_s(r.order_recovery_s)})"
        rows.append((
            r.scenario, r.scale, str(r.trades), str(r.lost + r.client_lost), gap, str(r.duplicated),
            recovery, others, "PASS" if r.passed else "FAIL",
        ))  # fmt: skip
    notes = [f"- {r.scenario}: {n}" for r in results for n in r.notes]
    return _table(header, rows) + ("\n\n" + "\n".join(notes) if notes else "")


def render_soak(result: SoakResult) -> str:
    header = ("process", "samples", "RSS after warm-up MiB", "RSS at end MiB", "growth MiB", "limit MiB",
              "slope MiB/h", "ok")  # fmt: skip
    rows = [
        (p.process, str(p.samples), f"{p.start_mib:g}", f"{p.end_mib:g}", f"{p.growth_mib:g}", f"{p.limit_mib:g}",
         f"{p.slope_mib_per_h:g}", ("yes" if p.within else "NO") if p.judged else "not judged (harness)")
        for p in result.processes
    ]  # fmt: skip
    head = (
        f"soak {result.duration_s:g} s at {result.rate:g} events/s per venue, warm-up {result.warmup_s:g} s, "
        f"bound {result.bound}\ntrades {result.trades}, lost {result.lost} (with gap {result.lost_with_gap}), "
        f"duplicated {result.duplicated}, restarts {sum(result.restarts.values())}: "
        f"{'PASS' if result.passed else 'FAIL'}\n\n"
    )
    return head + _table(header, rows)
