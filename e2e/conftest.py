"""Fixtures for the whole-system tests: the real pipeline as subprocesses (``e2e/stack.py``).

* ``pipeline``: one module-scoped stack (simulator at a low rate, collectors for all three venues,
  relay, writer on its own database, bridge), shared by the tests of a module.
* ``make_stack``: a factory for a test that needs its own stack (other options, or one it will
  break); every stack it made is stopped at the end of the test.

Both are synchronous: a test talks to the processes over sockets from its own event loop.
"""

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack import Stack, StackOptions

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(StackOptions(rate=300.0), root=tmp_path_factory.mktemp("pipeline")).start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    stacks: list[Stack] = []

    def make(**options: Any) -> Stack:
        stack = Stack(StackOptions(**options), root=tmp_path / f"stack{len(stacks)}")
        stacks.append(stack)
        return stack.start()

    try:
        yield make
    finally:
        for stack in reversed(stacks):
            stack.stop()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
