"""Pure functions: a validated ExchangeFeed → the children that run it.

Nothing here does I/O, so every decision (placement, QoS, rollout trigger, security context)
is unit-tested on plain dicts and each rendered object is checked against the Kubernetes
OpenAPI schemas.

Why a Deployment (1 replica, ``Recreate``) rather than a bare Pod: the Deployment controller
recreates the pod after node drains and evictions without waiting for our next resync, keeps
a revision history for ``kubectl rollout undo``, and ``Recreate`` guarantees the old collector
is gone before the new one binds ``<sock_dir>/feeds/<feed>.sock`` (never two writers).
"""

import copy
import hashlib
from typing import Any

import yaml

from alphapulse_operator.naming import (
    CONFIG_HASH_ANNOTATION,
    FEED_FILE,
    child_labels,
    collector_name,
    selector_labels,
)
from alphapulse_operator.settings import OperatorSettings

__all__ = (
    "CONFIG_DIR",
    "feed_file_text",
    "owner_reference",
    "render_children",
    "render_configmap",
    "render_deployment",
)

CONFIG_DIR = "/etc/alphapulse"
_TMP_DIR = "/tmp"

Obj = dict[str, Any]


def owner_reference(feed: Obj) -> Obj:
    """Makes the feed the controlling owner: deleting it garbage-collects the children."""
    return {
        "apiVersion": feed["apiVersion"],
        "kind": feed["kind"],
        "name": feed["metadata"]["name"],
        "uid": feed["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def feed_file_text(feed: Obj) -> str:
    """The feed as the collector reads it (``-f``): the same document ``kubectl apply`` took.

    Only identity and spec travel (no status, uid or kopf annotations), sorted, so the text — and
    the hash that triggers rollouts — changes exactly when the spec does.
    """
    meta = feed["metadata"]
    doc = {
        "apiVersion": feed["apiVersion"],
        "kind": feed["kind"],
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
        "spec": feed["spec"],
    }
    return yaml.safe_dump(doc, sort_keys=True, default_flow_style=False)


def _meta(feed: Obj, name: str) -> Obj:
    meta = feed["metadata"]
    return {
        "name": name,
        "namespace": meta["namespace"],
        "labels": child_labels(meta["name"], feed["spec"]["exchange"]),
        "ownerReferences": [owner_reference(feed)],
    }


def render_configmap(feed: Obj) -> Obj:
    name = collector_name(feed["metadata"]["name"])
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(feed, name),
        "data": {FEED_FILE: feed_file_text(feed)},
    }


def _time_slice_args(spec: Obj) -> list[str]:
    us = (spec.get("resources") or {}).get("timeSliceUs")
    return [] if us is None else ["--time-slice-us", str(int(us))]


def _resources(spec: Obj, settings: OperatorSettings) -> Obj:
    res = spec.get("resources") or {}
    if res.get("dedicatedCpus"):
        # Guaranteed QoS: requests == limits for cpu and memory, integer cpus — what the kubelet's
        # static CPU manager needs to hand out exclusive cores.
        exact = {"cpu": str(res["cpus"]), "memory": res.get("memory", settings.default_memory_limit)}
        return {"requests": dict(exact), "limits": dict(exact)}
    requests = {
        "cpu": str(res["cpus"]) if "cpus" in res else settings.default_cpu,
        "memory": res.get("memory", settings.default_memory),
    }
    # No CPU limit on shared collectors: CFS throttling adds latency spikes to the hot path.
    limits = {"memory": res.get("memory", settings.default_memory_limit)}
    return {"requests": requests, "limits": limits}


def _placement(spec: Obj, settings: OperatorSettings) -> Obj:
    placement = spec.get("placement") or {}
    pod: Obj = {
        "nodeSelector": {
            **placement.get("nodeSelector", {}),
            settings.node_label_key: settings.node_label_value,
        },
    }
    node = placement.get("nodeName")
    if node:
        # matchFields on metadata.name (what the DaemonSet controller uses) pins to the exact node
        # while still going through the scheduler's resource and taint checks, unlike spec.nodeName.
        pod["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
                    ]
                }
            }
        }
    if placement.get("tolerations"):
        pod["tolerations"] = copy.deepcopy(placement["tolerations"])
    return pod


