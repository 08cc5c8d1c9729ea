"""The operator for real: kopf's event loop against kmock's HTTP API (K8sEmulator).

Each scenario drives the cluster the way users and controllers would (HTTP requests to the API)
and waits for the operator's reaction; a Deployment controller is played by ``roll_out``.
"""

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp.web
import jsonschema
import kmock
import pytest
from k8s_emulator import FEEDS, K8sEmulator
from operator_harness import eventually, feed_body, running_operator

from alphapulse.feeds import crd_schema

pytestmark = pytest.mark.kmock(cls=K8sEmulator)

FEEDS_URL = "/apis/alphapulse.io/v1alpha1/namespaces/default/exchangefeeds"
DEPLOYMENTS = "apps/v1/deployments"
CONFIGMAPS = "v1/configmaps"


def _get(cluster: K8sEmulator, resource: str, name: str) -> Any:
    key = (kmock.resource(resource), "default", name)
    if key not in cluster.objects or cluster.objects[key].deleted:
        return None
    return cluster.objects[key].raw


def _status(cluster: K8sEmulator, name: str = "kraken-main") -> dict[str, Any]:
    feed = _get(cluster, FEEDS, name)
    return (feed or {}).get("status") or {}


def _condition(status: dict[str, Any], ctype: str) -> dict[str, Any]:
    return next(c for c in status.get("conditions", []) if c["type"] == ctype)


async def _create(cluster: K8sEmulator, body: dict[str, Any]) -> None:
    resp = await cluster.post(FEEDS_URL, json=body)
    assert resp.status == 200, await resp.text()


async def roll_out(cluster: K8sEmulator, name: str, node: str) -> None:
    """Play the Deployment controller and kubelet: one ready pod of the current template on ``node``."""
    dep = _get(cluster, DEPLOYMENTS, name)
    gen = dep["metadata"]["generation"]
    resp = await cluster.patch(
        f"/apis/apps/v1/namespaces/default/deployments/{name}/status",
        json={
            "status": {
                "observedGeneration": gen,
                "replicas": 1,
                "updatedReplicas": 1,
                "readyReplicas": 1,
                "availableReplicas": 1,
                "unavailableReplicas": 0,
            }
        },
    )
    assert resp.status == 200, await resp.text()
    template = dep["spec"]["template"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{name}-{gen}",
            "namespace": "default",
            "labels": template["metadata"]["labels"],
        },
        "spec": {**template["spec"], "nodeName": node},
    }
    resp = await cluster.post("/api/v1/namespaces/default/pods", json=pod)
    assert resp.status == 200, await resp.text()
    resp = await cluster.patch(
        f"/api/v1/namespaces/default/pods/{name}-{gen}/status",
        json={
            "status": {
                "phase": "Running",
                "podIP": "127.0.0.1",
                "conditions": [
                    {"type": "PodScheduled", "status": "True"},
                    {"type": "Ready", "status": "True"},
                ],
            }
        },
    )
    assert resp.status == 200, await resp.text()


@pytest.fixture
async def collector_metrics(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[int]]:
    """A stand-in collector /metrics endpoint whose message counter grows by 50 per scrape."""
    count = [0]

    async def metrics(_: aiohttp.web.Request) -> aiohttp.web.Response:
        count[0] += 50
        return aiohttp.web.Response(
            text=(
                "# TYPE alphapulse_collector_messages_total counter\n"
                'alphapulse_collector_messages_total{feed="kraken-main",exchange="kraken",kind="trade"} '
                f"{count[0]}\n"
                'alphapulse_collector_messages_total{feed="kraken-main",exchange="kraken",kind="book"} 7\n'
                "alphapulse_collector_messages_created 1.7e9\n"
            )
        )

    app = aiohttp.web.Application()
    app.router.add_get("/metrics", metrics)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    monkeypatch.setenv("ALPHAPULSE_OPERATOR_METRICS_PORT", str(port))
    yield count
    await runner.cleanup()


