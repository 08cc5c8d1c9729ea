"""run_service freezes the start-up heap: a full collection then walks only what the service made since."""

import gc

from alphapulse.cli._runtime import run_service


def test_run_service_freezes_the_start_up_heap_before_the_service_runs() -> None:
    async def service() -> int:
        return gc.get_freeze_count()

    try:
        frozen = run_service(service)
    finally:
        gc.unfreeze()  # this test process is not a service: give its heap back to the collector
    assert frozen > 1000  # the modules and everything imported: tens of thousands of objects
