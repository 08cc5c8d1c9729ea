"""Pure functions: what the children look like → the feed's status.

Conditions follow the Kubernetes convention (``type``, ``status``, ``reason``, ``message``,
``observedGeneration``, ``lastTransitionTime`` that moves only when ``status`` flips):

* ``Ready`` — the collector pod of the current spec is available.
* ``Progressing`` — a rollout (new pod, new spec) is under way.
* ``Degraded`` — something needs a human: crash loops, image pulls, unschedulable, invalid spec.
"""

import math
from dataclasses import dataclass
from typing import Any

__all__ = (
    "BAD_WAITING_REASONS",
    "Observation",
    "RateSample",
    "conflict_status",
    "differs",
    "invalid_status",
    "merge_conditions",
    "message_rate",
    "observe",
    "parse_counter_sum",
)

Obj = dict[str, Any]

# Container waiting reasons that will not fix themselves without a change.
BAD_WAITING_REASONS = frozenset(
    {"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError", "InvalidImageName"}
)


@dataclass(frozen=True, slots=True)
class RateSample:
    """A counter value and when it was read (monotonic seconds)."""

    value: float
    at_s: float


@dataclass(frozen=True, slots=True)
class Observation:
    phase: str
    node: str | None
    conditions: list[Obj]


def differs(desired: Any, actual: Any) -> bool:
    """True when ``actual`` lacks something ``desired`` sets.

    Keys the server added (defaults, status, managedFields) are not drift; a changed or missing
    value is. Lists compare element-wise with the same rule, so a container the API server
    filled with defaults still matches what we rendered.
    """
    if isinstance(desired, dict):
        if not isinstance(actual, dict):
            return True
        return any(k not in actual or differs(v, actual[k]) for k, v in desired.items())
    if isinstance(desired, list):
        if not isinstance(actual, list) or len(desired) != len(actual):
            return True
        return any(differs(d, a) for d, a in zip(desired, actual, strict=True))
    return bool(desired != actual)


def parse_counter_sum(text: str, metric: str, labels: dict[str, str]) -> float | None:
    """Sum of ``metric``'s samples in Prometheus text whose labels include ``labels``.

    A deliberately small parser (the collector's exposition is ours and simple): enough to read
    one counter family without pulling a Prometheus client into the operator.
    """
    total: float | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line.startswith(metric):
            continue
        rest = line[len(metric) :]
        sample_labels: dict[str, str] = {}
        if rest.startswith("{"):
            end = rest.find("}")
            if end < 0:
                continue
            for part in _split_labels(rest[1:end]):
                key, _, label_value = part.partition("=")
                sample_labels[key.strip()] = label_value.strip().strip('"')
            rest = rest[end + 1 :]
        elif not rest.startswith(" "):
            continue  # another metric sharing the prefix, e.g. <metric>_created
        fields = rest.split()
        if not fields or any(sample_labels.get(k) != v for k, v in labels.items()):
            continue
        try:
            sample = float(fields[0])
        except ValueError:
            continue
        if math.isfinite(sample):
            total = sample if total is None else total + sample
    return total


def _split_labels(body: str) -> list[str]:
    parts, cur, quoted, escaped = [], [], False, False
    for ch in body:
        if escaped:
            cur.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
            cur.append(ch)
        elif ch == "," and not quoted:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur))
    return parts


def message_rate(prev: RateSample | None, cur: RateSample) -> float | None:
    """Per-second rate between two counter readings; a reset (new pod) counts from zero."""
    if prev is None or cur.at_s <= prev.at_s:
        return None
    delta = cur.value - prev.value if cur.value >= prev.value else cur.value
    return round(delta / (cur.at_s - prev.at_s), 3)


def _condition(ctype: str, status: bool | None, reason: str, message: str, generation: int) -> Obj:
    return {
        "type": ctype,
        "status": "Unknown" if status is None else ("True" if status else "False"),
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
    }


def merge_conditions(previous: list[Obj], new: list[Obj], now: str) -> list[Obj]:
    """New conditions, keeping each ``lastTransitionTime`` unless that condition's status flipped."""
    before = {c.get("type"): c for c in previous}
    merged = []
    for cond in new:
        old = before.get(cond["type"])
        same = old is not None and old.get("status") == cond["status"] and old.get("lastTransitionTime")
        merged.append({**cond, "lastTransitionTime": old["lastTransitionTime"] if same and old else now})
    return merged