async def test_create_renders_children_then_reports_running(cluster: K8sEmulator, collector_metrics: list[int]) -> None:
    async with running_operator():
        await _create(cluster, feed_body())
        dep = await eventually(lambda: _get(cluster, DEPLOYMENTS, "collector-kraken-main"))
        cm = _get(cluster, CONFIGMAPS, "collector-kraken-main")
        feed = _get(cluster, FEEDS, "kraken-main")
        for child in (dep, cm):
            (ref,) = child["metadata"]["ownerReferences"]
            assert ref["uid"] == feed["metadata"]["uid"]
            assert ref["controller"] is True
        assert "BTC-USD" in cm["data"]["feed.yaml"]
        status = await eventually(lambda: _status(cluster).get("conditions") and _status(cluster))
        assert status["observedGeneration"] == 1
        assert status["phase"] == "Pending"
        assert _condition(status, "Ready")["status"] == "False"
        assert _condition(status, "Progressing")["status"] == "True"
        # kopf's own finalizer (timers require one to stop cleanly); children go by owner references.
        assert _get(cluster, FEEDS, "kraken-main")["metadata"]["finalizers"] == ["alphapulse.io/operator"]

        await roll_out(cluster, "collector-kraken-main", node="node-a")
        status = await eventually(lambda: _status(cluster).get("messageRate") and _status(cluster))
        assert status["phase"] == "Running"
        assert status["node"] == "node-a"
        assert status["symbolCount"] == 1
        assert status["messageRate"] > 0
        ready = _condition(status, "Ready")
        assert (ready["status"], ready["reason"]) == ("True", "CollectorAvailable")
        assert _condition(status, "Degraded")["status"] == "False"
        # What the operator writes is what the CRD's status schema accepts (a real server would prune
        # or reject anything else).
        validator = jsonschema.Draft7Validator(
            crd_schema()["properties"]["status"], format_checker=jsonschema.FormatChecker()
        )
        assert not [e.message for e in validator.iter_errors(status)]

        events = [e.raw for (res, _, _), e in cluster.objects.items() if res == kmock.resource("v1/events")]
        reasons = {e["reason"] for e in events}
        assert "Created" in reasons
        assert len(cluster[kmock.action.CREATE, kmock.resource(DEPLOYMENTS)]) == 1


async def test_symbols_change_rolls_out_the_collector(cluster: K8sEmulator) -> None:
    async with running_operator():
        await _create(cluster, feed_body())
        dep = await eventually(lambda: _get(cluster, DEPLOYMENTS, "collector-kraken-main"))
        old_hash = dep["spec"]["template"]["metadata"]["annotations"]["alphapulse.io/config-hash"]

        resp = await cluster.patch(f"{FEEDS_URL}/kraken-main", json={"spec": {"symbols": ["BTC-USD", "ETH-USD"]}})
        assert resp.status == 200

        def rolled() -> Any:
            d = _get(cluster, DEPLOYMENTS, "collector-kraken-main")
            new_hash = d["spec"]["template"]["metadata"]["annotations"]["alphapulse.io/config-hash"]
            return new_hash != old_hash and d

        dep = await eventually(rolled)
        assert dep["metadata"]["generation"] == 2  # a template change: the controller rolls out
        assert "ETH-USD" in _get(cluster, CONFIGMAPS, "collector-kraken-main")["data"]["feed.yaml"]
        status = await eventually(lambda: _status(cluster).get("observedGeneration") == 2 and _status(cluster))
        assert status["symbolCount"] == 2
        assert _condition(status, "Progressing")["status"] == "True"
        assert len(cluster[kmock.action.CREATE, kmock.resource(DEPLOYMENTS)]) == 1  # patched, not recreated

        def updated() -> set[str]:
            return {
                e.raw["message"]
                for (res, _, _), e in cluster.objects.items()
                if res == kmock.resource("v1/events") and e.raw.get("reason") == "Updated"
            }

        # kopf posts events in the background: wait for them.
        await eventually(
            lambda: updated() >= {"updated ConfigMap collector-kraken-main", "updated Deployment collector-kraken-main"}
        )


async def test_delete_removes_children_through_owner_references(cluster: K8sEmulator) -> None:
    async with running_operator():
        await _create(cluster, feed_body())
        await eventually(lambda: _get(cluster, DEPLOYMENTS, "collector-kraken-main"))
        await eventually(lambda: _status(cluster).get("phase"))
        resp = await cluster.delete(f"{FEEDS_URL}/kraken-main")
        assert resp.status == 200
        await eventually(lambda: _get(cluster, FEEDS, "kraken-main") is None)
        assert _get(cluster, DEPLOYMENTS, "collector-kraken-main") is None
        assert _get(cluster, CONFIGMAPS, "collector-kraken-main") is None
        await asyncio.sleep(0.4)  # a resync period: the operator must not resurrect anything
        assert _get(cluster, DEPLOYMENTS, "collector-kraken-main") is None


