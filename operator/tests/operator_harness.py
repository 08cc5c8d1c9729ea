"""Helpers for the operator tests: run kopf in the test's task, wait for conditions, build feeds."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import kopf

__all__ = ("eventually", "feed_body", "running_operator")


def feed_body(name: str = "kraken-main", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "alphapulse.io/v1alpha1",
        "kind": "ExchangeFeed",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"exchange": "kraken", "symbols": ["BTC-USD"], **spec},
    }


@contextlib.asynccontextmanager
async def running_operator(liveness_endpoint: str | None = None) -> AsyncIterator[asyncio.Task[None]]:
    """Enter in the test's own task: kopf cancels tasks created after it starts (fixtures' too)."""
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        kopf.operator(
            clusterwide=True,
            standalone=True,
            stop_flag=stop,
            ready_flag=ready,
            liveness_endpoint=liveness_endpoint,
        ),
        name="test.kopf-operator",
    )
    await asyncio.wait_for(ready.wait(), 10)
    try:
        yield task
    finally:
        # A graceful stop waits ~5 s for kmock's open watch connections; cancelling ends at once.
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


async def eventually(check: Callable[[], Any] | Callable[[], Awaitable[Any]], timeout_s: float = 5.0) -> Any:
    """Poll ``check`` until it returns a truthy value (or stops raising); fail after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    last: BaseException | None = None
    while True:
        try:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return result
            last = None
        except (AssertionError, KeyError, IndexError, TypeError) as e:
            last = e
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s: {last!r}")
        await asyncio.sleep(0.02)
