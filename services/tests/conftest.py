"""Fixtures shared by the whole services suite."""

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from alphapulse.sim.replay import default_fixtures_dir


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    """A short socket directory (Unix socket paths are limited to 107 bytes)."""
    with tempfile.TemporaryDirectory(prefix="ap-", dir="/tmp") as d:
        yield Path(d)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The venues' reference sessions (``fixtures/exchanges`` in the repository, or ``$ALPHAPULSE_FIXTURES_DIR``)."""
    found = default_fixtures_dir()
    if not (found / "binance" / "session.jsonl").exists():
        raise RuntimeError(f"exchange fixtures not found in {found}; set ALPHAPULSE_FIXTURES_DIR to their folder")
    return found