async def test_invalid_spec_sets_condition_and_warns(cluster: K8sEmulator) -> None:
    async with running_operator():
        # kmock does not enforce the CRD (a real server would reject this): the operator must.
        await _create(cluster, feed_body(restUrl="http://127.0.0.1:9444"))
        status = await eventually(lambda: _status(cluster).get("phase") == "Invalid" and _status(cluster))
        ready = _condition(status, "Ready")
        assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
        assert "restUrl" in ready["message"]
        assert _condition(status, "Degraded")["status"] == "True"

        def warnings() -> list[Any]:
            return [
                e.raw
                for (res, _, _), e in cluster.objects.items()
                if res == kmock.resource("v1/events") and e.raw.get("reason") == "InvalidSpec"
            ]

        (event,) = await eventually(warnings)
        assert event["type"] == "Warning"
        assert event["involvedObject"]["name"] == "kraken-main"
        assert _get(cluster, DEPLOYMENTS, "collector-kraken-main") is None
        await asyncio.sleep(0.4)  # resyncs keep the status but do not repeat the warning
        assert len(warnings()) == 1

        # Fixing the spec deploys the collector.
        resp = await cluster.patch(f"{FEEDS_URL}/kraken-main", json={"spec": {"url": "ws://127.0.0.1:9443"}})
        assert resp.status == 200
        await eventually(lambda: _get(cluster, DEPLOYMENTS, "collector-kraken-main"))
        await eventually(lambda: _status(cluster).get("phase") == "Pending")


async def test_timer_restores_deleted_and_edited_children(cluster: K8sEmulator) -> None:
    async with running_operator():
        await _create(cluster, feed_body())
        dep = await eventually(lambda: _get(cluster, DEPLOYMENTS, "collector-kraken-main"))
        first_uid = dep["metadata"]["uid"]

        resp = await cluster.delete("/apis/apps/v1/namespaces/default/deployments/collector-kraken-main")
        assert resp.status == 200
        dep = await eventually(
            lambda: (
                (d := _get(cluster, DEPLOYMENTS, "collector-kraken-main")) and d["metadata"]["uid"] != first_uid and d
            )
        )
        assert dep["spec"]["strategy"] == {"type": "Recreate"}

        resp = await cluster.patch(
            "/api/v1/namespaces/default/configmaps/collector-kraken-main",
            json={"data": {"feed.yaml": "tampered"}},
        )
        assert resp.status == 200
        await eventually(lambda: "BTC-USD" in _get(cluster, CONFIGMAPS, "collector-kraken-main")["data"]["feed.yaml"])


async def test_feeds_created_while_the_operator_was_down_are_resumed(cluster: K8sEmulator) -> None:
    await _create(cluster, feed_body())
    await _create(cluster, feed_body("coinbase-main", exchange="coinbase"))
    async with running_operator():
        for name in ("collector-kraken-main", "collector-coinbase-main"):
            await eventually(lambda name=name: _get(cluster, DEPLOYMENTS, name))
        await eventually(lambda: _status(cluster, "coinbase-main").get("phase") == "Pending")


async def test_a_foreign_object_is_never_taken_over(cluster: K8sEmulator) -> None:
    foreign = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "collector-kraken-main", "namespace": "default"},
        "data": {"mine": "yes"},
    }
    resp = await cluster.post("/api/v1/namespaces/default/configmaps", json=foreign)
    assert resp.status == 200
    async with running_operator():
        await _create(cluster, feed_body())
        status = await eventually(lambda: _status(cluster).get("phase") == "Degraded" and _status(cluster))
        ready = _condition(status, "Ready")
        assert (ready["status"], ready["reason"]) == ("False", "ChildConflict")
        assert "not owned by this feed" in ready["message"]
        assert _get(cluster, CONFIGMAPS, "collector-kraken-main")["data"] == {"mine": "yes"}
        assert _get(cluster, DEPLOYMENTS, "collector-kraken-main") is None
        await asyncio.sleep(0.4)  # a resync: same status, no second warning
        conflicts = [
            e
            for (res, _, _), e in cluster.objects.items()
            if res == kmock.resource("v1/events") and e.raw.get("reason") == "ChildConflict"
        ]
        assert len(conflicts) == 1


async def test_liveness_endpoint_reports_the_probe(cluster: K8sEmulator) -> None:
    with socket.socket() as s:  # a free port for kopf's liveness server (it cannot report port 0)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/healthz"
    async with running_operator(liveness_endpoint=url), aiohttp.ClientSession() as http:

        async def healthy() -> Any:
            try:
                async with http.get(url) as resp:
                    return resp.status == 200 and await resp.json()
            except aiohttp.ClientConnectionError:
                return None  # the liveness server starts right after the operator is ready

        body = await eventually(healthy)
    assert body["feeds"] == 0  # the probe handler's field: feeds with a metrics sample
