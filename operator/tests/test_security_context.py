"""Security posture of everything the chart and the operator put on a cluster (docs/security.md).

Every container of every scenario, init containers included, and the collector Deployments the
operator renders: non-root, read-only root filesystem, no privilege escalation, all capabilities
dropped, RuntimeDefault seccomp, no host namespaces, the hostPath only where the socket directory
must be shared, no service-account token where no API access is needed. The exceptions are listed
here and in docs/security.md, and the test fails if either list changes without the other. Network
policies: the relay's unauthenticated TCP port, Redis (the order path) and the database are
reachable only from the pods that use them. RBAC least privilege is checked against the operator's
real request log in test_operator_rbac.py.
"""

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_tools import ToolsError, ensure_tools
from manifest_checks import KUBE_VERSION, kube_validate

from alphapulse.feeds import validate_feed_document
from alphapulse_operator.rendering import render_deployment
from alphapulse_operator.settings import OperatorSettings

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "alphapulse"
SECURITY_DOC = ROOT / "docs" / "security.md"
SCENARIOS = ["default", *sorted(p.name.removesuffix("-values.yaml") for p in (CHART / "ci").glob("*-values.yaml"))]
WORKLOADS = {"Deployment", "DaemonSet", "StatefulSet", "Job"}
SOCKET_DIR = "/var/run/alphapulse"

# (component, container): the rules it is allowed to break, and nothing more. Each is explained in
# docs/security.md ("Containers").
EXCEPTIONS: dict[tuple[str, str], set[str]] = {
    # hands the hostPath socket directory to UID 10001: root with CHOWN and FOWNER only
    ("relay", "socket-dir"): {"root", "capabilities added"},
    # PostgreSQL writes its run directory and configuration in place
    ("timescaledb", "timescaledb"): {"writable root filesystem"},
}
# pods that talk to the Kubernetes API and so need a service-account token
API_CLIENTS = {"operator"}

Obj = dict[str, Any]


@pytest.fixture(scope="module")
def helm() -> Path:
    try:
        return ensure_tools()["helm"]
    except ToolsError as e:
        pytest.fail(f"helm is required for the chart tests and could not be fetched: {e}")


