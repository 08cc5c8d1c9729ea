"""The CPU latency limit ``bench e2e --cpu-latency-us`` holds: written as the kernel reads it, held for the block."""

import contextlib
import os
import struct
from pathlib import Path

import pytest

from alphapulse.bench._cpu_latency import cpu_latency_limit, idle_states
from alphapulse.errors import ConfigError


def _open_files() -> set[str]:
    paths = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the directory listing's own descriptor is gone by now
            paths.add(os.readlink(f"/proc/self/fd/{fd}"))
    return paths


def test_the_limit_is_written_as_a_native_int_and_held_only_inside_the_block(tmp_path: Path) -> None:
    device = tmp_path / "cpu_dma_latency"
    device.write_bytes(b"")
    with cpu_latency_limit(0, device=str(device)):
        assert device.read_bytes() == struct.pack("=i", 0)
        assert str(device) in _open_files()
    assert str(device) not in _open_files()  # the kernel drops the request when the file is closed


def test_none_leaves_the_kernel_alone(tmp_path: Path) -> None:
    with cpu_latency_limit(None, device=str(tmp_path / "absent")):
        pass


def test_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no .*absent"), cpu_latency_limit(0, device=str(tmp_path / "absent")):
        pass
    with pytest.raises(ConfigError, match=">= 0"), cpu_latency_limit(-1, device=str(tmp_path / "absent")):
        pass


def test_idle_states_reads_the_cpuidle_driver_and_governor(tmp_path: Path) -> None:
    (tmp_path / "cpuidle").mkdir()
    (tmp_path / "cpuidle" / "current_driver").write_text("haltpoll\n")
    (tmp_path / "cpuidle" / "current_governor").write_text("haltpoll\n")
    assert idle_states(tmp_path) == {"driver": "haltpoll", "governor": "haltpoll"}
    assert idle_states(tmp_path / "none") == {}
