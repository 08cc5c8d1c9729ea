"""Settings shared by every service: environment variables prefixed ``ALPHAPULSE_``, then flags.

Service-specific settings live with their service; this module holds what crosses services
(where the sockets are, where local data goes) and the helpers to read the environment.
"""

import os
from pathlib import Path

from alphapulse.errors import ConfigError

__all__ = (
    "ENV_PREFIX",
    "SUN_PATH_MAX_BYTES",
    "data_dir",
    "env",
    "env_float",
    "env_int",
    "feed_socket_path",
    "relay_socket_path",
    "sock_dir",
)

ENV_PREFIX = "ALPHAPULSE_"
SUN_PATH_MAX_BYTES = 107  # sockaddr_un.sun_path is 108 bytes including the terminating NUL


def env(name: str, default: str | None = None) -> str | None:
    """``ALPHAPULSE_<NAME>`` from the environment (``DATABASE_URL``/``REDIS_URL`` keep their names)."""
    key = name if name in {"DATABASE_URL", "REDIS_URL"} else ENV_PREFIX + name
    return os.environ.get(key, default)


def env_int(name: str, default: int) -> int:
    raw = env(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as e:
        raise ConfigError(f"{ENV_PREFIX}{name}={raw!r} is not an integer") from e


def env_float(name: str, default: float) -> float:
    raw = env(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError as e:
        raise ConfigError(f"{ENV_PREFIX}{name}={raw!r} is not a number") from e


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Where local state lives (embedded databases, spools, exports): ``./.alphapulse`` by default."""
    return Path(override or env("DATA_DIR") or ".alphapulse").resolve()


def sock_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The socket directory: the hostPath on Kubernetes, ``./.alphapulse/run`` locally."""
    return Path(override or env("SOCK_DIR") or data_dir() / "run").resolve()


def _checked(path: Path) -> Path:
    if len(os.fsencode(path)) > SUN_PATH_MAX_BYTES:
        raise ConfigError(
            f"socket path {path} is {len(os.fsencode(path))} bytes; Unix sockets allow at most "
            f"{SUN_PATH_MAX_BYTES}: choose a shorter --sock-dir"
        )
    return path


def feed_socket_path(directory: Path, feed_name: str) -> Path:
    return _checked(directory / "feeds" / f"{feed_name}.sock")


def relay_socket_path(directory: Path) -> Path:
    return _checked(directory / "relay.sock")
