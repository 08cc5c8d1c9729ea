"""``alphapulse bench NAME``: run a benchmark and print a table, or one JSON object with --json."""

import argparse
import importlib
import pkgutil
from typing import Any


def register(subparsers: Any) -> None:
    import alphapulse.bench as bench_pkg

    p = subparsers.add_parser(
        "bench",
        help="measure a part against its peer, in the same run",
        description="Each benchmark measures AlphaPulse and a peer system on the same workload in one run and "
        "reports throughput and latency percentiles. --json prints one JSON object (see docs/performance.md).",
    )
    names = sorted(
        m.name
        for m in pkgutil.iter_modules(bench_pkg.__path__)
        if m.name not in {"stats"} and not m.name.startswith("_")
    )
    sub = p.add_subparsers(dest="bench", metavar="NAME", required=True)
    for name in names:
        module = importlib.import_module(f"alphapulse.bench.{name}")
        bp = sub.add_parser(name, help=(module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else None)
        bp.add_argument("--json", action="store_true", help="print one JSON object")
        if hasattr(module, "add_arguments"):
            module.add_arguments(bp)
        bp.set_defaults(handler=run, bench_module=module)


def run(args: argparse.Namespace) -> int:
    import orjson

    from alphapulse.bench.stats import render_table

    report = args.bench_module.run(args)
    report.setdefault("bench", args.bench)
    print(orjson.dumps(report).decode() if args.json else render_table(report))
    return 0
