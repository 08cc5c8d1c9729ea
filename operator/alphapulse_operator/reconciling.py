"""One idempotent pass for one feed: validate, ensure children, observe, build the status.

Called from kopf's create/update/resume handlers and from the resync timer; it never keeps
state between passes except the last metrics sample (for the message rate), so running it
twice, concurrently or after a restart converges on the same cluster state.
"""

import logging
from dataclasses import dataclass, field
from typing import Any

from alphapulse.errors import ConfigError, FatalError
from alphapulse.feeds import validate_feed_document
from alphapulse_operator.kubeclient import ApiError, KubeClient, collection_path, object_path
from alphapulse_operator.naming import collector_name, selector_labels
from alphapulse_operator.observing import (
    Observation,
    RateSample,
    conflict_status,
    differs,
    invalid_status,
    merge_conditions,
    message_rate,
    observe,
    parse_counter_sum,
)
from alphapulse_operator.rendering import render_children
from alphapulse_operator.settings import OperatorSettings

__all__ = ("ChildConflictError", "Event", "Outcome", "ensure", "reconcile")

log = logging.getLogger(__name__)
Obj = dict[str, Any]
MESSAGES_METRIC = "alphapulse_collector_messages_total"


class ChildConflictError(FatalError):
    """A child's name is taken by an object this feed does not own; we never take it over."""


@dataclass(frozen=True, slots=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass(slots=True)
class Outcome:
    status: Obj
    events: list[Event] = field(default_factory=list)
    invalid: str | None = None


async def ensure(client: KubeClient, desired: Obj, owner_uid: str) -> str | None:
    """Create the child, or merge-patch it back to ``desired``; return what was done (or None)."""
    path = object_path(desired)
    current = await client.get(path)
    if current is None:
        try:
            await client.create(desired)
        except ApiError as e:
            if e.status != 409:
                raise
            current = await client.get(path)  # another pass created it meanwhile: fall through
        else:
            return "created"
    if current is None:
        return None
    owners = current.get("metadata", {}).get("ownerReferences") or []
    if not any(o.get("uid") == owner_uid and o.get("controller") for o in owners):
        meta = desired["metadata"]
        raise ChildConflictError(
            f"{desired['kind']} {meta['namespace']}/{meta['name']} exists and is not owned by this feed; "
            "rename the feed or delete that object"
        )
    if differs(desired, current):
        await client.merge_patch(desired)
        return "updated"
    return None


async def _scrape(client: KubeClient, pods: list[Obj], feed: str, settings: OperatorSettings) -> float | None:
    total: float | None = None
    for pod in pods:
        ip = (pod.get("status") or {}).get("podIP")
        if not ip or pod["metadata"].get("deletionTimestamp"):
            continue
        host = f"[{ip}]" if ":" in ip else ip
        try:
            text = await client.get_text(
                f"http://{host}:{settings.metrics_port}/metrics", timeout_s=settings.scrape_timeout_s
            )
        except Exception as e:
            log.debug("scraping %s failed: %s", pod["metadata"]["name"], e)
            continue
        value = parse_counter_sum(text, MESSAGES_METRIC, {"feed": feed})
        if value is not None:
            total = value if total is None else total + value
    return total


def _status(body: Obj, obs: Observation, now: str, extra: Obj) -> Obj:
    previous = (body.get("status") or {}).get("conditions") or []
    return {
        "observedGeneration": int(body["metadata"].get("generation", 1)),
        "phase": obs.phase,
        "node": obs.node,
        "conditions": merge_conditions(previous, obs.conditions, now),
        **extra,
    }


async def reconcile(
    client: KubeClient,
    body: Obj,
    settings: OperatorSettings,
    samples: dict[str, RateSample],
    *,
    now: str,
    monotonic_s: float,
) -> Outcome:
    meta = body["metadata"]
    name, namespace, uid = meta["name"], meta["namespace"], meta["uid"]
    generation = int(meta.get("generation", 1))
    source = f"ExchangeFeed {namespace}/{name}"
    doc = {
        "apiVersion": body["apiVersion"],
        "kind": body["kind"],
        "metadata": {"name": name, "namespace": namespace},
        "spec": body.get("spec"),
    }
    try:
        # The API server already enforced the CRD schema; we check again because defaults and
        # CEL rules are applied only by a real server (and kmock, in tests, applies none), and
        # because the operator may run against a cluster with an older CRD installed.
        valid = validate_feed_document(doc, source)
    except ConfigError as e:
        message = str(e)
        prior = body.get("status") or {}
        events = (
            []
            if prior.get("phase") == "Invalid" and prior.get("observedGeneration") == generation
            else [Event("Warning", "InvalidSpec", message)]
        )
        return Outcome(
            status=_status(body, invalid_status(generation, message), now, {}), events=events, invalid=message
        )

    feed = {**body, "spec": valid["spec"]}
    events = []
    try:
        for child in render_children(feed, settings):
            action = await ensure(client, child, uid)
            if action:
                events.append(
                    Event("Normal", action.capitalize(), f"{action} {child['kind']} {child['metadata']['name']}")
                )
    except ChildConflictError as e:
        obs = conflict_status(generation, str(e))
        prior = (body.get("status") or {}).get("conditions") or []
        repeated = any(c.get("type") == "Ready" and c.get("reason") == "ChildConflict" for c in prior)
        events = [] if repeated else [Event("Warning", "ChildConflict", str(e))]
        return Outcome(status=_status(body, obs, now, {}), events=events)

    deployment = await client.get(
        object_path(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": collector_name(name), "namespace": namespace},
            }
        )
    )
    pods = await client.list(collection_path("v1", "Pod", namespace), selector_labels(name))
    obs = observe(generation, deployment, pods)
    extra: Obj = {"collector": collector_name(name), "symbolCount": len(valid["spec"]["symbols"])}
    counter = await _scrape(client, pods, name, settings) if obs.phase == "Running" else None
    if counter is not None:
        sample = RateSample(counter, monotonic_s)
        rate = message_rate(samples.get(uid), sample)
        samples[uid] = sample
        if rate is not None:
            extra["messageRate"] = rate
    else:
        samples.pop(uid, None)
        extra["messageRate"] = None
    return Outcome(status=_status(body, obs, now, extra), events=events)
