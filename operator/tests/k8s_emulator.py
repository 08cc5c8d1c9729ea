"""``K8sEmulator``: kmock's in-memory Kubernetes API with the server semantics kopf relies on.

kmock 0.8 stores objects as given. A real API server also stamps ``uid``/``resourceVersion``/
``generation``, splits the status subresource from the main resource, fails JSON-patch ``test``
ops with 422 (kopf's optimistic concurrency), lets a watch resume after a list without replaying
it, and garbage-collects children whose controlling owner is gone. This subclass adds exactly
those, so the operator runs against it unmodified. Validation (schemas, CEL, defaults) is not
emulated: the CRD checks are tested on their own.
"""

import copy
import datetime
import itertools
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp.web
import attrs
import kmock
from kmock._internal import rendering

__all__ = ("FEEDS", "K8sEmulator", "declare_resources")

FEEDS = "alphapulse.io/v1alpha1/exchangefeeds"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _merged(base: Any, patch: Any) -> Any:
    """JSON merge patch (RFC 7386), as kmock applies it: dicts merge, None deletes, lists replace."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(base) if isinstance(base, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merged(out.get(key), value)
    return out


@attrs.define(kw_only=True)
class K8sEmulator(kmock.KubernetesEmulator):
    _rv_counter: Any = attrs.field(factory=lambda: itertools.count(1), init=False)
    _rv_last: int = attrs.field(default=0, init=False)

    def _next_rv(self) -> str:
        self._rv_last = next(self._rv_counter)
        return str(self._rv_last)

    def _has_status(self, resource: Any) -> bool:
        return resource in self.resources and "status" in self.resources[resource].subresources

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        data = request.data
        if request.resource is not None and request.action == kmock.action.CREATE and isinstance(data, dict):
            meta = data.setdefault("metadata", {})
            if request.namespace:
                meta.setdefault("namespace", request.namespace)
            if "name" not in meta and "generateName" in meta:
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            meta.update(uid=str(uuid.uuid4()), resourceVersion=self._next_rv(), generation=1, creationTimestamp=_now())
            if self._has_status(request.resource):
                data.pop("status", None)  # the main resource ignores status, like the API server
        elif request.resource is not None and request.action == kmock.action.UPDATE:
            key = (request.resource, request.namespace, request.name)
            if key in self.objects and not self.objects[key].deleted:
                current = self.objects[key].raw
                cur_meta = current.get("metadata", {})
                if isinstance(data, list):  # JSON patch: the test op is kopf's optimistic lock
                    for op in data:
                        if (
                            op.get("op") == "test"
                            and op.get("path") == "/metadata/resourceVersion"
                            and op.get("value") != cur_meta.get("resourceVersion")
                        ):
                            raise kmock.KubernetesError(
                                status=422, reason="Invalid", message="resourceVersion test failed"
                            )
                    data.append({"op": "add", "path": "/metadata/resourceVersion", "value": self._next_rv()})
                elif isinstance(data, dict):
                    if self._has_status(request.resource):
                        if request.subresource == "status":
                            for k in [k for k in data if k != "status"]:
                                data.pop(k)
                        else:
                            data.pop("status", None)
                    meta = data.setdefault("metadata", {})
                    if "spec" in data and _merged(current.get("spec"), data["spec"]) != current.get("spec"):
                        meta["generation"] = int(cur_meta.get("generation", 1)) + 1
                    meta["resourceVersion"] = self._next_rv()
        was_live = False
        key = (request.resource, request.namespace, request.name)
        if (
            request.resource is not None
            and request.name
            and request.action in (kmock.action.DELETE, kmock.action.UPDATE)
        ):
            was_live = key in self.objects and not self.objects[key].deleted
        response = await super()._handle(request)
        # Gone now: deleted outright, or its last finalizer was just removed.
        if was_live and key in self.objects and self.objects[key].deleted:
            await self._collect_garbage(self.objects[key].last.raw.get("metadata", {}).get("uid"))
        return response

    async def _collect_garbage(self, owner_uid: str | None) -> None:
        """Delete (recursively) every object whose controlling owner was just deleted."""
        if not owner_uid:
            return
        orphans = []
        async with self._lock:
            for (resource, _ns, _name), obj in list(self.objects.items()):
                if obj.deleted:
                    continue
                refs = obj.raw.get("metadata", {}).get("ownerReferences") or []
                if any(r.get("uid") == owner_uid and r.get("controller") for r in refs):
                    raw = obj.raw
                    obj.delete()
                    await self._buses[resource].put({"type": "DELETED", "object": raw})
                    orphans.append(raw.get("metadata", {}).get("uid"))
        for uid in orphans:
            await self._collect_garbage(uid)

    async def _render_error(self, exc: Exception) -> aiohttp.web.StreamResponse:
        resp = await super()._render_error(exc)
        assert isinstance(resp, aiohttp.web.Response)
        return aiohttp.web.Response(body=resp.body, status=resp.status, headers={"Content-Type": "application/json"})

    async def _serve_list(self, request: rendering.Request) -> Any:
        result = await super()._serve_list(request)
        result["metadata"]["resourceVersion"] = str(self._rv_last)
        resource = request.resource
        if resource is not None and resource in self.resources and self.resources[resource].kind:
            # kubectl (client-go) refuses lists without kind/apiVersion.
            group_version = f"{resource.group}/{resource.version}" if resource.group else resource.version
            result.update(kind=f"{self.resources[resource].kind}List", apiVersion=group_version)
        return result

    async def _serve_watch(self, request: rendering.Request) -> AsyncIterator[Any]:
        # kmock replays every object as ADDED at watch start; a real server resumes after the
        # list's resourceVersion, so skip what the list already delivered.
        since = request.params.get("resourceVersion", "")
        since_n = int(since) if since.isdigit() else None
        async for item in super()._serve_watch(request):
            if since_n is not None and isinstance(item, dict) and item.get("type") == "ADDED":
                rv = str(item.get("object", {}).get("metadata", {}).get("resourceVersion", ""))
                if rv.isdigit() and int(rv) <= since_n:
                    continue
            yield item


def declare_resources(server: kmock.KubernetesEmulator) -> None:
    """Discovery entries kopf waits for, plus the kinds the operator reads and writes."""
    server.resources[FEEDS] = kmock.ResourceInfo(
        kind="ExchangeFeed",
        singular="exchangefeed",
        namespaced=True,
        shortnames={"xf"},
        verbs={"list", "watch", "get", "patch", "create", "delete"},
        subresources={"status"},
    )
    server.resources["apiextensions.k8s.io/v1/customresourcedefinitions"] = kmock.ResourceInfo(
        kind="CustomResourceDefinition",
        singular="customresourcedefinition",
        namespaced=False,
        verbs={"list", "watch", "get"},
    )
    server.resources["v1/namespaces"] = kmock.ResourceInfo(
        kind="Namespace", singular="namespace", namespaced=False, verbs={"list", "watch", "get"}
    )
    server.resources["v1/events"] = kmock.ResourceInfo(
        kind="Event", singular="event", namespaced=True, verbs={"create", "list", "get"}
    )
    server.resources["v1/configmaps"] = kmock.ResourceInfo(
        kind="ConfigMap",
        singular="configmap",
        namespaced=True,
        verbs={"create", "get", "list", "patch", "delete"},
    )
    server.resources["v1/pods"] = kmock.ResourceInfo(
        kind="Pod",
        singular="pod",
        namespaced=True,
        verbs={"create", "get", "list", "patch", "delete"},
        subresources={"status"},
    )
    server.resources["apps/v1/deployments"] = kmock.ResourceInfo(
        kind="Deployment",
        singular="deployment",
        namespaced=True,
        verbs={"create", "get", "list", "patch", "delete"},
        subresources={"status"},
    )
