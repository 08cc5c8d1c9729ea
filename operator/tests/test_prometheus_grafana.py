"""Prometheus rules, the example Prometheus config and the Grafana dashboards.

* ``promtool`` (Debian's ``prometheus`` package; .ci/run installs it) checks the rules and config.
* Every alert expression and every dashboard query names only metrics from docs/metrics.md,
  the contract the services export.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "alphapulse"
ALERTS = CHART / "files" / "prometheus" / "alerts.yaml"
PROM_CONFIG = CHART / "files" / "prometheus" / "prometheus.yml"
DASHBOARDS = sorted((CHART / "dashboards").glob("*.json"))
METRIC = re.compile(r"\balphapulse_[a-z0-9_]+\b")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def documented_metrics() -> dict[str, str]:
    """name -> type, from the table rows of docs/metrics.md."""
    rows = re.findall(
        r"^\|[^|]+\|\s*`(alphapulse_[a-z0-9_]+)`\s*\|\s*(\w+)\s*\|",
        (ROOT / "docs" / "metrics.md").read_text(),
        flags=re.MULTILINE,
    )
    return dict(rows)


def unknown_metrics(expr: str, known: dict[str, str]) -> list[str]:
    bad = []
    for name in METRIC.findall(expr):
        base = next(
            (
                name.removesuffix(s)
                for s in HISTOGRAM_SUFFIXES
                if name.endswith(s) and known.get(name.removesuffix(s)) == "histogram"
            ),
            name,
        )
        if base not in known or (known[base] == "histogram" and base == name):
            bad.append(name)  # a histogram is only queryable through _bucket/_sum/_count
    return bad


def alert_exprs() -> list[tuple[str, str]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [(rule["alert"], rule["expr"]) for group in groups for rule in group["rules"]]


def dashboard_exprs(path: Path) -> list[tuple[str, str]]:
    dash = json.loads(path.read_text())
    exprs = [(f"{path.stem}/{p['title']}", t["expr"]) for p in dash["panels"] for t in p["targets"]]
    for var in dash["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            exprs.append((f"{path.stem}/${var['name']}", query))
    return exprs


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool not found: install Debian's `prometheus` package (apt-get install -y prometheus); "
            ".ci/run installs it on CI"
        )
    return path


def test_metrics_contract_is_parsed() -> None:
    known = documented_metrics()
    assert len(known) >= 30
    assert known["alphapulse_api_request_seconds"] == "histogram"


def test_promtool_checks_the_rules(promtool: str) -> None:
    proc = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(alert_exprs())} rules found" in proc.stdout


def test_promtool_checks_the_config(promtool: str, tmp_path: Path) -> None:
    # Debian builds Prometheus without Kubernetes service discovery, so its promtool rejects
    # `kubernetes_sd_configs`; check everything else (relabelling, rule_files) with a static target.
    config = yaml.safe_load(PROM_CONFIG.read_text())
    for job in config["scrape_configs"]:
        assert job.pop("kubernetes_sd_configs") == [{"role": "pod"}]
        job["static_configs"] = [{"targets": ["127.0.0.1:9100"]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    shutil.copy(ALERTS, tmp_path / "alerts.yaml")
    proc = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_alerts_cover_the_issue_list() -> None:
    names = {name for name, _ in alert_exprs()}
    for required in [
        "AlphapulseFeedDown",
        "AlphapulseFeedGapRate",
        "AlphapulseChecksumFailures",
        "AlphapulseRelayDrops",
        "AlphapulseWriterLag",
        "AlphapulseApiErrorRate",
        "AlphapulseApiLatencyP99",
        "AlphapulseEndToEndLatencyHigh",
    ]:
        assert required in names


@pytest.mark.parametrize(("where", "expr"), alert_exprs() + [e for d in DASHBOARDS for e in dashboard_exprs(d)])
def test_every_query_names_only_exported_metrics(where: str, expr: str) -> None:
    known = documented_metrics()
    assert METRIC.search(expr), f"{where}: the expression names no AlphaPulse metric"
    assert not unknown_metrics(expr, known), f"{where}: not in docs/metrics.md: {unknown_metrics(expr, known)}"


def test_the_metric_check_catches_a_wrong_name() -> None:
    known = documented_metrics()
    assert unknown_metrics("rate(alphapulse_collector_mesages_total[1m])", known) == [
        "alphapulse_collector_mesages_total"
    ]
    assert unknown_metrics("alphapulse_api_request_seconds", known) == ["alphapulse_api_request_seconds"]
    assert unknown_metrics("alphapulse_api_request_seconds_bucket", known) == []


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.stem for p in DASHBOARDS])
def test_dashboard_is_well_formed(path: Path) -> None:
    dash: dict[str, Any] = json.loads(path.read_text())
    assert dash["uid"].startswith("alphapulse-")
    assert len(dash["uid"]) <= 40
    ids = [p["id"] for p in dash["panels"]]
    assert ids
    assert len(ids) == len(set(ids))
    assert dash["templating"]["list"][0]["name"] == "datasource"
    for panel in dash["panels"]:
        # No hard-coded datasource uid: the dashboard works in any Grafana with a Prometheus source.
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"]
        assert {"x", "y", "w", "h"} <= panel["gridPos"].keys()


def test_dashboards_cover_the_issue_list() -> None:
    assert {p.stem for p in DASHBOARDS} == {"pipeline", "latency", "relay", "writer", "api", "trading"}
    uids = [json.loads(p.read_text())["uid"] for p in DASHBOARDS]
    assert len(uids) == len(set(uids))
