"""A small async client for the few API calls the operator makes (get, list, create, patch).

kopf watches and patches the ExchangeFeeds itself; the operator only needs to read and write its
children. Credentials come from the ``kubernetes`` package's loaders (in-cluster service account
with token refresh, or ``$KUBECONFIG`` including exec plugins); requests go through ``httpx``.
"""

import os
import ssl
from dataclasses import dataclass
from typing import Any, Self

import httpx

from alphapulse import __version__
from alphapulse.errors import FatalError, RetryableError

__all__ = (
    "USER_AGENT",
    "ApiError",
    "Connection",
    "KubeClient",
    "NotFoundError",
    "collection_path",
    "object_path",
)

Obj = dict[str, Any]
USER_AGENT = f"alphapulse-operator/{__version__}"

# kind -> (plural, namespaced); only the kinds the operator manages.
_KINDS = {
    "ConfigMap": "configmaps",
    "Deployment": "deployments",
    "Pod": "pods",
}


class ApiError(RetryableError):
    """The API server refused or failed a request; most are worth retrying on the next pass."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason


class NotFoundError(ApiError):
    pass


class ConfigurationError(FatalError):
    pass


def _base(api_version: str) -> str:
    return f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"


def collection_path(api_version: str, kind: str, namespace: str) -> str:
    try:
        plural = _KINDS[kind]
    except KeyError as e:
        raise ConfigurationError(f"the operator does not manage {kind} objects") from e
    return f"{_base(api_version)}/namespaces/{namespace}/{plural}"


def object_path(obj: Obj) -> str:
    meta = obj["metadata"]
    return f"{collection_path(obj['apiVersion'], obj['kind'], meta['namespace'])}/{meta['name']}"


@dataclass(frozen=True, slots=True)
class Connection:
    server: str
    verify: ssl.SSLContext | bool
    token: Any  # a callable returning the Authorization header value, or None

    @classmethod
    def load(cls) -> "Connection":
        """In-cluster service account if there is one, else ``$KUBECONFIG`` / ``~/.kube/config``."""
        from kubernetes import config as kconfig  # noqa: PLC0415 - heavy; only at operator start-up
        from kubernetes.client import Configuration  # noqa: PLC0415

        cfg = Configuration()
        try:
            if os.environ.get("KUBERNETES_SERVICE_HOST"):
                kconfig.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
            else:
                path = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
                kconfig.load_kube_config(config_file=path, client_configuration=cfg)  # type: ignore[no-untyped-call]
        except kconfig.ConfigException as e:
            raise ConfigurationError(f"no Kubernetes credentials: {e}") from e
        verify: ssl.SSLContext | bool = False
        if cfg.host.startswith("https"):
            ctx = ssl.create_default_context(cafile=cfg.ssl_ca_cert or None)
            if cfg.cert_file:
                ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
            if not cfg.verify_ssl:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            verify = ctx

        def token() -> str | None:
            # Calls the refresh hook: projected service-account tokens rotate hourly.
            value: str | None = cfg.get_api_key_with_prefix("authorization")
            return value

        return cls(server=cfg.host.rstrip("/"), verify=verify, token=token)


class KubeClient:
    """One per operator process (kept in kopf's memo, closed on cleanup)."""

    def __init__(self, connection: Connection, *, timeout_s: float = 10.0) -> None:
        self._conn = connection
        self._http = httpx.AsyncClient(base_url=connection.server, verify=connection.verify, timeout=timeout_s)
        # Pods' own HTTP endpoints (metrics): plain HTTP inside the cluster, no API credentials.
        self._pods_http = httpx.AsyncClient(headers={"User-Agent": USER_AGENT})

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()
        await self._pods_http.aclose()

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        token = self._conn.token() if self._conn.token else None
        if token:
            headers["Authorization"] = token
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str | None = None,
        params: dict[str, str] | None = None,
    ) -> Obj:
        try:
            resp = await self._http.request(
                method,
                path,
                json=body,
                params=params,
                headers=self._headers(content_type if body is not None else None),
            )
        except httpx.HTTPError as e:
            raise ApiError(0, type(e).__name__, f"{method} {path}: {e}") from e
        if resp.status_code >= 400:
            try:
                status = resp.json()
                reason, message = str(status.get("reason", "")), str(status.get("message", ""))
            except ValueError:
                reason, message = resp.reason_phrase, resp.text[:500]
            error = NotFoundError if resp.status_code == 404 else ApiError
            raise error(resp.status_code, reason, f"{method} {path}: {message}")
        data: Obj = resp.json()
        return data

    async def get(self, path: str) -> Obj | None:
        try:
            return await self._request("GET", path)
        except NotFoundError:
            return None

    async def list(self, path: str, label_selector: dict[str, str]) -> list[Obj]:
        selector = ",".join(f"{k}={v}" for k, v in sorted(label_selector.items()))
        data = await self._request("GET", path, params={"labelSelector": selector})
        items: list[Obj] = data.get("items") or []
        # Filter again client-side: cheap, and correct against servers that ignore the selector.
        return [
            i
            for i in items
            if all((i.get("metadata", {}).get("labels") or {}).get(k) == v for k, v in label_selector.items())
        ]

    async def create(self, obj: Obj) -> Obj:
        meta = obj["metadata"]
        return await self._request("POST", collection_path(obj["apiVersion"], obj["kind"], meta["namespace"]), body=obj)

    async def merge_patch(self, obj: Obj) -> Obj:
        return await self._request("PATCH", object_path(obj), body=obj, content_type="application/merge-patch+json")

    async def get_text(self, url: str, *, timeout_s: float) -> str:
        """Plain GET of a pod's own HTTP endpoint (metrics), outside the API server."""
        resp = await self._pods_http.get(url, timeout=timeout_s)
        resp.raise_for_status()
        text: str = resp.text
        return text
