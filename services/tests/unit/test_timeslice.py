"""A thread's own time slice: asked for without privilege, kept with the thread's nice value, and refused with a
clear error where the kernel cannot give one."""

import os
import platform
import threading
import time
from collections.abc import Callable

import pytest

from alphapulse.errors import ConfigError
from alphapulse.timeslice import MAX_SLICE_US, MIN_SLICE_US, set_time_slice, time_slice_us


def _kernel_keeps_slices() -> bool:
    major, minor = (int(p) for p in platform.release().split(".")[:2])
    return (major, minor) >= (6, 12)


def _in_a_thread(body: Callable[[], object]) -> object:
    """Run ``body`` in a thread of its own, so the test process's threads keep their slices."""
    out: list[object] = []

    def run() -> None:
        try:
            out.append(body())
        except Exception as e:  # handed back to the test
            out.append(e)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return out[0]


def test_a_thread_gets_the_slice_it_asks_for_and_keeps_its_nice_value() -> None:
    def ask() -> tuple[object, int, int]:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 3)  # nice is per thread on Linux
        try:
            taken: object = set_time_slice(250)
        except ConfigError as e:
            taken = e
        return taken, time_slice_us(), os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    taken, now, nice = _in_a_thread(ask)  # type: ignore[misc]
    if _kernel_keeps_slices():
        assert (taken, now, nice) == (250, 250, 3)
    else:
        assert isinstance(taken, ConfigError) and "Linux 6.12" in str(taken)


def test_another_thread_can_be_given_one_by_its_id() -> None:
    started, done = threading.Event(), threading.Event()
    tid: list[int] = []

    def wait() -> None:
        tid.append(threading.get_native_id())
        started.set()
        done.wait(10)

    t = threading.Thread(target=wait)
    t.start()
    started.wait(10)
    try:
        if _kernel_keeps_slices():
            before = time_slice_us(tid[0])
            assert set_time_slice(MIN_SLICE_US, tid[0]) == MIN_SLICE_US
            assert time_slice_us(tid[0]) == MIN_SLICE_US != before
            assert time_slice_us() == before  # the caller's own is untouched
        else:
            with pytest.raises(ConfigError, match=r"Linux 6\.12"):
                set_time_slice(MIN_SLICE_US, tid[0])
    finally:
        done.set()
        t.join()


@pytest.mark.parametrize("us", [0, MIN_SLICE_US - 1, MAX_SLICE_US + 1])
def test_a_slice_the_kernel_would_clamp_is_refused(us: int) -> None:
    with pytest.raises(ConfigError, match=f"{MIN_SLICE_US}-{MAX_SLICE_US} us"):
        set_time_slice(us)


def test_a_thread_outside_the_fair_scheduler_is_refused() -> None:
    def ask() -> object:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        try:
            return set_time_slice(MIN_SLICE_US)
        except ConfigError as e:
            return e

    err = _in_a_thread(ask)
    assert isinstance(err, ConfigError) and "not SCHED_OTHER" in str(err)


def test_a_thread_that_is_gone_is_a_lookup_error_as_for_any_call_on_a_tid() -> None:
    t = threading.Thread(target=threading.get_native_id)
    t.start()
    gone = t.native_id
    t.join()
    assert gone is not None
    # join() returns when the thread's Python work ends, a moment before the kernel's thread does
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/self/task/{gone}"):
        assert time.monotonic() < deadline, f"thread {gone} still exists"
        time.sleep(0.001)
    with pytest.raises(ProcessLookupError, match=f"no thread {gone}"):
        time_slice_us(gone)
    with pytest.raises(ProcessLookupError):
        set_time_slice(MIN_SLICE_US, gone)
