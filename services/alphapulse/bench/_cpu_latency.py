"""Hold the kernel's CPU latency limit (PM QoS, ``/dev/cpu_dma_latency``) for a block of code.

While the file is open with a limit of N µs, no CPU enters an idle state that takes longer than
N µs to leave; 0 keeps idle CPUs polling instead of halting. On a VM that halts idle vCPUs at once
(``cpuidle-haltpoll`` with ``guest_halt_poll_ns=0``) waking one costs the host a round trip, which
every hop of a pipeline pays at low rates; a latency-tuned node (``tuned``, the Node Tuning
Operator) holds such a limit for the same reason. There the halt state declares a 1 µs exit latency,
so only 0 keeps a vCPU from halting. The price is the idle CPUs' time: they spin instead of sleeping.
"""

import contextlib
import os
import struct
from collections.abc import Iterator
from pathlib import Path

from alphapulse.errors import ConfigError

__all__ = ("DEVICE", "cpu_latency_limit", "idle_states")

DEVICE = "/dev/cpu_dma_latency"


@contextlib.contextmanager
def cpu_latency_limit(us: int | None, device: str = DEVICE) -> Iterator[None]:
    """Keep every CPU's wake-up latency at most ``us`` µs inside the block (None: leave it alone)."""
    if us is None:
        yield
        return
    if us < 0:
        raise ConfigError(f"a CPU latency limit is a number of µs >= 0, not {us}")
    try:
        fd = os.open(device, os.O_WRONLY)
    except PermissionError as e:
        raise ConfigError(f"cannot hold a CPU latency limit: {device} is writable by root only ({e.strerror})") from e
    except FileNotFoundError as e:
        raise ConfigError(f"cannot hold a CPU latency limit: this kernel has no {device}") from e
    try:
        os.write(fd, struct.pack("=i", us))  # the kernel keeps the request while the file stays open
        yield
    finally:
        os.close(fd)


def idle_states(root: Path = Path("/sys/devices/system/cpu")) -> dict[str, str]:
    """The cpuidle driver and governor in use (empty where the kernel has no cpuidle)."""
    out = {}
    for key in ("current_driver", "current_governor"):
        with contextlib.suppress(OSError):
            out[key.removeprefix("current_")] = (root / "cpuidle" / key).read_text().strip()
    return out
