"""Operator settings, read once from ``ALPHAPULSE_OPERATOR_*`` environment variables."""

import os
from dataclasses import dataclass, field

from alphapulse.errors import ConfigError

__all__ = ("OperatorSettings",)

_PREFIX = "ALPHAPULSE_OPERATOR_"


def _get(name: str, default: str) -> str:
    return os.environ.get(_PREFIX + name, default)


def _float(name: str, default: float) -> float:
    raw = _get(name, str(default))
    try:
        return float(raw)
    except ValueError as e:
        raise ConfigError(f"{_PREFIX}{name}={raw!r} is not a number") from e


def _int(name: str, default: int) -> int:
    raw = _get(name, str(default))
    try:
        return int(raw)
    except ValueError as e:
        raise ConfigError(f"{_PREFIX}{name}={raw!r} is not an integer") from e


@dataclass(frozen=True, slots=True)
class OperatorSettings:
    """What the operator puts into every collector it renders, and how often it looks again."""

    image: str = "ghcr.io/alphapulse/alphapulse:0.1.0"
    image_pull_policy: str = "IfNotPresent"
    # The hostPath shared with the relay DaemonSet on each node (the relay reads <dir>/feeds/*.sock).
    sock_dir: str = "/var/run/alphapulse"
    # Collectors only run where the relay runs: nodes carrying this label.
    node_label_key: str = "alphapulse.io/collector"
    node_label_value: str = "true"
    metrics_port: int = 9100
    priority_class: str = ""
    run_as_user: int = 10001
    # Requests for collectors that do not ask for dedicated CPUs.
    default_cpu: str = "250m"
    default_memory: str = "256Mi"
    default_memory_limit: str = "512Mi"
    # Drift correction and status refresh (rate, node, readiness) interval.
    resync_interval_s: float = 30.0
    scrape_timeout_s: float = 2.0
    image_pull_secrets: tuple[str, ...] = field(default=())

    @classmethod
    def from_env(cls) -> "OperatorSettings":
        d = cls()
        secrets = tuple(s for s in _get("IMAGE_PULL_SECRETS", "").split(",") if s)
        settings = cls(
            image=_get("IMAGE", d.image),
            image_pull_policy=_get("IMAGE_PULL_POLICY", d.image_pull_policy),
            sock_dir=_get("SOCK_DIR", d.sock_dir),
            node_label_key=_get("NODE_LABEL_KEY", d.node_label_key),
            node_label_value=_get("NODE_LABEL_VALUE", d.node_label_value),
            metrics_port=_int("METRICS_PORT", d.metrics_port),
            priority_class=_get("PRIORITY_CLASS", d.priority_class),
            run_as_user=_int("RUN_AS_USER", d.run_as_user),
            default_cpu=_get("DEFAULT_CPU", d.default_cpu),
            default_memory=_get("DEFAULT_MEMORY", d.default_memory),
            default_memory_limit=_get("DEFAULT_MEMORY_LIMIT", d.default_memory_limit),
            resync_interval_s=_float("RESYNC_INTERVAL_S", d.resync_interval_s),
            scrape_timeout_s=_float("SCRAPE_TIMEOUT_S", d.scrape_timeout_s),
            image_pull_secrets=secrets,
        )
        if settings.image_pull_policy not in {"Always", "IfNotPresent", "Never"}:
            raise ConfigError(f"{_PREFIX}IMAGE_PULL_POLICY={settings.image_pull_policy!r} is not a pull policy")
        if not 0 < settings.metrics_port < 65536:
            raise ConfigError(f"{_PREFIX}METRICS_PORT={settings.metrics_port} is not a TCP port")
        if settings.resync_interval_s <= 0:
            raise ConfigError(f"{_PREFIX}RESYNC_INTERVAL_S must be positive")
        return settings
