"""The pipeline as real processes, fed by in-process venue simulators, with a database behind a proxy.

```
sim (binance, kraken; in this process, so faults are injected directly)
  -> collector-binance, collector-kraken -> relay -> writer --TcpProxy--> PostgreSQL (own database)
                                                   -> bridge -> observer (a browser-like client)
                                                   -> trading node (only when asked: NautilusTrader, paper
                                                      execution, orders in and events out through Redis)
```
"""

import asyncio
import contextlib
import os
import secrets
import socket
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import redis.asyncio as aioredis
import redis.exceptions
import yaml

from alphapulse.chaos.audit import GapRow, TradeRow
from alphapulse.chaos.observer import BridgeObserver
from alphapulse.chaos.procs import ServiceProcess, child_env
from alphapulse.chaos.proxy import TcpProxy
from alphapulse.protocol import symbol_id
from alphapulse.sim import VenueSimulator, simulator
from alphapulse.store.migrate import migrate
from alphapulse.tokens import issue_token

__all__ = ("ChaosStack", "StackOptions", "free_port")

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
_SYMBOLS = {"binance": ("BTC-USDT", "ETH-USDT"), "kraken": ("BTC-USD", "ETH-USD")}


@dataclass(frozen=True, slots=True)
class StackOptions:
    rate: float = 300.0  # market events per second per venue
    venues: tuple[str, ...] = ("binance", "kraken")
    admin_dsn: str = field(default_factory=lambda: os.environ.get("ALPHAPULSE_TEST_PG", DEFAULT_PG))
    slow_client_timeout_s: float = 3.0
    bridge: bool = True
    writer: bool = True
    api: bool = False  # the Litestar API, its Redis behind a second proxy (the order path's store)
    trading: bool = False  # the paper trading node (a NautilusTrader start-up: only the scenarios that need it)
    redis_host: str = "127.0.0.1"
    redis_port: int = 6379
    replay_ring_mib: int = 64  # each collector's replay ring (RESUME), as in production


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _feed_yaml(venue: str, sim: VenueSimulator[Any]) -> str:
    symbols = ", ".join(_SYMBOLS[venue])
    rest = f"\n  restUrl: {sim.rest_url}" if sim.rest_url else ""
    return (
        "apiVersion: alphapulse.io/v1alpha1\nkind: ExchangeFeed\n"
        f"metadata: {{name: chaos-{venue}}}\n"
        f"spec:\n  exchange: {venue}\n  symbols: [{symbols}]\n  channels: [trades, quotes, book]\n"
        f"  depth: 10\n  url: {sim.ws_url}{rest}\n"
    )


