"""The hot-path services ask for a short time slice when told to (``--time-slice-us`` or its env), and say
clearly when the kernel cannot give one."""

import asyncio
import os
import platform
import sys
from pathlib import Path

import pytest
from relay_harness import eventually

from alphapulse.cli import build_parser
from alphapulse.timeslice import time_slice_us


def _kernel_keeps_slices() -> bool:
    major, minor = (int(p) for p in platform.release().split(".")[:2])
    return (major, minor) >= (6, 12)


@pytest.mark.parametrize("verb", [["collector", "-f", "feed.yaml"], ["relay"], ["bridge"], ["trade", "-f", "s.yaml"]])
def test_every_hot_path_service_takes_the_flag_and_its_env(verb: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert build_parser().parse_args([*verb, "--time-slice-us", "300"]).time_slice_us == 300
    assert build_parser().parse_args(verb).time_slice_us is None  # the kernel's own by default
    monkeypatch.setenv("ALPHAPULSE_TIME_SLICE_US", "150")
    assert build_parser().parse_args(verb).time_slice_us == 150


async def test_the_relay_runs_with_the_slice_it_was_given(sock_dir: Path) -> None:
    env = {**os.environ, "ALPHAPULSE_TIME_SLICE_US": "150"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "alphapulse", "relay", "--sock-dir", str(sock_dir), "--port", "0"),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        if _kernel_keeps_slices():
            await eventually((sock_dir / "relay.sock").exists, what="relay socket")
            assert time_slice_us(proc.pid) == 150  # the loop's thread: the process's main thread
        else:
            assert proc.stderr is not None
            err = (await asyncio.wait_for(proc.stderr.read(), 30)).decode()
            assert await proc.wait() == 2
            assert "needs Linux 6.12" in err
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()


async def test_a_slice_out_of_the_kernels_range_is_refused_before_anything_starts(sock_dir: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "alphapulse", "relay", "--sock-dir", str(sock_dir), "--port", "0", "--time-slice-us", "20"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    err = (await asyncio.wait_for(proc.stderr.read(), 30)).decode()
    assert await proc.wait() == 2
    assert "time slice 20 us: the kernel takes 100-100000 us" in err
    assert not (sock_dir / "relay.sock").exists()
