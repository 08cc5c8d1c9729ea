"""Settings shared by every service: environment variables prefixed ``ALPHAPULSE_``, then flags.

Service-specific settings live with their service; this module holds what crosses services
(where the sockets are, where local data goes) and the helpers to read the environment.
"""

import os
from pathlib import Path

from alphapulse.errors import ConfigError

__all__ = (
    "ENV_PREFIX",
    "STACK_ENV_FILE",
    "SUN_PATH_MAX_BYTES",
    "data_dir",
    "env",
    "env_float",
    "env_int",
    "feed_socket_path",
    "relay_socket_path",
    "running_stack_env",
    "sock_dir",
)

ENV_PREFIX = "ALPHAPULSE_"
SUN_PATH_MAX_BYTES = 107  # sockaddr_un.sun_path is 108 bytes including the terminating NUL


def env(name: str, default: str | None = None) -> str | None:
    """``ALPHAPULSE_<NAME>`` from the environment (``DATABASE_URL``/``REDIS_URL`` keep their names).

    With ``DATABASE_URL``/``REDIS_URL`` unset, the servers of a running ``alphapulse up`` (recorded in
    ``<data_dir>/stack.env``) are used, so ``alphapulse users create`` and friends reach the
    embedded database of the local stack without copying URLs around."""
    if name in {"DATABASE_URL", "REDIS_URL"}:
        return os.environ.get(name) or running_stack_env().get(name) or default
    return os.environ.get(ENV_PREFIX + name, default)


STACK_ENV_FILE = "stack.env"


def running_stack_env() -> dict[str, str]:
    """The variables a live ``alphapulse up`` recorded for other commands (empty if none runs)."""
    path = Path(os.environ.get(ENV_PREFIX + "DATA_DIR") or ".alphapulse") / STACK_ENV_FILE
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    found = dict(line.split("=", 1) for line in lines if "=" in line)
    try:
        os.kill(int(found.pop("ALPHAPULSE_UP_PID", "0")), 0)
    except (ValueError, OSError):
        return {}  # left behind by a stack that is gone
    return found


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
