"""Recorded sessions to replay: the server's text frames, one per line, sent verbatim.

A session file is what a client received, in order. A gap session (``gap_session.jsonl``) is the
same recording with one message removed; when its ``gap_session.meta.json`` and the full
``session.jsonl`` lie beside it, the simulator replays the full recording and leaves that one
line off the wire, so the venue's own state (Kraken/Coinbase book re-snapshots, Binance's REST
depth snapshot) still includes the lost message, as a real exchange's would. The bytes on the
wire are identical to ``gap_session.jsonl`` either way.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from alphapulse.errors import ConfigError

__all__ = (
    "FIXTURES_ENV",
    "REST_FILES",
    "VENUES",
    "ReplaySource",
    "default_fixtures_dir",
    "load_lines",
)

VENUES = ("kraken", "coinbase", "binance")
FIXTURES_ENV = "ALPHAPULSE_FIXTURES_DIR"
# REST answers recorded next to each venue's session: route -> file name
REST_FILES: dict[str, dict[str, str]] = {
    "kraken": {},
    "coinbase": {"/api/v3/brokerage/market/products": "rest_products.json"},
    "binance": {
        "/api/v3/depth": "rest_depth_snapshot.json",
        "/api/v3/exchangeInfo": "rest_exchange_info.json",
    },
}


def default_fixtures_dir() -> Path:
    """``$ALPHAPULSE_FIXTURES_DIR``, else the copy in the repository (``fixtures/exchanges``), else
    ``../shared/fixtures/exchanges`` beside the repository (where the fixtures were first published)."""
    env = os.environ.get(FIXTURES_ENV)
    if env:
        return Path(env)
    repo_root = Path(__file__).resolve().parents[3]
    candidates = (repo_root / "fixtures" / "exchanges", repo_root.parent / "shared" / "fixtures" / "exchanges")
    for candidate in candidates:
        if (candidate / "README.md").exists():
            return candidate
    return candidates[0]


def load_lines(path: Path) -> list[str]:
    """Lines of a JSONL capture, exactly: no trailing newline, a final CR (CRLF files) removed."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read replay file {path}: {e}") from e
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln.removesuffix("\r") for ln in lines]


@dataclass(frozen=True, slots=True)
class ReplaySource:
    """What one venue replays: the recorded lines, which of them stay off the wire, REST bodies."""

    venue: str
    lines: tuple[str, ...]
    skip: frozenset[int] = frozenset()  # 0-based indices recorded but not sent
    rest: dict[str, bytes] = field(default_factory=dict)  # route -> recorded body
    path: Path | None = None

    @property
    def wire_lines(self) -> list[str]:
        """Exactly what a connection receives from the recording, in order."""
        return [ln for i, ln in enumerate(self.lines) if i not in self.skip]

    @classmethod
    def load(cls, path: str | os.PathLike[str], venue: str | None = None) -> "ReplaySource":
        """A session file, or a venue directory (its ``session.jsonl``); REST files found beside it."""
        p = Path(path)
        if p.is_dir():
            p = p / "session.jsonl"
        if venue is None:
            venue = p.parent.name
        if venue not in VENUES:
            raise ConfigError(f"cannot tell the venue of {p}; name it (kraken, coinbase or binance)")
        if not p.is_file():
            raise ConfigError(f"no replay file {p}")
        lines = load_lines(p)
        skip: frozenset[int] = frozenset()
        meta = p.with_name(p.stem + ".meta.json")
        full = p.with_name("session.jsonl")
        if p.name == "gap_session.jsonl" and meta.is_file() and full.is_file():
            dropped = orjson.loads(meta.read_bytes())["dropped_message"]["session_line"]
            full_lines = load_lines(full)
            index = int(dropped) - 1
            if [ln for i, ln in enumerate(full_lines) if i != index] == lines:
                lines, skip = full_lines, frozenset({index})
        rest = {
            route: (p.parent / name).read_bytes()
            for route, name in REST_FILES[venue].items()
            if (p.parent / name).is_file()
        }
        return cls(venue, tuple(lines), skip, rest, p)

    @classmethod
    def fixture(cls, fixtures_dir: str | os.PathLike[str], venue: str, *, gap: bool = False) -> "ReplaySource":
        """The venue's ``session.jsonl`` (or ``gap_session.jsonl``) under a fixtures directory."""
        name = "gap_session.jsonl" if gap else "session.jsonl"
        return cls.load(Path(fixtures_dir) / venue / name, venue)
