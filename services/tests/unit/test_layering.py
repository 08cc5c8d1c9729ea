"""Lower layers never import higher ones: the protocol imports only the standard library (and
NumPy in ``protocol.bulk``) plus the leaf ``alphapulse.errors``."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "alphapulse"


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_protocol_imports_only_stdlib_and_the_error_leaf() -> None:
    for path in sorted((PACKAGE / "protocol").glob("*.py")):
        allowed_third_party = {"numpy", "numpy.typing"} if path.name == "bulk.py" else set()
        for name in imports_of(path):
            top = name.split(".")[0]
            ok = (
                top in sys.stdlib_module_names
                or name in allowed_third_party
                or name == "alphapulse.errors"
                or name.startswith("alphapulse.protocol")
            )
            assert ok, f"{path.name} imports {name}"


def test_errors_is_a_leaf() -> None:
    assert not {n for n in imports_of(PACKAGE / "errors.py") if n.startswith("alphapulse")}


def test_runtime_pieces_do_not_import_services() -> None:
    services = (
        "alphapulse.relay",
        "alphapulse.bridge",
        "alphapulse.api",
        "alphapulse.store",
        "alphapulse.trading",
        "alphapulse.collectors",
        "alphapulse.cli",
        "alphapulse.supervisor",
    )
    runtime = ("clock.py", "settings.py", "logs.py", "observability.py", "transport.py", "feeds.py", "framejson.py",
               "ratelimit.py")  # fmt: skip
    for name in runtime:
        bad = {n for n in imports_of(PACKAGE / name) if n.startswith(services)}
        assert not bad, f"{name} imports {bad}"


def test_the_command_line_loads_no_heavy_engine() -> None:
    """Every service process starts by building the ``alphapulse`` parser, which imports every verb and
    every benchmark module: none of them may load NautilusTrader (~240 MiB resident per process, seen
    when a bench module imported it at the top) or Matplotlib. A fresh interpreter, so nothing is cached."""
    code = (
        "import sys; from alphapulse.cli import build_parser; build_parser(); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'nautilus_trader', 'matplotlib', 'duckdb'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]", out.stdout