def render(helm: Path, scenario: str, *extra: str) -> list[Obj]:
    values = [] if scenario == "default" else ["-f", str(CHART / "ci" / f"{scenario}-values.yaml")]
    proc = subprocess.run(
        [
            str(helm),
            "template",
            "ap",
            str(CHART),
            "--namespace",
            "alphapulse",
            "--kube-version",
            KUBE_VERSION,
            *values,
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


@pytest.fixture(scope="module")
def rendered(helm: Path) -> dict[str, list[Obj]]:
    return {s: render(helm, s) for s in SCENARIOS}


def collector_deployment() -> Obj:
    doc = validate_feed_document(
        {
            "apiVersion": "alphapulse.io/v1alpha1",
            "kind": "ExchangeFeed",
            "metadata": {"name": "kraken-spot", "namespace": "alphapulse", "uid": "u-1"},
            "spec": {"exchange": "kraken", "symbols": ["BTC-USD"]},
        }
    )
    return render_deployment(doc, OperatorSettings(sock_dir=SOCKET_DIR))


def violations(workload: Obj) -> dict[tuple[str, str], list[str]]:
    """Every hardening rule each container of the workload breaks, keyed by (component, container)."""
    pod = workload["spec"]["template"]["spec"]
    labels = workload["spec"]["template"]["metadata"]["labels"]
    component = labels.get("app.kubernetes.io/component", "collector")  # the operator's collectors: their own labels
    psc = pod.get("securityContext", {})
    found: dict[tuple[str, str], list[str]] = {}
    for c in [*pod.get("initContainers", []), *pod["containers"]]:
        sc = c.get("securityContext", {})
        problems = []
        if (
            sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is not True
            or sc.get("runAsUser", psc.get("runAsUser")) == 0
        ):
            problems.append("root")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append("writable root filesystem")
        if sc.get("allowPrivilegeEscalation") is not False or sc.get("privileged"):
            problems.append("privilege escalation")
        if sc.get("capabilities", {}).get("drop") != ["ALL"]:
            problems.append("capabilities not dropped")
        if sc.get("capabilities", {}).get("add"):
            problems.append("capabilities added")
        if sc.get("seccompProfile", psc.get("seccompProfile")) != {"type": "RuntimeDefault"}:
            problems.append("no RuntimeDefault seccomp")
        if problems:
            found[(component, c["name"])] = problems
    return found


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_container_is_non_root_read_only_or_a_documented_exception(
    rendered: dict[str, list[Obj]], scenario: str
) -> None:
    seen: dict[tuple[str, str], list[str]] = {}
    for obj in rendered[scenario]:
        if obj["kind"] in WORKLOADS:
            pod = obj["spec"]["template"]["spec"]
            assert not (pod.get("hostNetwork") or pod.get("hostPID") or pod.get("hostIPC")), obj["metadata"]["name"]
            seen |= violations(obj)
    for key, problems in seen.items():
        assert key in EXCEPTIONS, (
            f"{scenario}: {key} is not hardened ({', '.join(problems)}) and not a documented exception"
        )
        assert set(problems) <= EXCEPTIONS[key], f"{scenario}: {key} breaks more than its documented rules: {problems}"


def test_the_relay_init_container_gets_exactly_chown_and_fowner(rendered: dict[str, list[Obj]]) -> None:
    relay = next(o for o in rendered["default"] if o["kind"] == "DaemonSet")
    (init,) = relay["spec"]["template"]["spec"]["initContainers"]
    sc = init["securityContext"]
    assert sc["runAsUser"] == 0
    assert sc["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN", "FOWNER"]}
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False


def test_exceptions_are_documented_in_security_md() -> None:
    doc = SECURITY_DOC.read_text()
    for component, container in EXCEPTIONS:
        assert f"`{component}`/`{container}`" in doc, f"docs/security.md does not explain {component}/{container}"


def test_operator_rendered_collectors_are_hardened() -> None:
    dep = collector_deployment()
    assert violations(dep) == {}
    pod = dep["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    host_paths = [v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v]
    assert host_paths == [SOCKET_DIR]
    kube_validate(dep)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_host_path_and_service_account_tokens_only_where_needed(rendered: dict[str, list[Obj]], scenario: str) -> None:
    for obj in rendered[scenario]:
        if obj["kind"] not in WORKLOADS:
            continue
        name = obj["metadata"]["name"]
        pod = obj["spec"]["template"]["spec"]
        host_paths = [v["hostPath"]["path"] for v in pod.get("volumes", []) if "hostPath" in v]
        # the socket directory, only in the relay (collectors are the operator's, checked above)
        assert host_paths == ([SOCKET_DIR] if name.endswith("-relay") else []), (scenario, name, host_paths)
        if not any(name.endswith(f"-{c}") for c in API_CLIENTS):
            assert pod.get("automountServiceAccountToken") is False, (scenario, name)


def _policies(objs: list[Obj]) -> dict[str, Obj]:
    return {o["metadata"]["name"].removeprefix("ap-alphapulse-"): o for o in objs if o["kind"] == "NetworkPolicy"}


def _components(rule: Obj) -> set[str]:
    return {p["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in rule["from"] if "podSelector" in p}


def test_network_policies_close_the_relay_redis_and_database(rendered: dict[str, list[Obj]]) -> None:
    policies = _policies(rendered["default"])
    assert set(policies) == {"relay", "redis", "timescaledb"}
    for policy in policies.values():
        kube_validate(policy)
        assert policy["spec"]["policyTypes"] == ["Ingress"]
    relay_rules = policies["relay"]["spec"]["ingress"]
    frames = next(r for r in relay_rules if r["ports"] == [{"port": 7700, "protocol": "TCP"}])
    assert _components(frames) == {"bridge", "writer"} and len(frames["from"]) == 2
    # every rule that opens the frame port names its peers: no rule without `from` covers 7700
    assert all("from" in r for r in relay_rules if any(p["port"] == 7700 for p in r["ports"]))
    (redis,) = policies["redis"]["spec"]["ingress"]
    assert _components(redis) == {"api"} and redis["ports"] == [{"port": 6379, "protocol": "TCP"}]
    (db,) = policies["timescaledb"]["spec"]["ingress"]
    assert _components(db) == {"api", "writer", "migrations"}
    # the selectors match the pods they are meant for
    pods = {
        o["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        for o in rendered["default"]
        if o["kind"] in WORKLOADS
    }
    assert {"relay", "redis", "timescaledb", "api", "bridge", "writer", "migrations"} <= pods


def test_external_databases_get_no_policy_and_extra_peers_are_added(helm: Path, rendered: dict[str, list[Obj]]) -> None:
    assert set(_policies(rendered["minimal"])) == {"relay"}
    extra = render(
        helm,
        "default",
        "--set",
        "networkPolicy.relayClients[0].namespaceSelector.matchLabels.team=trading",
        "--set",
        "networkPolicy.redisClients[0].namespaceSelector.matchLabels.team=trading",
    )
    policies = _policies(extra)
    frames = policies["relay"]["spec"]["ingress"][0]
    assert {"namespaceSelector": {"matchLabels": {"team": "trading"}}} in frames["from"]
    assert {"namespaceSelector": {"matchLabels": {"team": "trading"}}} in policies["redis"]["spec"]["ingress"][0][
        "from"
    ]
    assert _policies(render(helm, "default", "--set", "networkPolicy.enabled=false")) == {}


def test_naming_the_apis_clients_closes_its_http_port_to_everyone_else(helm: Path) -> None:
    controller = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    prometheus = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    objs = render(
        helm,
        "default",
        "--set",
        r"networkPolicy.apiClients[0].namespaceSelector.matchLabels.kubernetes\.io/metadata\.name=ingress-nginx",
        "--set",
        r"networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.kubernetes\.io/metadata\.name=monitoring",
    )
    policy = _policies(objs)["api"]
    kube_validate(policy)
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "api"
    assert policy["spec"]["ingress"] == [
        {"from": [controller], "ports": [{"port": 8000, "protocol": "TCP"}]},
        {"from": [prometheus], "ports": [{"port": 9104, "protocol": "TCP"}]},
    ]
    # the pods it selects are the API's, and serve on exactly those two ports
    api = next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-api"))
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= api["spec"]["template"]["metadata"]["labels"].items()
    assert {p["containerPort"] for p in api["spec"]["template"]["spec"]["containers"][0]["ports"]} == {8000, 9104}


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("networkPolicy.relayClient[0].podSelector.x=y", "relayClient"),  # a misspelt list
        ("networkPolicy.apiClients[0].podSelectr.x=y", "podSelectr"),  # a misspelt peer field (the shared $defs)
    ],
)
def test_values_schema_refuses_unknown_network_policy_keys(helm: Path, setting: str, named: str) -> None:
    proc = subprocess.run(
        [str(helm), "lint", "--strict", str(CHART), "--set", setting],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode != 0
    assert named in proc.stdout + proc.stderr
