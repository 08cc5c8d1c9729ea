"""The ``alphapulse`` command: one verb per service.

Each module in this package is a verb (or a group of verbs) and defines
``register(subparsers) -> None``; adding a verb is adding a module, never editing this file.
Verb modules import their service lazily so ``alphapulse --help`` stays fast.
"""

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from alphapulse import __version__
from alphapulse.errors import AlphapulseError

__all__ = ("build_parser", "main")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alphapulse",
        description="AlphaPulse: crypto market data and trading. `alphapulse up` runs the local stack.",
    )
    parser.add_argument("--version", action="version", version=f"alphapulse {__version__}")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB")
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    from alphapulse.logs import configure_logging

    configure_logging(args.log_level)
    try:
        return int(args.handler(args) or 0)
    except AlphapulseError as e:
        print(f"alphapulse {args.verb}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
