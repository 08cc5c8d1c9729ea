"""Sleeping until a moment of the monotonic clock to the microsecond: asyncio's own timers round to the millisecond.

uvloop (libuv) and asyncio's selector loop both hand epoll a timeout in whole milliseconds, so a venue that should
send an event 300 µs from now sends it up to a millisecond late, and venues served by one process wake together.
A Linux ``timerfd`` armed for an absolute time of ``CLOCK_MONOTONIC`` (the clock of :func:`time.monotonic`) and
watched by the event loop wakes it on time. Where there is none (another OS), asyncio's timer is used.
"""

import asyncio
import ctypes
import os
import sys
import time

__all__ = ("PreciseTimer",)

_TFD_CLOEXEC = 0o2000000
_TFD_NONBLOCK = 0o4000
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long))


class _Itimerspec(ctypes.Structure):
    _fields_ = (("it_interval", _Timespec), ("it_value", _Timespec))


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    libc.timerfd_create.argtypes = (ctypes.c_int, ctypes.c_int)
    libc.timerfd_settime.argtypes = (
        ctypes.c_int,
        ctypes.c_int,
        ctypes.POINTER(_Itimerspec),
        ctypes.POINTER(_Itimerspec),
    )
    return libc


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class PreciseTimer:
    """One task's alarm clock: ``await timer.arm(t)``, ``t`` read off :func:`time.monotonic`.

    Not shared between tasks (one alarm at a time); ``close()`` releases the timerfd.
    """

    def __init__(self) -> None:
        self._libc = _libc()
        self._fd = -1
        self._waiter: asyncio.Future[None] | None = None
        self._spec = _Itimerspec()
        if self._libc is not None:
            fd = self._libc.timerfd_create(time.CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
            if fd < 0:
                err = ctypes.get_errno()
                raise OSError(err, f"timerfd_create: {os.strerror(err)}")
            self._fd = fd
            asyncio.get_running_loop().add_reader(fd, self._rang)

    @property
    def precise(self) -> bool:
        """True where a timerfd keeps the time (Linux), False where asyncio's millisecond timer does."""
        return self._fd >= 0

    def _rang(self) -> None:
        try:
            os.read(self._fd, 8)
        except BlockingIOError:  # disarmed (re-armed for later) after it became readable
            return
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            _resolve(waiter)

    def arm(self, at: float) -> asyncio.Future[None]:
        """Set the alarm for ``at`` and return the future it resolves. Arming before the work that comes ahead of
        the sleep leaves only the wait after that work: the simulator arms before it writes a tick's frames, so that
        the write is the last thing it does before it sleeps. A new alarm cancels one still pending."""
        if self._waiter is not None:
            self._waiter.cancel()  # replaced: whoever awaits it learns so instead of waiting for nothing
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiter = waiter
        delay = at - time.monotonic()
        if delay <= 0:
            loop.call_soon(_resolve, waiter)  # let the loop run once, as a zero-length sleep would
            return waiter
        if self._fd < 0 or self._libc is None:
            handle = loop.call_later(delay, _resolve, waiter)
            waiter.add_done_callback(lambda _: handle.cancel())
            return waiter
        sec = int(at)
        value = self._spec.it_value
        value.tv_sec, value.tv_nsec = sec, int((at - sec) * 1e9)
        if self._libc.timerfd_settime(self._fd, _TFD_TIMER_ABSTIME, ctypes.byref(self._spec), None) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"timerfd_settime: {os.strerror(err)}")
        return waiter

    def close(self) -> None:
        if self._fd >= 0:
            asyncio.get_running_loop().remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1
