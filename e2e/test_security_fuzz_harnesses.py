"""Every atheris harness in e2e/fuzz/ runs a few hundred inputs from its seeds without a crash, so
the long-run fuzzers (docs/security.md, "Fuzzing") cannot rot while nobody runs them."""

import subprocess
import sys
from pathlib import Path

import pytest

FUZZ_DIR = Path(__file__).resolve().parent / "fuzz"
HARNESSES = sorted(p.stem.removeprefix("fuzz_") for p in FUZZ_DIR.glob("fuzz_*.py"))
LIBRARIES = {"common", "venues"}  # shared modules, not harnesses


def test_there_is_a_harness_for_every_untrusted_parser() -> None:
    assert set(HARNESSES) - LIBRARIES == {
        "kraken",
        "coinbase",
        "binance",
        "frames",
        "relay",
        "bridge_messages",
        "bridge_cells",
        "feeds",
    }


@pytest.mark.parametrize("name", sorted(set(HARNESSES) - LIBRARIES))
def test_harness_runs_clean(name: str, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    proc = subprocess.run(
        [sys.executable, f"fuzz_{name}.py", str(corpus), "-runs=300", "-seed=1", f"-artifact_prefix={tmp_path}/"],
        cwd=FUZZ_DIR,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Done 300 runs" in proc.stderr or "DONE" in proc.stderr, proc.stderr[-2000:]
    assert any(corpus.iterdir()), "the harness seeded no corpus"
    assert not list(tmp_path.glob("crash-*"))
