"""What makes the dependency audit meaningful, checked offline in every run (docs/security.md,
"Dependency audit"). The audit itself (``make audit``: pip-audit and npm audit) needs the
vulnerability databases on the network, so it is a separate command, not a test that would skip.
Here: every Python dependency is pinned exactly in constraints.txt (what the image installs and
pip-audit audits), pip-audit parses that file and would audit every pin, the dashboard's lockfile
pins every package with an integrity hash, and ``make audit`` fails on
anything it could not audit."""

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)$")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = PIN.match(line.strip())
        assert m, f"constraints.txt: {line!r} is not an exact pin (name==version)"
        pins[_norm(m[1])] = m[2]
    return pins


def test_every_dependency_is_pinned_exactly() -> None:
    pins = _pins()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *(d for group in project["optional-dependencies"].values() for d in group)]
    names = {_norm(re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0]) for d in wanted}
    assert names - set(pins) == set(), "dependencies without an exact pin in constraints.txt"
    assert {"pip-audit", "atheris"} <= set(pins)


def test_pip_audit_reads_every_pin() -> None:
    # --dry-run parses and resolves the requirements without contacting the vulnerability service
    args = ["-r", str(ROOT / "constraints.txt"), "--no-deps", "--disable-pip", "--strict", "--dry-run"]
    proc = subprocess.run(
        [sys.executable, "-m", "pip_audit", *args, "--progress-spinner", "off"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"would have audited (\d+) packages", proc.stderr)
    assert m, proc.stderr
    assert int(m[1]) == len(_pins())


def test_the_dashboard_lockfile_pins_every_package_with_an_integrity_hash() -> None:
    lock = json.loads((ROOT / "frontend" / "package-lock.json").read_text())
    assert lock["lockfileVersion"] >= 2  # npm audit reads the "packages" map
    packages = {k: v for k, v in lock["packages"].items() if k}  # "" is the project itself
    assert packages
    for path, meta in packages.items():
        if meta.get("link"):
            continue
        assert meta.get("version"), path
        assert meta.get("integrity", "").startswith("sha512-"), path


def test_make_audit_fails_on_what_it_could_not_audit() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\naudit:", 1)[1].split("\n\n", 1)[0]
    # --strict: a package the service does not know fails the audit instead of being skipped
    assert "pip-audit -r constraints.txt --no-deps --disable-pip --strict" in recipe
    assert "npm audit" in recipe and "--audit-level" in recipe
    assert "make audit" in (ROOT / "docs" / "security.md").read_text()
