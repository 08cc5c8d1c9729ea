"""Fixtures for the operator tests: a kmock API server, a kubeconfig for it, the running operator."""

import os
from pathlib import Path
from typing import Any

import pytest

# Read by alphapulse_operator.handlers at import (kopf fixes timer intervals then): a short
# resync keeps the drift and status scenarios at about a second each.
os.environ.setdefault("ALPHAPULSE_OPERATOR_RESYNC_INTERVAL_S", "0.3")

import kopf
from k8s_emulator import K8sEmulator, declare_resources

import alphapulse_operator.handlers  # noqa: F401 - registers the handlers with kopf


@kopf.on.login()
def login_to_kmock(**_: Any) -> kopf.ConnectionInfo:
    # Test-only: replaces kopf's fallback logins, which read $KUBECONFIG once at import time.
    return kopf.ConnectionInfo(server=os.environ["KMOCK_URL"], token="dummy")


@pytest.fixture
def cluster(kmock: K8sEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> K8sEmulator:
    url = str(kmock.url).rstrip("/")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: k, cluster: {{server: '{url}'}}}}]\n"
        "users: [{name: k, user: {token: dummy}}]\n"
        "contexts: [{name: k, context: {cluster: k, user: k, namespace: default}}]\n"
        "current-context: k\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))  # for the operator's own client
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KMOCK_URL", url)
    declare_resources(kmock)
    return kmock