class ChaosStack:
    def __init__(
        self, options: StackOptions | None = None, work_dir: Path | None = None, *, light_clients: bool = False
    ) -> None:
        self.options = options or StackOptions()
        self.light_clients = light_clients
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if work_dir is None:
            # short path: Unix socket paths are limited to 108 bytes
            self._tmp = tempfile.TemporaryDirectory(prefix="ap-chaos-", dir="/tmp")
            work_dir = Path(self._tmp.name)
        self.dir = work_dir
        self.sock_dir = work_dir / "run"
        self.sims: dict[str, VenueSimulator[Any]] = {}
        self.procs: dict[str, ServiceProcess] = {}
        self.proxy: TcpProxy | None = None
        self.redis_proxy: TcpProxy | None = None
        self.api_port = 0
        self.trading_port = 0
        self.key_prefix = f"apchaos-{uuid.uuid4().hex[:8]}:"
        self.db_name = f"ap_chaos_{uuid.uuid4().hex[:12]}"
        self.database_url = ""
        self.bridge_port = 0
        self.secret = secrets.token_hex(32)
        self.observers: list[BridgeObserver] = []
        self._pool: asyncpg.Pool | None = None
        self.stalled_dropped_after_s: float | None = None  # set by the stall-client scenario
        self.readyz_while_down: list[tuple[int, str]] = []  # set by the redis-outage scenario
        self.trading_orders: dict[str, str] = {}  # role -> order id, set by the kill-trading scenario

    # -- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        self.sock_dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "logs").mkdir(exist_ok=True)
        if self.options.writer:
            await self._create_database()
        for venue in self.options.venues:
            self.sims[venue] = await simulator(venue, rate=self.options.rate, symbols=list(_SYMBOLS[venue])).start()
        env = child_env({"ALPHAPULSE_SOCK_DIR": str(self.sock_dir), "ALPHAPULSE_DATA_DIR": str(self.dir)})
        self._add("relay", ["relay", "--port", "0"], env)
        if self.options.writer:
            assert self.proxy is not None
            via_proxy = self.database_url.replace("127.0.0.1:5432", f"127.0.0.1:{self.proxy.port}")
            self._add(
                "writer",
                ["writer", "--database-url", via_proxy, "--spool-dir", str(self.dir / "spool"), "--port", "0"],
                env,
            )
        if self.options.bridge:
            self.bridge_port = free_port()
            self._add(
                "bridge",
                ["bridge", "--port", str(self.bridge_port), "--slow-client-timeout-s",
                 str(self.options.slow_client_timeout_s)],
                {**env, "ALPHAPULSE_BRIDGE_SECRET": self.secret},
            )  # fmt: skip
        if self.options.api:
            await self._add_api(env)
        for venue, sim in self.sims.items():
            path = self.dir / f"{venue}.yaml"
            path.write_text(_feed_yaml(venue, sim))
            self._add(
                f"collector-{venue}",
                ["collector", "-f", str(path), "--port", "0", "--replay-ring-mib", str(self.options.replay_ring_mib)],
                env,
            )
        await self.procs["relay"].start()
        await self._until((self.sock_dir / "relay.sock").exists, 30, "relay socket")
        for name, proc in self.procs.items():
            if name != "relay" and not name.startswith("collector-"):
                await proc.start()
        for name, proc in self.procs.items():
            if name.startswith("collector-"):
                await proc.start()
        if self.options.api:
            await self._until_async(self.api_ready, 60, "the API ready")
        if self.options.writer:
            await self._until_async(self._trades_from_every_venue, 60, "trades from every venue in the database")
        if self.options.bridge:
            self.observers.append(await self.add_observer(light=self.light_clients))
        if self.options.trading:
            # after the collectors: the node's order gateway watches the instruments known when it starts
            await self._start_trading(env)

    async def add_observer(self, *, read: bool = True, light: bool = False) -> BridgeObserver:
        token = issue_token(self.secret.encode(), "chaos", "viewer", now_s=int(time.time()), ttl_s=24 * 3600)
        obs = BridgeObserver(
            f"ws://127.0.0.1:{self.bridge_port}/ws",
            token,
            {v: list(_SYMBOLS[v]) for v in self.sims},
            read=read,
            light=light,
        )
        await obs.start(timeout_s=60)
        if read:
            venues = set(self.sims)

            def flowing() -> bool:
                return obs.trades_seen > 0 if light else {s.exchange for s in obs.samples} >= venues

            await self._until(flowing, 60, "live trades at a client")
        return obs

    async def stop(self) -> None:
        for obs in self.observers:
            await obs.close()
        for proc in reversed(list(self.procs.values())):
            await proc.stop()
        for sim in self.sims.values():
            await sim.stop()
        if self._pool is not None:
            await self._pool.close()
        if self.proxy is not None:
            await self.proxy.close()
        if self.redis_proxy is not None:
            await self.redis_proxy.close()
        if self.redis_proxy is not None or self.options.trading:
            await self._clean_redis()
        if self.options.writer:
            with contextlib.suppress(Exception):
                admin = await asyncpg.connect(self.options.admin_dsn)
                try:
                    await admin.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
                finally:
                    await admin.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    async def __aenter__(self) -> "ChaosStack":
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- faults ----------------------------------------------------------------------------

    async def kill9(self, name: str) -> None:
        await self.procs[name].kill9()

    async def restart(self, name: str, *, kill: bool = True) -> None:
        if kill:
            await self.procs[name].kill9()
        else:
            await self.procs[name].stop()
        await self.procs[name].start()

    def bridge_metric(self, line_prefix: str) -> float:
        """One sample of the bridge's /metrics (blocking: call it in a thread)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.bridge_port}/metrics", timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(line_prefix + " "):
                    return float(line.rsplit(" ", 1)[1])
        return 0.0

    def bridge_peer_ports(self) -> set[int]:
        """Client ports of the bridge's open TCP connections."""
        pid = self.procs["bridge"].pid
        if pid is None:
            return set()
        conns = psutil.Process(pid).net_connections(kind="tcp")
        return {c.raddr.port for c in conns if c.raddr and c.status == psutil.CONN_ESTABLISHED}

    def trading_metric(self, line_prefix: str) -> float | None:
        """The sum of the trading node's samples starting with ``line_prefix``; None if it does not answer
        (blocking: call it in a thread)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.trading_port}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return None
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_prefix))

    async def trading_quotes(self) -> float:
        """Quotes the (current) trading node has handed to NautilusTrader; 0 while it is not answering."""
        n = await asyncio.to_thread(self.trading_metric, 'alphapulse_trading_frames_total{type="quote"}')
        return n or 0.0

    async def submit_order(self, **fields: str) -> str:
        """Put an order request on the node's stream in the API's format (``alphapulse.api.streams``)."""
        order_id = fields.get("order_id") or str(uuid.uuid4())
        entry = {
            "v": "1", "action": "new", "order_id": order_id, "account": "1", "exchange": "binance",
            "symbol": "BTC-USDT", "side": "buy", "type": "market", "quantity": "0.001", "limit_price": "",
            "time_in_force": "gtc", "user": "chaos", "created_ns": str(time.time_ns()), **fields,
        }  # fmt: skip
        client = aioredis.Redis(host=self.options.redis_host, port=self.options.redis_port)
        try:
            await client.xadd(f"{self.key_prefix}orders", entry)  # type: ignore[arg-type]
        finally:
            await client.aclose()
        return order_id

    async def order_events(self) -> list[dict[str, str]]:
        """Every event the trading node has written on its events stream, oldest first."""
        client = aioredis.Redis(host=self.options.redis_host, port=self.options.redis_port, decode_responses=True)
        try:
            entries = await client.xrange(f"{self.key_prefix}order-events")
        finally:
            await client.aclose()
        return [{str(k): str(v) for k, v in (fields or {}).items()} for _id, fields in entries or ()]

    def rss(self) -> dict[str, int]:
        return {name: rss for name, p in self.procs.items() if (rss := p.rss_bytes()) is not None}

    # -- what happened --------------------------------------------------------------------

    async def freeze(self) -> None:
        """Stop the market (no new trades) so that what remains in flight can land."""
        for sim in self.sims.values():
            sim.rate = 0

    def expected_last(self) -> dict[int, int]:
        """instrument id -> the last trade id each venue produced."""
        out: dict[int, int] = {}
        for venue, sim in self.sims.items():
            assert sim.model is not None
            for i, sym in enumerate(sim.symbols):
                first = 100_000_000 * (i + 1)  # alphapulse.sim.market numbers trades from here
                n = sim.model.stats(i).trades
                if n:
                    out[symbol_id(venue, sym)] = first + n - 1
        return out

    async def db_trades(self) -> list[TradeRow]:
        rows = await self._fetch(
            "SELECT i.exchange, t.instrument_id, t.trade_id, t.ts_recv_ns FROM trades t "
            "JOIN instruments i USING (instrument_id)"
        )
        return [TradeRow(r[0], r[1], r[2], r[3]) for r in rows]

    async def db_gaps(self) -> list[GapRow]:
        rows = await self._fetch("SELECT exchange, reason, detected_ns FROM gaps")
        return [GapRow(r[0], r[1], r[2]) for r in rows]

    async def db_trade_count(self) -> int:
        return int((await self._fetch("SELECT count(*) FROM trades"))[0][0])

    async def db_latest_recv_ns(self) -> dict[str, int]:
        rows = await self._fetch(
            "SELECT i.exchange, max(t.ts_recv_ns) FROM trades t JOIN instruments i USING (instrument_id) GROUP BY 1"
        )
        return {r[0]: int(r[1]) for r in rows}

    async def settle(self, timeout_s: float = 60.0) -> bool:
        """Freeze the market and wait until the database holds every trade the venues produced."""
        await self.freeze()
        await asyncio.sleep(0.5)
        deadline = time.monotonic() + timeout_s
        last, stable_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            expected = self.expected_last()
            rows = await self._fetch("SELECT instrument_id, max(trade_id) FROM trades GROUP BY 1")
            got = {int(r[0]): int(r[1]) for r in rows}
            if all(got.get(k, -1) >= v for k, v in expected.items()):
                return True
            n = await self.db_trade_count()
            if n != last:
                last, stable_since = n, time.monotonic()
            elif time.monotonic() - stable_since > 5.0:
                return False  # nothing more is coming: the tail is lost
            await asyncio.sleep(0.1)
        return False

    async def api_ready(self) -> bool:
        """GET /readyz answers 200 (PostgreSQL and Redis reachable from the API)."""
        return (await self.api_readyz())[0] == 200

    async def api_readyz(self) -> tuple[int, str]:
        """GET /readyz: the status and the body (which check failed); 0 and the error when nothing answered."""
        try:
            return await asyncio.to_thread(self._http_get, f"http://127.0.0.1:{self.api_port}/readyz")
        except OSError as e:
            return 0, repr(e)

    @staticmethod
    def _http_get(url: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(url, timeout=3) as r:
                return int(r.status), r.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            return int(e.code), e.read().decode(errors="replace")

    # -- internals -------------------------------------------------------------------------

    async def _add_api(self, env: dict[str, str]) -> None:
        self.redis_proxy = TcpProxy(self.options.redis_host, self.options.redis_port)
        await self.redis_proxy.start()
        self.api_port = free_port()
        api_env = {
            **env,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_proxy.port}/0",
            "ALPHAPULSE_SESSION_SECRET": secrets.token_hex(32),
            "ALPHAPULSE_BRIDGE_SECRET": self.secret,
            "ALPHAPULSE_KEY_PREFIX": self.key_prefix,
            "ALPHAPULSE_API_ACCESS_LOG": "false",
            "ALPHAPULSE_EQUITY_SNAPSHOT_INTERVAL_S": "0",
        }
        self._add("api", ["api", "--port", str(self.api_port), "--metrics-port", "0"], api_env)

    async def _start_trading(self, env: dict[str, str]) -> None:
        """``alphapulse trade`` with paper execution on the simulated venues and the API's order streams
        (no strategy: the order gateway alone, as examples/paper.yaml), its Redis keys under our prefix."""
        p = self.key_prefix
        spec = {
            "trader_id": "CHAOS-001",
            "log_level": "WARNING",
            "venues": {v.upper(): {} for v in self.sims},  # paper, default balances
            "orders": {
                "enabled": True,
                "redis_url": f"redis://{self.options.redis_host}:{self.options.redis_port}/0",
                "stream": f"{p}orders",
                "events": f"{p}order-events",
                "group": "trading",
                "audit_stream": f"{p}trading-audit",
            },
            "strategies": [],
        }
        path = self.dir / "trading.yaml"
        path.write_text(yaml.safe_dump(spec))
        self.trading_port = free_port()
        self._add("trading", ["trade", "-f", str(path), "--port", str(self.trading_port)], env)
        await self.procs["trading"].start()
        await self._until_async(self._trading_flowing, 120, "quotes at the trading node")
        # the gateway's consumer group starts at the stream's end when it is created: an order put on the
        # stream before that is never read (by design: no surprise backlog). Wait until it exists.
        await self._until_async(self._order_group_exists, 30, "the trading node's order consumer group")

    async def _trading_flowing(self) -> bool:
        return await self.trading_quotes() > 0

    async def _order_group_exists(self) -> bool:
        client = aioredis.Redis(host=self.options.redis_host, port=self.options.redis_port)
        try:
            return bool(await client.xinfo_groups(f"{self.key_prefix}orders"))
        except redis.exceptions.ResponseError:  # no such key yet
            return False
        finally:
            await client.aclose()

    async def _clean_redis(self) -> None:
        client = aioredis.Redis(host=self.options.redis_host, port=self.options.redis_port)
        try:
            keys = [k async for k in client.scan_iter(match=f"{self.key_prefix}*")]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()

    def _add(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.procs[name] = ServiceProcess(name, argv, env, self.dir / "logs")

    async def _create_database(self) -> None:
        admin = await asyncpg.connect(self.options.admin_dsn)
        try:
            await admin.execute(f'CREATE DATABASE "{self.db_name}"')
        finally:
            await admin.close()
        base, _, _ = self.options.admin_dsn.rpartition("/")
        self.database_url = f"{base}/{self.db_name}"
        await migrate(self.database_url)
        host_port = self.database_url.split("@", 1)[1].split("/", 1)[0]
        host, _, port = host_port.partition(":")
        self.proxy = TcpProxy(host, int(port or 5432))
        await self.proxy.start()
        self._pool = await asyncpg.create_pool(self.database_url, min_size=1, max_size=2)

    async def _fetch(self, sql: str) -> list[Any]:
        assert self._pool is not None
        return list(await self._pool.fetch(sql))

    async def _trades_from_every_venue(self) -> bool:
        return set(await self.db_latest_recv_ns()) >= set(self.sims)

    async def _until(self, cond: Any, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not cond():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}; logs in {self.dir / 'logs'}:\n{self._tails()}")
            await asyncio.sleep(0.05)

    async def _until_async(self, cond: Any, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not await cond():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}; logs in {self.dir / 'logs'}:\n{self._tails()}")
            await asyncio.sleep(0.05)

    def _tails(self) -> str:
        return "\n".join(f"--- {n}\n{p.log_tail(1500)}" for n, p in self.procs.items())