def _pod_problem(pods: list[Obj]) -> str | None:
    for pod in pods:
        status = pod.get("status") or {}
        for cs in status.get("containerStatuses") or []:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in BAD_WAITING_REASONS:
                detail = waiting.get("message", "")
                return f"pod {pod['metadata']['name']}: {waiting['reason']}: {detail}".strip()
        for cond in status.get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                detail = cond.get("message", cond.get("reason", ""))
                return f"pod {pod['metadata']['name']} unschedulable: {detail}"
    return None


def _deployment_problem(deployment: Obj) -> str | None:
    name = deployment["metadata"]["name"]
    for cond in (deployment.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return f"deployment {name}: {cond.get('message', 'progress deadline exceeded')}"
        if cond.get("type") == "ReplicaFailure" and cond.get("status") == "True":
            return f"deployment {name}: {cond.get('message', 'replica failure')}"
    return None


def _running_node(pods: list[Obj]) -> str | None:
    def ready(pod: Obj) -> bool:
        conds = (pod.get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)

    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    for pod in sorted(live, key=lambda p: not ready(p)):
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            return str(node)
    return None


def observe(generation: int, deployment: Obj | None, pods: list[Obj]) -> Observation:
    """Phase, node and conditions for a valid feed from its Deployment and pods."""
    if deployment is None:
        return Observation(
            phase="Pending",
            node=None,
            conditions=[
                _condition(
                    "Ready",
                    False,
                    "CollectorMissing",
                    "the collector Deployment does not exist yet",
                    generation,
                ),
                _condition("Progressing", True, "Creating", "creating the collector", generation),
                _condition("Degraded", False, "AsExpected", "", generation),
            ],
        )
    dstatus = deployment.get("status") or {}
    dgen = int(deployment["metadata"].get("generation", 1))
    observed = int(dstatus.get("observedGeneration", 0)) >= dgen
    updated = int(dstatus.get("updatedReplicas", 0))
    available = int(dstatus.get("availableReplicas", 0))
    unavailable = int(dstatus.get("unavailableReplicas", 0))
    rolled_out = observed and updated >= 1 and unavailable == 0
    ready = rolled_out and available >= 1
    problem = _deployment_problem(deployment) or _pod_problem(pods)
    node = _running_node(pods)
    if ready:
        ready_c = _condition(
            "Ready", True, "CollectorAvailable", f"collector running on {node or 'its node'}", generation
        )
    elif problem:
        ready_c = _condition("Ready", False, "CollectorFailing", problem, generation)
    else:
        ready_c = _condition(
            "Ready", False, "CollectorStarting", "waiting for the collector pod to become ready", generation
        )
    progressing_c = (
        _condition("Progressing", False, "RolloutComplete", "the collector runs the current spec", generation)
        if ready
        else _condition(
            "Progressing",
            not problem,
            "RolloutStalled" if problem else "RollingOut",
            problem or "rolling out the collector",
            generation,
        )
    )
    degraded_c = (
        _condition("Degraded", True, "CollectorFailing", problem, generation)
        if problem
        else _condition("Degraded", False, "AsExpected", "", generation)
    )
    phase = "Running" if ready else "Degraded" if problem else "Progressing" if node else "Pending"
    return Observation(phase=phase, node=node, conditions=[ready_c, progressing_c, degraded_c])


def invalid_status(generation: int, message: str) -> Observation:
    """The feed's spec failed validation: nothing was (re)deployed for this generation."""
    return Observation(
        phase="Invalid",
        node=None,
        conditions=[
            _condition("Ready", False, "InvalidSpec", message, generation),
            _condition("Progressing", False, "InvalidSpec", "fix the spec; nothing was deployed for it", generation),
            _condition("Degraded", True, "InvalidSpec", message, generation),
        ],
    )


def conflict_status(generation: int, message: str) -> Observation:
    """A child's name is taken by an object the feed does not own; nothing is taken over."""
    return Observation(
        phase="Degraded",
        node=None,
        conditions=[
            _condition("Ready", False, "ChildConflict", message, generation),
            _condition("Progressing", False, "ChildConflict", "waiting for the name to be freed", generation),
            _condition("Degraded", True, "ChildConflict", message, generation),
        ],
    )
