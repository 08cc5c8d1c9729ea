"""Pure rendering: a feed → its ConfigMap and Deployment, checked field by field and by schema."""

import copy
from typing import Any

import pytest
from manifest_checks import kube_validate

from alphapulse.feeds import load_feeds, validate_feed_document
from alphapulse_operator.naming import CONFIG_HASH_ANNOTATION
from alphapulse_operator.rendering import render_children, render_configmap, render_deployment
from alphapulse_operator.settings import OperatorSettings

SETTINGS = OperatorSettings()


def feed(**spec: Any) -> dict[str, Any]:
    doc = {
        "apiVersion": "alphapulse.io/v1alpha1",
        "kind": "ExchangeFeed",
        "metadata": {"name": "binance-spot", "namespace": "feeds"},
        "spec": {"exchange": "binance", "symbols": ["BTC-USDT", "ETH-USDT"], **spec},
    }
    valid = validate_feed_document(doc)  # defaults applied, as the API server would
    valid["metadata"]["uid"] = "0b7c8f0e-1111-2222-3333-444455556666"
    return valid


def pod_spec(dep: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = dep["spec"]["template"]["spec"]
    return spec


VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "pinned-node": {"placement": {"nodeName": "ip-10-0-1-7.ec2.internal"}},
    "selector-tolerations": {
        "placement": {
            "nodeSelector": {"disk": "nvme"},
            "tolerations": [
                {"key": "dedicated", "operator": "Equal", "value": "feeds", "effect": "NoSchedule"},
                {"key": "spot", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30},
            ],
        }
    },
    "dedicated-cpus": {"resources": {"cpus": 2, "memory": "1Gi", "dedicatedCpus": True}},
    "busy-polling": {"resources": {"cpus": 1, "dedicatedCpus": True, "busyPoll": True}},
    "shared-cpus": {"resources": {"cpus": 1}},
    "short-time-slice": {"resources": {"cpus": 1, "timeSliceUs": 100}},
    "simulator": {
        "url": "ws://sim.feeds.svc:9443/stream",
        "restUrl": "http://sim.feeds.svc:9444",
        "depth": 50,
    },
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_rendered_object_is_a_valid_kubernetes_object(variant: str) -> None:
    for obj in render_children(feed(**VARIANTS[variant]), SETTINGS):
        kube_validate(obj)


def test_collector_runs_the_contract_command_line() -> None:
    (container,) = pod_spec(render_deployment(feed(), SETTINGS))["containers"]
    assert container["args"] == [
        "collector",
        "-f",
        "/etc/alphapulse/feed.yaml",
        "--sock-dir",
        "/var/run/alphapulse",
        "--host",
        "0.0.0.0",
        "--port",
        "9100",
    ]
    assert container["image"] == SETTINGS.image
    assert {"name": "metrics", "containerPort": 9100, "protocol": "TCP"} in container["ports"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}


def test_one_collector_at_a_time_on_a_relay_node_sharing_the_socket_dir() -> None:
    dep = render_deployment(feed(), SETTINGS)
    assert dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    spec = pod_spec(dep)
    assert spec["nodeSelector"] == {"alphapulse.io/collector": "true"}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["sockets"]["hostPath"] == {"path": "/var/run/alphapulse", "type": "DirectoryOrCreate"}
    mounts = {m["name"]: m for m in spec["containers"][0]["volumeMounts"]}
    assert mounts["sockets"]["mountPath"] == "/var/run/alphapulse"
    assert mounts["feed"] == {"name": "feed", "mountPath": "/etc/alphapulse", "readOnly": True}


def test_pod_runs_non_root_with_a_read_only_root() -> None:
    spec = pod_spec(render_deployment(feed(), SETTINGS))
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["automountServiceAccountToken"] is False
    sc = spec["containers"][0]["securityContext"]
    assert sc == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def test_explicit_node_pins_through_the_scheduler() -> None:
    spec = pod_spec(render_deployment(feed(placement={"nodeName": "node-7"}), SETTINGS))
    assert "nodeName" not in spec  # the scheduler still checks resources and taints
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-7"]}]}]


def test_user_node_selector_narrows_but_cannot_drop_the_relay_label() -> None:
    placement = {"nodeSelector": {"disk": "nvme", "alphapulse.io/collector": "false"}}
    spec = pod_spec(render_deployment(feed(placement=placement), SETTINGS))
    assert spec["nodeSelector"] == {"disk": "nvme", "alphapulse.io/collector": "true"}


def test_dedicated_cpus_give_guaranteed_qos_with_integer_cpus() -> None:
    dep = render_deployment(feed(resources={"cpus": 2, "dedicatedCpus": True}), SETTINGS)
    spec = pod_spec(dep)
    # Guaranteed QoS needs requests == limits in every container, init containers included.
    exact = {"cpu": "2", "memory": SETTINGS.default_memory_limit}
    for c in spec["initContainers"] + spec["containers"]:
        assert c["resources"] == {"requests": exact, "limits": exact}


def test_busy_poll_is_passed_to_the_collector_and_only_when_asked() -> None:
    def args(**resources: object) -> list[str]:
        (collector,) = pod_spec(render_deployment(feed(resources=resources), SETTINGS))["containers"]
        return list(collector["args"])

    assert "--busy-poll" in args(cpus=1, dedicatedCpus=True, busyPoll=True)
    assert "--busy-poll" not in args(cpus=1, dedicatedCpus=True)
    assert "--busy-poll" not in args(cpus=1, dedicatedCpus=True, busyPoll=False)


def test_a_time_slice_is_passed_to_the_collector_only_when_asked() -> None:
    def args(**resources: object) -> list[str]:
        (collector,) = pod_spec(render_deployment(feed(resources=resources), SETTINGS))["containers"]
        return list(collector["args"])

    assert args(timeSliceUs=100)[-2:] == ["--time-slice-us", "100"]
    assert "--time-slice-us" not in args()
    assert "--time-slice-us" not in args(cpus=1)


def test_collector_waits_for_the_relay_to_prepare_the_socket_dir() -> None:
    spec = pod_spec(render_deployment(feed(), SETTINGS))
    (init,) = spec["initContainers"]
    assert init["name"] == "wait-for-relay"
    assert "/var/run/alphapulse/feeds" in init["args"][0]
    assert init["volumeMounts"] == [{"name": "sockets", "mountPath": "/var/run/alphapulse"}]
    assert init["securityContext"]["readOnlyRootFilesystem"] is True  # runs as the collector's user


def test_shared_collectors_have_no_cpu_limit() -> None:
    resources = pod_spec(render_deployment(feed(), SETTINGS))["containers"][0]["resources"]
    assert resources["requests"] == {"cpu": "250m", "memory": "256Mi"}
    assert resources["limits"] == {"memory": "512Mi"}


def test_children_are_owned_and_labelled() -> None:
    f = feed()
    for obj in render_children(f, SETTINGS):
        (ref,) = obj["metadata"]["ownerReferences"]
        assert ref == {
            "apiVersion": "alphapulse.io/v1alpha1",
            "kind": "ExchangeFeed",
            "name": "binance-spot",
            "uid": f["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
        assert obj["metadata"]["namespace"] == "feeds"
        assert obj["metadata"]["labels"]["alphapulse.io/feed"] == "binance-spot"
    dep = render_deployment(f, SETTINGS)
    selector = dep["spec"]["selector"]["matchLabels"]
    assert selector.items() <= dep["spec"]["template"]["metadata"]["labels"].items()


def test_feed_file_is_the_same_document_the_collector_loads() -> None:
    f = feed(url="ws://127.0.0.1:9443/stream")
    text = render_configmap(f)["data"]["feed.yaml"]
    (loaded,) = load_feeds(text)
    assert (loaded.name, loaded.exchange, loaded.symbols, loaded.url) == (
        "binance-spot",
        "binance",
        ("BTC-USDT", "ETH-USDT"),
        "ws://127.0.0.1:9443/stream",
    )
    assert "uid" not in text
    assert "status" not in text


def test_spec_changes_and_only_spec_changes_trigger_a_rollout() -> None:
    def config_hash(f: dict[str, Any]) -> str:
        annotations = render_deployment(f, SETTINGS)["spec"]["template"]["metadata"]["annotations"]
        value: str = annotations[CONFIG_HASH_ANNOTATION]
        return value

    base = feed()
    noisy = copy.deepcopy(base)
    noisy["status"] = {"phase": "Running"}
    noisy["metadata"]["annotations"] = {"kopf": "x"}
    noisy["metadata"]["resourceVersion"] = "99"
    assert config_hash(noisy) == config_hash(base)
    assert config_hash(feed(symbols=["BTC-USDT"])) != config_hash(base)


def test_settings_flow_into_the_pod() -> None:
    settings = OperatorSettings(
        image="registry.example/alphapulse@sha256:" + "a" * 64,
        image_pull_policy="Always",
        priority_class="alphapulse-feeds",
        image_pull_secrets=("regcred",),
        sock_dir="/run/ap",
        metrics_port=9200,
    )
    dep = render_deployment(feed(), settings)
    kube_validate(dep)
    spec = pod_spec(dep)
    assert spec["priorityClassName"] == "alphapulse-feeds"
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    args = spec["containers"][0]["args"]
    assert args[args.index("--sock-dir") + 1] == "/run/ap"
    assert args[args.index("--port") + 1] == "9200"


def test_the_schema_check_catches_a_typo() -> None:
    dep = render_deployment(feed(), SETTINGS)
    pod_spec(dep)["containers"][0]["imagePullPolcy"] = "Always"
    with pytest.raises(AssertionError, match="imagePullPolcy"):
        kube_validate(dep)