def _wait_for_relay(collector: Obj, settings: OperatorSettings) -> Obj:
    """Wait until the relay's init container has handed ``<sock_dir>/feeds`` to our user.

    Without it a collector scheduled before the relay on a fresh node finds a root-owned
    directory the kubelet created and crash-loops until the relay catches up. It runs as the
    collector's user (no root) and with the collector's resources: identical requests and limits
    keep a dedicated-CPU pod Guaranteed and add nothing to the pod's effective request.
    """
    feeds_dir = f"{settings.sock_dir}/feeds"
    return {
        "name": "wait-for-relay",
        "image": collector["image"],
        "imagePullPolicy": collector["imagePullPolicy"],
        "command": ["sh", "-c"],
        "args": [
            f'until [ -d "{feeds_dir}" ] && [ -w "{feeds_dir}" ]; do '
            f'echo "waiting for the relay DaemonSet to prepare {feeds_dir}"; sleep 2; done'
        ],
        "resources": copy.deepcopy(collector["resources"]),
        "securityContext": copy.deepcopy(collector["securityContext"]),
        "volumeMounts": [{"name": "sockets", "mountPath": settings.sock_dir}],
    }


def render_deployment(feed: Obj, settings: OperatorSettings) -> Obj:
    feed_name = feed["metadata"]["name"]
    spec = feed["spec"]
    name = collector_name(feed_name)
    labels = child_labels(feed_name, spec["exchange"])
    port = settings.metrics_port
    config_hash = hashlib.sha256(feed_file_text(feed).encode()).hexdigest()[:16]
    probe = {"httpGet": {"path": "/healthz", "port": "metrics"}, "periodSeconds": 10, "timeoutSeconds": 2}
    container: Obj = {
        "name": "collector",
        "image": settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "args": [
            "collector",
            "-f",
            f"{CONFIG_DIR}/{FEED_FILE}",
            "--sock-dir",
            settings.sock_dir,
            "--host",
            "0.0.0.0",
            "--port",
            str(port),
            # the CRD admits busyPoll only with dedicatedCpus: a core of the collector's own to spin on
            *(["--busy-poll"] if (spec.get("resources") or {}).get("busyPoll") else []),
            *_time_slice_args(spec),
        ],
        "ports": [{"name": "metrics", "containerPort": port, "protocol": "TCP"}],
        "readinessProbe": {**probe, "failureThreshold": 3},
        "livenessProbe": {**probe, "failureThreshold": 6, "initialDelaySeconds": 10},
        "resources": _resources(spec, settings),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "feed", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "sockets", "mountPath": settings.sock_dir},
            {"name": "tmp", "mountPath": _TMP_DIR},
        ],
    }
    pod_spec: Obj = {
        **_placement(spec, settings),
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 30,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": settings.run_as_user,
            "runAsGroup": settings.run_as_user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "initContainers": [_wait_for_relay(container, settings)],
        "containers": [container],
        "volumes": [
            {"name": "feed", "configMap": {"name": name, "items": [{"key": FEED_FILE, "path": FEED_FILE}]}},
            # Shared with the relay DaemonSet on this node; the relay finds <dir>/feeds/<feed>.sock.
            {"name": "sockets", "hostPath": {"path": settings.sock_dir, "type": "DirectoryOrCreate"}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
        ],
    }
    if settings.priority_class:
        pod_spec["priorityClassName"] = settings.priority_class
    if settings.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": s} for s in settings.image_pull_secrets]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(feed, name),
        "spec": {
            "replicas": 1,
            # Recreate: the old collector must release the feed socket before the new one binds it.
            "strategy": {"type": "Recreate"},
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": selector_labels(feed_name)},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        # A changed feed file changes the template, which is what triggers a rollout.
                        CONFIG_HASH_ANNOTATION: config_hash,
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(port),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": pod_spec,
            },
        },
    }


def render_children(feed: Obj, settings: OperatorSettings) -> list[Obj]:
    """Everything one feed owns, in the order to apply it (the ConfigMap before its reader)."""
    return [render_configmap(feed), render_deployment(feed, settings)]
