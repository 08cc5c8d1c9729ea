"""Pure status logic: drift detection, metrics parsing, rates, conditions and phases."""

from typing import Any

import pytest

from alphapulse_operator.observing import (
    RateSample,
    conflict_status,
    differs,
    invalid_status,
    merge_conditions,
    message_rate,
    observe,
    parse_counter_sum,
)


def conditions(obs: Any) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in obs.conditions}


def deployment(generation: int = 1, **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "collector-x", "generation": generation}, "status": status}


def pod(
    node: str | None = "node-a", ready: bool = True, waiting: str | None = None, unschedulable: bool = False
) -> dict[str, Any]:
    status: dict[str, Any] = {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if waiting:
        status["containerStatuses"] = [
            {"name": "collector", "state": {"waiting": {"reason": waiting, "message": "back-off"}}}
        ]
    if unschedulable:
        status["conditions"].append(
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 node(s) didn't match selector",
            }
        )
    return {
        "metadata": {"name": "collector-x-1"},
        "spec": {"nodeName": node} if node else {},
        "status": status,
    }


READY = {"observedGeneration": 1, "updatedReplicas": 1, "availableReplicas": 1, "replicas": 1}


def test_server_defaults_are_not_drift_but_changed_values_are() -> None:
    desired = {"spec": {"replicas": 1, "template": {"containers": [{"name": "c", "image": "a"}]}}}
    actual: dict[str, Any] = {
        "spec": {
            "replicas": 1,
            "progressDeadlineSeconds": 600,
            "template": {"containers": [{"name": "c", "image": "a", "terminationMessagePath": "/x"}]},
        },
        "status": {"replicas": 1},
    }
    assert not differs(desired, actual)
    actual["spec"]["template"]["containers"][0]["image"] = "b"
    assert differs(desired, actual)
    assert differs({"a": [1, 2]}, {"a": [1]})
    assert differs({"a": {"b": 1}}, {"a": "x"})
    assert differs({"a": 1}, {})


def test_counter_sum_filters_by_labels_and_ignores_lookalikes() -> None:
    text = (
        "# HELP alphapulse_collector_messages_total messages\n"
        "# TYPE alphapulse_collector_messages_total counter\n"
        'alphapulse_collector_messages_total{feed="a",exchange="kraken",kind="trade"} 10\n'
        'alphapulse_collector_messages_total{feed="a",exchange="kraken",kind="book"} 5.5\n'
        'alphapulse_collector_messages_total{feed="b",exchange="kraken",kind="book"} 100\n'
        'alphapulse_collector_messages_total{feed="a,\\"odd\\"",kind="book"} 1000\n'
        "alphapulse_collector_messages_created 1.7e9\n"
        'alphapulse_collector_messages_total{feed="a",kind="x"} NaN\n'
    )
    assert parse_counter_sum(text, "alphapulse_collector_messages_total", {"feed": "a"}) == 15.5
    assert parse_counter_sum(text, "alphapulse_collector_messages_total", {"feed": "zzz"}) is None
    assert parse_counter_sum("", "alphapulse_collector_messages_total", {}) is None


def test_message_rate_handles_first_sample_and_counter_resets() -> None:
    assert message_rate(None, RateSample(100, 10.0)) is None
    assert message_rate(RateSample(100, 10.0), RateSample(400, 13.0)) == 100.0
    assert message_rate(RateSample(400, 13.0), RateSample(30, 16.0)) == 10.0  # new pod: counted from 0
    assert message_rate(RateSample(1, 5.0), RateSample(2, 5.0)) is None


def test_transition_time_moves_only_when_status_flips() -> None:
    old = [{"type": "Ready", "status": "False", "reason": "A", "message": "", "lastTransitionTime": "T0"}]
    same = merge_conditions(old, [{"type": "Ready", "status": "False", "reason": "B", "message": "m"}], "T1")
    assert same[0]["lastTransitionTime"] == "T0"
    assert same[0]["reason"] == "B"
    flipped = merge_conditions(old, [{"type": "Ready", "status": "True", "reason": "C", "message": ""}], "T2")
    assert flipped[0]["lastTransitionTime"] == "T2"


@pytest.mark.parametrize(
    ("dep", "pods", "phase", "ready", "progressing", "degraded", "node"),
    [
        (None, [], "Pending", ("False", "CollectorMissing"), "True", "False", None),
        (deployment(), [], "Pending", ("False", "CollectorStarting"), "True", "False", None),
        (deployment(**READY), [pod()], "Running", ("True", "CollectorAvailable"), "False", "False", "node-a"),
        # a new spec: the controller has not seen generation 2 yet
        (
            deployment(2, **READY),
            [pod()],
            "Progressing",
            ("False", "CollectorStarting"),
            "True",
            "False",
            "node-a",
        ),
        (
            deployment(observedGeneration=1, updatedReplicas=1, unavailableReplicas=1),
            [pod(waiting="CrashLoopBackOff")],
            "Degraded",
            ("False", "CollectorFailing"),
            "False",
            "True",
            "node-a",
        ),
        (
            deployment(observedGeneration=1),
            [pod(node=None, ready=False, unschedulable=True)],
            "Degraded",
            ("False", "CollectorFailing"),
            "False",
            "True",
            None,
        ),
        (
            deployment(
                observedGeneration=1,
                conditions=[{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}],
            ),
            [],
            "Degraded",
            ("False", "CollectorFailing"),
            "False",
            "True",
            None,
        ),
    ],
    ids=["no-deployment", "no-pod", "running", "new-generation", "crashloop", "unschedulable", "deadline"],
)
def test_observe(
    dep: Any,
    pods: list[Any],
    phase: str,
    ready: tuple[str, str],
    progressing: str,
    degraded: str,
    node: str | None,
) -> None:
    obs = observe(3, dep, pods)
    got = conditions(obs)
    assert (obs.phase, got["Ready"], got["Progressing"][0], got["Degraded"][0], obs.node) == (
        phase,
        ready,
        progressing,
        degraded,
        node,
    )
    assert all(c["observedGeneration"] == 3 for c in obs.conditions)


def test_ready_pod_names_the_node_during_a_recreate() -> None:
    terminating = pod(node="old-node", ready=False)
    terminating["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert observe(1, deployment(**READY), [terminating, pod(node="new-node")]).node == "new-node"


def test_invalid_spec_status() -> None:
    obs = invalid_status(4, "spec.symbols: bad")
    assert obs.phase == "Invalid"
    assert conditions(obs) == {
        "Ready": ("False", "InvalidSpec"),
        "Progressing": ("False", "InvalidSpec"),
        "Degraded": ("True", "InvalidSpec"),
    }


def test_conflict_status() -> None:
    obs = conflict_status(2, "ConfigMap default/collector-x exists and is not owned by this feed")
    assert obs.phase == "Degraded"
    assert {c["type"]: c["reason"] for c in obs.conditions} == dict.fromkeys(
        ("Ready", "Progressing", "Degraded"), "ChildConflict"
    )
