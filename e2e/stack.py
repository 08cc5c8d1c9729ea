"""The whole AlphaPulse pipeline as real processes, for the end-to-end tests and benchmark.

``Stack`` starts ``python -m alphapulse ...`` subprocesses exactly as a user would run them:
the exchange simulator (synthetic market, all three venues), one collector per venue pointed at
it, the relay, and optionally the writer (on its own PostgreSQL database, created and dropped),
the bridge, the API and a trading node. Sockets live in a temporary directory, every HTTP port is
a free one picked here, and ``start()`` returns once every process answers ``/healthz``.

It is synchronous on purpose (``subprocess`` + ``urllib``): a session- or module-scoped pytest
fixture and the benchmark can both drive it without sharing an event loop.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

__all__ = ("BRIDGE_SECRET", "SESSION_SECRET", "Proc", "Stack", "StackOptions", "free_port", "running_stack")

REPO = Path(__file__).resolve().parent.parent
BRIDGE_SECRET = "e2e-bridge-secret-0123456789abcdef0123456789"
SESSION_SECRET = "e2e-session-secret-0123456789abcdef0123456789"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SIM_SYMBOLS = {
    "kraken": ("BTC-USD", "ETH-USD", "SOL-USD"),
    "coinbase": ("BTC-USD", "ETH-USD", "SOL-USD"),
    "binance": ("BTC-USDT", "ETH-USDT", "SOL-USDT"),
}


def free_port() -> int:
    """A port nobody listens on right now (the kernel's pick for port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _psql(sql: str) -> None:
    subprocess.run(
        ["psql", PG_ADMIN, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql],
        check=True,
        capture_output=True,
        timeout=60,
    )


@dataclass(frozen=True, slots=True)
class StackOptions:
    rate: float = 300.0  # simulator market events per second, all venues together
    venues: Sequence[str] = ("kraken", "coinbase", "binance")
    collectors: bool = True  # False: the simulator alone (a peer pipeline brings its own collectors)
    writer: bool = True
    bridge: bool = True
    bridges: int = 1  # bridge processes when ``bridge``: "bridge", then "bridge:2", "bridge:3", ...
    api: bool = False
    trade: Path | None = None  # a strategy YAML for `alphapulse trade -f`
    bridge_origins: Sequence[str] = ("*",)
    seed: int = 1
    log_level: str = "INFO"
    busy_poll: Sequence[str] = ()  # process names ("relay", "collector:kraken", ...) started with --busy-poll
    extra_env: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Proc:
    name: str
    popen: "subprocess.Popen[bytes]"
    log: Path
    port: int | None = None  # its HTTP port (/healthz), if it has one

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, n: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        return ""


class StackError(RuntimeError):
    pass


class Stack:
    """Start, inspect and stop one pipeline. ``with running_stack(...) as stack:`` is the usual form."""

    def __init__(self, options: StackOptions = StackOptions(), root: Path | None = None) -> None:
        self.options = options
        self.root = Path(root or tempfile.mkdtemp(prefix="ape2e-"))
        # AF_UNIX paths are limited to 108 bytes: keep the socket directory short
        self.sock_dir = Path(tempfile.mkdtemp(prefix="ap-", dir="/tmp"))
        self.data_dir = self.root / "data"
        self.log_dir = self.root / "logs"
        self.procs: dict[str, Proc] = {}
        self.sim_endpoints: dict[str, dict[str, Any]] = {}
        self.database: str | None = None
        self.redis_db: int | None = None
        # the API and the trading node name their Redis keys under this prefix: ours alone, removed at stop
        self.key_prefix = f"ape2e-{uuid.uuid4().hex[:10]}:"
        self._logs: list[IO[bytes]] = []

    # ---- endpoints -------------------------------------------------------------------------
    @property
    def relay_endpoint(self) -> str:
        return f"unix:{self.sock_dir / 'relay.sock'}"

    @property
    def dsn(self) -> str:
        if self.database is None:
            raise StackError("this stack has no database (writer/api disabled)")
        return f"postgresql://postgres@127.0.0.1:5432/{self.database}"

    def database_backends(self) -> list[int]:
        """PIDs of the PostgreSQL server processes serving this stack's database right now."""
        sql = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        out = subprocess.run(
            ["psql", self.dsn, "-Atc", sql], check=True, capture_output=True, text=True, timeout=30
        ).stdout
        return [int(line) for line in out.split()]

    def http(self, name: str) -> str:
        port = self.procs[name].port
        return f"http://127.0.0.1:{port}"

    def bridge_names(self) -> list[str]:
        """The bridge processes' names, in the order the options start them."""
        if not self.options.bridge:
            return []
        return ["bridge", *(f"bridge:{i}" for i in range(2, self.options.bridges + 1))]

    @property
    def bridge_url(self) -> str:
        return f"ws://127.0.0.1:{self.procs['bridge'].port}/ws"

    @property
    def api_url(self) -> str:
        return self.http("api")

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:6379/{self.redis_db}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALPHAPULSE_")}
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO / "services"), str(REPO / "operator")])
        env["ALPHAPULSE_SOCK_DIR"] = str(self.sock_dir)
        env["ALPHAPULSE_DATA_DIR"] = str(self.data_dir)
        env["ALPHAPULSE_BRIDGE_SECRET"] = BRIDGE_SECRET
        env["ALPHAPULSE_SESSION_SECRET"] = SESSION_SECRET
        if self.database is not None:
            env["DATABASE_URL"] = self.dsn
        if self.redis_db is not None:
            env["REDIS_URL"] = self.redis_url
            env["ALPHAPULSE_KEY_PREFIX"] = self.key_prefix
        if "bridge" in self.procs:
            env["ALPHAPULSE_BRIDGE_URL"] = self.bridge_url
        env.update(self.options.extra_env)
        return env

    # ---- lifecycle -------------------------------------------------------------------------
    def spawn(self, name: str, *args: str, port: int | None = None) -> Proc:
        """Start ``python -m alphapulse ARGS`` as process ``name`` (its output in ``logs/<name>.log``)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name.replace(':', '_')}.log"
        out = log.open("ab")
        self._logs.append(out)
        argv = [sys.executable, "-m", "alphapulse", "--log-level", self.options.log_level, *args]
        if name in self.options.busy_poll:
            argv.append("--busy-poll")
        popen = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=self.env(), cwd=self.root)
        proc = Proc(name, popen, log, port)
        self.procs[name] = proc
        return proc

    def _start_sim(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        venues = list(self.options.venues)
        argv = [sys.executable, "-m", "alphapulse", "--log-level", self.options.log_level, "sim"]
        argv += ["--venue", "all" if len(venues) == 3 else venues[0], "--rate", repr(float(self.options.rate))]
        argv += ["--seed", str(self.options.seed), "--host", "127.0.0.1"]
        log = self.log_dir / "sim.log"
        err = log.open("ab")
        self._logs.append(err)
        popen = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, env=self.env(), cwd=self.root)
        self.procs["sim"] = Proc("sim", popen, log)
        assert popen.stdout is not None
        deadline = time.monotonic() + 30
        while len(self.sim_endpoints) < len(venues):
            line = popen.stdout.readline()
            if not line:
                raise StackError(f"simulator exited before announcing its venues:\n{self.procs['sim'].tail()}")
            doc = json.loads(line)
            self.sim_endpoints[doc["venue"]] = doc
            if time.monotonic() > deadline:
                raise StackError("simulator did not announce its venues in 30 s")

    def feed_file(self, venue: str) -> Path:
        sim = self.sim_endpoints[venue]
        spec: dict[str, Any] = {"exchange": venue, "symbols": list(SIM_SYMBOLS[venue]), "url": sim["url"]}
        if sim.get("rest_url"):
            spec["restUrl"] = sim["rest_url"]
        doc = {
            "apiVersion": "alphapulse.io/v1alpha1",
            "kind": "ExchangeFeed",
            "metadata": {"name": f"{venue}-sim"},
            "spec": spec,
        }
        path = self.root / f"feed-{venue}.yaml"
        path.write_text(yaml.safe_dump(doc))
        return path

    def start(self, timeout_s: float = 60.0) -> "Stack":
        try:
            self._start(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout_s: float) -> None:
        o = self.options
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if o.writer or o.api:
            self.database = f"ape2e_{os.getpid()}_{uuid.uuid4().hex[:8]}"
            _psql(f'CREATE DATABASE "{self.database}"')
            subprocess.run(
                [sys.executable, "-m", "alphapulse", "db", "migrate"],
                env=self.env(),
                check=True,
                capture_output=True,
                timeout=120,
            )
        if o.api or o.trade is not None:
            self.redis_db = 0
        self._start_sim()
        if not o.collectors:
            return
        sock = ("--sock-dir", str(self.sock_dir))
        port = free_port()
        self.spawn("relay", "relay", *sock, "--host", "127.0.0.1", "--port", str(port), port=port)
        self.wait_healthy(["relay"], timeout_s)
        for venue in o.venues:
            port = free_port()
            feed = self.feed_file(venue)
            self.spawn(f"collector:{venue}", "collector", "-f", str(feed), *sock, "--port", str(port), port=port)
        relay = ("--relay", self.relay_endpoint)
        if o.writer:
            port = free_port()
            self.spawn("writer", "writer", *relay, "--port", str(port), port=port)
        if o.bridge:
            origins = [a for origin in o.bridge_origins for a in ("--allowed-origin", origin)]
            for name in self.bridge_names():
                port = free_port()
                self.spawn(name, "bridge", *relay, "--port", str(port), *origins, port=port)
        self.wait_healthy([n for n in self.procs if n not in {"sim", "relay"}], timeout_s)
        if o.api:
            port = free_port()
            dist = str(REPO / "frontend" / "dist")
            self.spawn("api", "api", "--port", str(port), "--metrics-port", "0", "--frontend-dir", dist, port=port)
            self.wait_healthy(["api"], timeout_s)
        if o.trade is not None:
            port = free_port()
            self.spawn("trade", "trade", "-f", str(o.trade), *relay, *sock, "--port", str(port), port=port)
            self.wait_healthy(["trade"], timeout_s)

    def wait_healthy(self, names: Sequence[str], timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        pending = [n for n in names if self.procs[n].port is not None]
        while pending:
            for name in list(pending):
                proc = self.procs[name]
                if not proc.alive():
                    raise StackError(f"{name} exited ({proc.popen.returncode}):\n{proc.tail()}")
                if self.healthy(name):
                    pending.remove(name)
            if pending and time.monotonic() > deadline:
                tails = "\n".join(f"--- {n}\n{self.procs[n].tail()}" for n in pending)
                raise StackError(f"not healthy after {timeout_s} s: {pending}\n{tails}")
            if pending:
                time.sleep(0.1)

    def healthy(self, name: str) -> bool:
        try:
            with urllib.request.urlopen(self.http(name) + "/healthz", timeout=2) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM everything, latest first; SIGKILL what ignores it; drop the database."""
        for proc in reversed(list(self.procs.values())):
            if proc.alive():
                proc.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for proc in reversed(list(self.procs.values())):
            try:
                proc.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait(5)
            if proc.popen.stdout is not None:
                proc.popen.stdout.close()
        for f in self._logs:
            f.close()
        self._logs.clear()
        if self.database is not None:
            with contextlib.suppress(subprocess.SubprocessError):
                _psql(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            self.database = None
        if self.redis_db is not None:
            self._drop_redis_keys()
        shutil.rmtree(self.sock_dir, ignore_errors=True)

    def _drop_redis_keys(self) -> None:
        import redis

        client = redis.Redis.from_url(self.redis_url)
        try:
            keys = list(client.scan_iter(match=self.key_prefix + "*", count=1000))
            if keys:
                client.delete(*keys)
        except redis.RedisError:
            pass
        finally:
            client.close()

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{p.tail()}" for name, p in self.procs.items())


@contextlib.contextmanager
def running_stack(options: StackOptions = StackOptions(), root: Path | None = None) -> Iterator[Stack]:
    stack = Stack(options, root).start()
    try:
        yield stack
    finally:
        stack.stop()
