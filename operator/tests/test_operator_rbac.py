"""RBAC sufficiency: every API call the operator (kopf + our client) makes is granted by the chart.

A full feed lifecycle runs against the emulated API server; the request log, filtered to the
operator's own user agents, is compared with the ClusterRole that ``helm template`` renders.
A missing verb would be a 403 on a real cluster; an unused one is flagged too (least privilege).
"""

import asyncio
import subprocess
from pathlib import Path

import kmock
import pytest
import yaml
from k8s_emulator import K8sEmulator
from k8s_tools import ToolsError, ensure_tools
from operator_harness import eventually, feed_body, running_operator

from alphapulse_operator.kubeclient import USER_AGENT

pytestmark = pytest.mark.kmock(cls=K8sEmulator)

CHART = Path(__file__).resolve().parents[2] / "charts" / "alphapulse"
FEEDS_URL = "/apis/alphapulse.io/v1alpha1/namespaces/default/exchangefeeds"
VERBS = {
    kmock.action.LIST: "list",
    kmock.action.WATCH: "watch",
    kmock.action.FETCH: "get",
    kmock.action.CREATE: "create",
    kmock.action.UPDATE: "patch",
    kmock.action.DELETE: "delete",
}
# Granted though a short scenario may not exercise it: a plain read kopf may fall back to.
MAY_BE_UNUSED = {("alphapulse.io", "exchangefeeds", "get")}


def granted() -> set[tuple[str, str, str]]:
    try:
        helm = ensure_tools()["helm"]
    except ToolsError as e:
        pytest.fail(f"helm is required to render the ClusterRole: {e}")
    proc = subprocess.run(
        [str(helm), "template", "ap", str(CHART), "--show-only", "templates/operator.yaml"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    (role,) = [d for d in yaml.safe_load_all(proc.stdout) if d and d["kind"] == "ClusterRole"]
    return {
        (g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]
    }


async def test_the_cluster_role_grants_exactly_what_the_operator_uses(cluster: K8sEmulator) -> None:
    async with running_operator():
        resp = await cluster.post(FEEDS_URL, json=feed_body())
        assert resp.status == 200
        key = (kmock.resource("apps/v1/deployments"), "default", "collector-kraken-main")
        await eventually(lambda: key in cluster.objects)
        resp = await cluster.patch(f"{FEEDS_URL}/kraken-main", json={"spec": {"symbols": ["ETH-USD"]}})
        assert resp.status == 200
        await asyncio.sleep(0.4)  # at least one resync: pods listed, status patched
        resp = await cluster.delete(f"{FEEDS_URL}/kraken-main")
        assert resp.status == 200
        feeds = (kmock.resource("alphapulse.io/v1alpha1/exchangefeeds"), "default", "kraken-main")
        await eventually(lambda: cluster.objects[feeds].deleted)

    used = set()
    for request in cluster:  # kmock iterates over its request log
        agent = request.headers.get("User-Agent", "")
        if request.resource is None or request.resource.plural is None or request.action is None:
            continue  # discovery
        if not (agent.startswith("kopf/") or agent == USER_AGENT):
            continue
        resource = request.resource.plural + (f"/{request.subresource}" if request.subresource else "")
        used.add((request.resource.group or "", resource, VERBS[request.action]))
    assert ("apps", "deployments", "create") in used  # the scenario did run
    allowed = granted()
    assert not used - allowed, f"the operator needs more than the chart grants: {sorted(used - allowed)}"
    assert not allowed - used - MAY_BE_UNUSED, f"granted but never used: {sorted(allowed - used - MAY_BE_UNUSED)}"
