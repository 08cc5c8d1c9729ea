"""The user's path with the real ``kubectl``: apply an example feed, edit it, delete it.

kubectl 1.37 (from the same PyPI wheel as helm) talks to the emulated API server while the
operator runs; the only concession is ``--validate=false`` (kmock serves no OpenAPI documents).
"""

import asyncio
import os
from pathlib import Path

import kmock
import pytest
from k8s_emulator import FEEDS, K8sEmulator
from k8s_tools import ToolsError, ensure_tools
from operator_harness import eventually, running_operator

pytestmark = pytest.mark.kmock(cls=K8sEmulator)

EXAMPLE = Path(__file__).resolve().parents[2] / "charts" / "alphapulse" / "examples" / "kraken.yaml"


@pytest.fixture(scope="module")
def kubectl() -> Path:
    try:
        return ensure_tools()["kubectl"]
    except ToolsError as e:
        pytest.fail(f"kubectl is required for this test and could not be fetched: {e}")


async def run(kubectl: Path, *args: str, stdin: str | None = None) -> str:
    proc = await asyncio.create_subprocess_exec(
        str(kubectl),
        "--kubeconfig",
        os.environ["KUBECONFIG"],
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin else None), 30)
    assert proc.returncode == 0, err.decode()
    return out.decode()


def _deployment(cluster: K8sEmulator) -> dict[str, object] | None:
    key = (kmock.resource("apps/v1/deployments"), "default", "collector-kraken-spot")
    if key not in cluster.objects or cluster.objects[key].deleted:
        return None
    raw: dict[str, object] = cluster.objects[key].raw
    return raw


async def test_kubectl_apply_edit_delete_an_example_feed(cluster: K8sEmulator, kubectl: Path) -> None:
    async with running_operator():
        out = await run(kubectl, "apply", "--validate=false", "-f", str(EXAMPLE))
        assert "exchangefeed.alphapulse.io/kraken-spot created" in out
        await eventually(lambda: _deployment(cluster))

        edited = EXAMPLE.read_text().replace("[BTC-USD, ETH-USD, SOL-USD]", "[BTC-USD]")
        out = await run(kubectl, "apply", "--validate=false", "-f", "-", stdin=edited)
        assert "configured" in out

        def symbol_count() -> object:
            feed = cluster.objects[FEEDS, "default", "kraken-spot"]
            return (feed.get("status") or {}).get("symbolCount") == 1

        await eventually(symbol_count)

        out = await run(kubectl, "delete", "exchangefeed", "kraken-spot", "--timeout=20s")
        assert 'exchangefeed.alphapulse.io "kraken-spot" deleted' in out
        await eventually(lambda: _deployment(cluster) is None)
