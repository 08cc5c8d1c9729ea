"""A short scheduler time slice for a latency-critical thread, without root.

On a node where the pipeline's stages share CPUs with each other and with everything else, a woken
stage often finds both CPUs busy: the bridge writing to its clients, the writer, the database, another
pod. Linux's fair scheduler (EEVDF, 6.6 and later) then lets the running task finish its slice (0.7 ms
times a factor for the number of CPUs: 1.4 ms on the project's 2-vCPU VMs) before the woken one runs,
and the woken stage's wait for a CPU was measured as long as the hop itself (docs/performance.md).

Since Linux 6.12 any thread may ask for a shorter slice of its own (``sched_setattr`` with
``SCHED_OTHER`` and ``sched_runtime``, 0.1–100 ms; no capability needed). A thread with a shorter
slice than the running one preempts it when it wakes (the scheduler's ``PREEMPT_SHORT``), and gets no
more CPU than before: the slice sets how soon it runs, its weight how much. A stage that runs for tens
of microseconds per message gives nothing up by asking for the shortest.
"""

import ctypes
import errno
import os
import platform

from alphapulse.errors import ConfigError

__all__ = ("MAX_SLICE_US", "MIN_SLICE_US", "set_time_slice", "time_slice_us")

MIN_SLICE_US = 100  # the kernel's clamp: 0.1 ms ...
MAX_SLICE_US = 100_000  # ... to 100 ms

# The syscall numbers: sched_setattr, sched_getattr. x86_64 has its own table; the generic one
# (arm64, riscv64) is shared by the other 64-bit architectures a node runs.
_SYSCALLS = {"x86_64": (314, 315), "aarch64": (274, 275), "arm64": (274, 275), "riscv64": (274, 275)}
_SCHED_OTHER = 0
_SCHED_FLAG_KEEP_POLICY = 0x08


class _SchedAttr(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_uint32),
        ("sched_policy", ctypes.c_uint32),
        ("sched_flags", ctypes.c_uint64),
        ("sched_nice", ctypes.c_int32),
        ("sched_priority", ctypes.c_uint32),
        ("sched_runtime", ctypes.c_uint64),
        ("sched_deadline", ctypes.c_uint64),
        ("sched_period", ctypes.c_uint64),
        ("sched_util_min", ctypes.c_uint32),
        ("sched_util_max", ctypes.c_uint32),
    ]


def _syscalls() -> tuple[int, int]:
    machine = platform.machine()
    if os.uname().sysname != "Linux" or machine not in _SYSCALLS:
        raise ConfigError(f"a time slice of one's own needs Linux on {', '.join(sorted(_SYSCALLS))}, not {machine}")
    return _SYSCALLS[machine]


def _failed(call: str, tid: int) -> Exception:
    err = ctypes.get_errno()
    if err == errno.ESRCH:  # a thread that exited: the caller's to expect, as with any other call on a tid
        return ProcessLookupError(err, f"{call}: no thread {tid}")
    return ConfigError(f"{call}({tid}): {os.strerror(err)}")


def _get(tid: int) -> _SchedAttr:
    libc = ctypes.CDLL(None, use_errno=True)
    attr = _SchedAttr()
    if libc.syscall(_syscalls()[1], tid, ctypes.byref(attr), ctypes.sizeof(attr), 0) != 0:
        raise _failed("sched_getattr", tid)
    return attr


def time_slice_us(tid: int = 0) -> int:
    """The thread's time slice, µs (0: the thread is not under the fair scheduler or the kernel keeps no
    slice per thread). ``tid`` 0 is the calling thread; one that has exited raises ProcessLookupError."""
    attr = _get(tid)
    return int(attr.sched_runtime) // 1000 if attr.sched_policy == _SCHED_OTHER else 0


def set_time_slice(us: int, tid: int = 0) -> int:
    """Give thread ``tid`` (0: the caller) a time slice of ``us`` µs, keeping its policy and nice value.
    Returns the slice the kernel took; raises :class:`ConfigError` where the kernel keeps none per thread
    (before Linux 6.12) or the thread is not under the fair scheduler."""
    if not MIN_SLICE_US <= us <= MAX_SLICE_US:
        raise ConfigError(f"time slice {us} us: the kernel takes {MIN_SLICE_US}-{MAX_SLICE_US} us")
    attr = _get(tid)
    if attr.sched_policy != _SCHED_OTHER:
        who = tid or os.getpid()
        raise ConfigError(f"thread {who} runs under scheduling policy {attr.sched_policy}, not SCHED_OTHER")
    attr.size = ctypes.sizeof(attr)
    attr.sched_flags = _SCHED_FLAG_KEEP_POLICY
    attr.sched_runtime = us * 1000
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(_syscalls()[0], tid, ctypes.byref(attr), 0) != 0:
        raise _failed("sched_setattr", tid)
    taken = time_slice_us(tid)
    if taken != us:
        raise ConfigError(
            f"the kernel ({os.uname().release}) keeps no time slice per thread (asked {us} us, has {taken} us): "
            "it needs Linux 6.12 or later"
        )
    return taken
