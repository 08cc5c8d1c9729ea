"""kopf bindings: thin handlers around :func:`alphapulse_operator.reconciling.reconcile`.

Run: ``kopf run --standalone --all-namespaces --liveness=http://0.0.0.0:8080/healthz
-m alphapulse_operator.handlers``. One replica with ``strategy: Recreate``: kopf has no
lease-based leader election, and its peering only pauses lower-priority peers (equal ones all
pause), so ``--standalone`` with a single pod is the honest way to have one active operator.

Children carry controller ownerReferences, so the API server's garbage collector deletes them
with the feed. kopf still puts its finalizer (``alphapulse.io/operator``) on every feed because
timers require one (to stop the feed's timer before the object goes); so while the operator is
down a deleted feed waits in ``Terminating`` until it returns (see docs/kubernetes.md).
"""

import datetime
import logging
import time
from typing import Any

import kopf

from alphapulse_operator.kubeclient import Connection, KubeClient
from alphapulse_operator.naming import GROUP, PLURAL, VERSION
from alphapulse_operator.reconciling import Outcome, reconcile
from alphapulse_operator.settings import OperatorSettings

__all__ = ("reconcile_feed", "resync_feed")

# kopf fixes the timer interval when the decorator runs, so this one setting is read at import;
# everything else is read once per operator start (into the memo).
_RESYNC_S = OperatorSettings.from_env().resync_interval_s
_KEY = "alphapulse"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # Our own annotation prefix and no status.kopf field (the CRD's status schema would prune it).
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP, v1=False)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration", v1=False
    )
    settings.persistence.finalizer = f"{GROUP}/operator"
    # Idle watches can die silently behind load balancers; reconnect well before that.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    settings.networking.request_timeout = 30
    settings.posting.level = logging.INFO
    memo["settings"] = OperatorSettings.from_env()
    memo[_KEY] = KubeClient(Connection.load())
    memo["samples"] = {}


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    client = memo.get(_KEY)
    if client is not None:
        await client.close()


@kopf.on.probe(id="feeds")
def probe_feeds(memo: kopf.Memo, **_: Any) -> int:
    """Liveness detail: how many feeds have a metrics sample (the endpoint itself proves the loop runs)."""
    return len(memo.get("samples", {}))


async def _run(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo) -> Outcome:
    outcome = await reconcile(
        memo[_KEY], dict(body), memo["settings"], memo["samples"], now=_now(), monotonic_s=time.monotonic()
    )
    patch.status.update(outcome.status)
    for event in outcome.events:
        post = kopf.warn if event.type == "Warning" else kopf.info
        post(body, reason=event.reason, message=event.message)
    return outcome


@kopf.on.resume(GROUP, VERSION, PLURAL, id="reconcile-resume")
@kopf.on.create(GROUP, VERSION, PLURAL, id="reconcile-create")
@kopf.on.update(GROUP, VERSION, PLURAL, field="spec", id="reconcile-update")
async def reconcile_feed(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    outcome = await _run(body, patch, memo)
    if outcome.invalid:
        # Retrying cannot fix a spec; the next edit of the spec triggers a new attempt.
        raise kopf.PermanentError(outcome.invalid)


@kopf.timer(GROUP, VERSION, PLURAL, id="resync", interval=_RESYNC_S, initial_delay=_RESYNC_S)
async def resync_feed(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    """Drift correction (children edited or deleted behind our back) and status refresh."""
    await _run(body, patch, memo)


@kopf.on.delete(GROUP, VERSION, PLURAL, id="forget", optional=True)
async def forget_feed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    # optional=True: this handler alone would not need a finalizer; children go by garbage collection.
    memo["samples"].pop(body["metadata"]["uid"], None)
