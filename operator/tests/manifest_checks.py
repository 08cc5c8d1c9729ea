"""Checks shared by the operator, CRD and chart tests: Kubernetes OpenAPI validation of objects."""

from typing import Any

import kubernetes_validate

__all__ = ("KUBE_VERSION", "kube_validate")

KUBE_VERSION = "1.37.0"


def kube_validate(obj: dict[str, Any]) -> None:
    """Validate a built-in object strictly (unknown fields are errors) against Kubernetes 1.37."""
    try:
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        path = ".".join(str(p) for p in e.absolute_path) or "."
        name = obj.get("metadata", {}).get("name")
        raise AssertionError(f"{obj.get('kind')} {name}: {path}: {e.message}") from None
