"""Fixtures shared by the whole services suite."""

import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from alphapulse.sim.replay import default_fixtures_dir


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """A test that runs the CLI in-process points the root logger at its captured stderr; put it back after,
    or every later log line meets a closed file ("--- Logging error ---" in a later test's output)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


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
