"""Fixtures shared by the whole services suite."""

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    """A short socket directory (Unix socket paths are limited to 107 bytes)."""
    with tempfile.TemporaryDirectory(prefix="ap-", dir="/tmp") as d:
        yield Path(d)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The venues' reference sessions: ``shared/fixtures/exchanges`` beside the repository."""
    candidates = [Path(os.environ["ALPHAPULSE_FIXTURES_DIR"])] if "ALPHAPULSE_FIXTURES_DIR" in os.environ else []
    candidates += [REPO_ROOT.parent / "shared" / "fixtures" / "exchanges"]
    for c in candidates:
        if (c / "binance" / "session.jsonl").exists():
            return c
    raise RuntimeError(
        f"exchange fixtures not found (looked in {[str(c) for c in candidates]}); "
        "set ALPHAPULSE_FIXTURES_DIR to the shared/fixtures/exchanges folder"
    )
