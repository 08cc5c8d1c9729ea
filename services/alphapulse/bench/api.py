"""``alphapulse bench api``: requests/s and latency of the API's hot reads, on a seeded database.

What runs: a fresh database on ``DATABASE_URL``'s server, migrated and seeded server-side with
``--trades`` trades (default 3 million, spread over three instruments and the last ``--days``),
quotes, and a user; the API as its own process (``alphapulse api``, access log off, uvloop); a load
generator in this process (aiohttp, one connection pool).

Two measurements per scenario:

* **open loop at ``--rate``** requests/s for ``--seconds``: each request is sent at its scheduled
  time whatever happened to the previous ones, and latency is measured from the *scheduled* time,
  so a stall shows up in the percentiles instead of silently lowering the rate (no coordinated
  omission). This is the number the target speaks of (p99 under 50 ms at 500 requests/s).
* **closed loop, ``--concurrency`` clients**: the most requests/s the API sustains.

Scenarios: ``latest_quotes`` (``GET /api/quotes/latest``); ``candles`` (``GET /api/candles``, the
last 500 one-minute candles: the dashboard's chart request, Redis-cached for two seconds);
``candles_history`` (random 500-minute windows of the last day: cache misses at first, closed
windows stay cached for an hour); ``candles_scroll`` (one client, a new window on every request,
as when scrolling back through history: each page is assembled from hour-long candle chunks,
computed by PostgreSQL the first time a chunk is needed and cached after).
"""

import argparse
import asyncio
import os
import random
import re
import secrets
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from alphapulse.bench.stats import latency_summary, result

__all__ = ("add_arguments", "run")

_PASSWORD = secrets.token_urlsafe(18)
_background: set["asyncio.Task[None]"] = set()
_SEED_INSTRUMENTS = (
    (9_000_001, "binance", "BTC-USDT", 2, 5, 64_000),
    (9_000_002, "binance", "ETH-USDT", 2, 4, 3_000),
    (9_000_003, "kraken", "BTC-USDT", 1, 8, 64_010),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trades", type=int, default=3_000_000, help="trades seeded into the database")
    parser.add_argument("--days", type=float, default=2.0, help="the trades span this many days up to now")
    parser.add_argument("--rate", type=int, default=500, help="open-loop requests/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each phase")
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop clients")
    parser.add_argument(
        "--scenarios",
        default="latest_quotes,candles,candles_scroll",
        help="comma-separated subset of latest_quotes, candles, candles_history, candles_scroll",
    )


@dataclass
class _Phase:
    latencies_ns: list[int]
    errors: int
    elapsed_s: float


def _admin_dsn(dsn: str) -> tuple[str, str]:
    """(DSN of the server's ``postgres`` database, DSN of a new bench database)."""
    base, _, _ = dsn.rpartition("/")
    name = f"ap_bench_api_{uuid.uuid4().hex[:8]}"
    return f"{base}/postgres", f"{base}/{name}"


async def _prepare(dsn: str, trades: int, days: float) -> None:
    import asyncpg

    from alphapulse.store.migrate import migrate

    await migrate(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.executemany(
            "INSERT INTO instruments (instrument_id, exchange, symbol, price_scale, qty_scale) "
            "VALUES ($1, $2, $3, $4, $5)",
            [row[:5] for row in _SEED_INSTRUMENTS],
        )
        per = trades // len(_SEED_INSTRUMENTS)
        span_us = int(days * 86_400 * 1_000_000)
        for iid, _, _, _, _, base in _SEED_INSTRUMENTS:
            # Server-side generation: a few million rows in seconds, no round trips.
            await conn.execute(
                """
                INSERT INTO trades (time, instrument_id, trade_id, side, price, qty, seq, ts_exchange_ns, ts_recv_ns)
                SELECT t, $1, g, CASE WHEN g % 2 = 0 THEN 'buy' ELSE 'sell' END,
                       round(($2 + 50 * sin(g / 5000.0) + (g % 17) * 0.5)::numeric, 2),
                       round((0.001 + (g % 100) * 0.0007)::numeric, 5), g,
                       (extract(epoch FROM t) * 1e9)::bigint, (extract(epoch FROM t) * 1e9)::bigint + 2000000
                FROM generate_series(1, $3::bigint) AS g,
                     LATERAL (SELECT now() - (($3 - g) * $4 / $3) * interval '1 microsecond' AS t) AS ts
                """,
                iid,
                base,
                per,
                span_us,
            )
            await conn.execute(
                """
                INSERT INTO quotes (time, instrument_id, bid_price, bid_qty, ask_price, ask_qty, seq,
                                    ts_exchange_ns, ts_recv_ns)
                SELECT t, $1, $2 - 0.5, 1.5, $2 + 0.5, 2.5, g, (extract(epoch FROM t) * 1e9)::bigint,
                       (extract(epoch FROM t) * 1e9)::bigint + 1000000
                FROM generate_series(1, 20000) AS g,
                     LATERAL (SELECT now() - (20000 - g) * interval '10 milliseconds' AS t) AS ts
                """,
                iid,
                base,
            )
        await conn.execute("ANALYZE")
        from alphapulse.api.passwords import PasswordHasher

        await conn.execute(
            "INSERT INTO users (username, password_hash, role) VALUES ('bench', $1, 'viewer')",
            PasswordHasher().hash(_PASSWORD),
        )
    finally:
        await conn.close()


async def _start_api(dsn: str, prefix: str) -> tuple[asyncio.subprocess.Process, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=dsn,
        ALPHAPULSE_SESSION_SECRET=secrets.token_urlsafe(48),
        ALPHAPULSE_BRIDGE_SECRET=secrets.token_urlsafe(48),
        ALPHAPULSE_KEY_PREFIX=prefix,
        ALPHAPULSE_COOKIE_SECURE="false",
        ALPHAPULSE_API_ACCESS_LOG="false",
        ALPHAPULSE_EQUITY_SNAPSHOT_INTERVAL_S="0",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "alphapulse",
        "api",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--metrics-port",
        "0",
        "--no-order-events",
        env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    stderr = proc.stderr
    assert stderr is not None
    # The access log is off, so after start-up the API logs little; uvicorn's start-up line names the port.
    async with asyncio.timeout(60):
        while True:
            line = (await stderr.readline()).decode()
            if not line:
                raise RuntimeError("the API exited during start-up")
            if m := re.search(r"running on http://127\.0\.0\.1:(\d+)", line):
                break

    async def drain() -> None:  # keep the pipe from filling and blocking the server
        while await stderr.readline():
            pass

    _background.add(asyncio.create_task(drain(), name="bench.api.stderr"))
    return proc, f"http://127.0.0.1:{m.group(1)}"


async def _open_loop(session: Any, url_for: Any, rate: int, seconds: float) -> _Phase:
    n = int(rate * seconds)
    latencies = np.zeros(n, dtype=np.int64)
    errors = 0
    start = time.perf_counter_ns() + 50_000_000
    interval_ns = 1_000_000_000 // rate

    async def one(i: int) -> None:
        nonlocal errors
        scheduled = start + i * interval_ns
        try:
            async with session.get(url_for(i)) as resp:
                await resp.read()
                if resp.status != 200:
                    errors += 1
        except Exception:  # a failed request is counted, the run goes on
            errors += 1
        latencies[i] = time.perf_counter_ns() - scheduled

    tasks = []
    for i in range(n):
        delay_s = (start + i * interval_ns - time.perf_counter_ns()) / 1e9
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        tasks.append(asyncio.create_task(one(i), name=f"bench.api.request-{i}"))
    await asyncio.gather(*tasks)
    return _Phase(latencies.tolist(), errors, (time.perf_counter_ns() - start) / 1e9)


async def _closed_loop(session: Any, url_for: Any, concurrency: int, seconds: float) -> _Phase:
    latencies: list[int] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    counter = 0

    async def client() -> None:
        nonlocal errors, counter
        while time.perf_counter() < deadline:
            counter += 1
            t0 = time.perf_counter_ns()
            try:
                async with session.get(url_for(counter)) as resp:
                    await resp.read()
                    if resp.status != 200:
                        errors += 1
            except Exception:  # counted, as in the open loop
                errors += 1
            latencies.append(time.perf_counter_ns() - t0)

    t_start = time.perf_counter()
    await asyncio.gather(*(asyncio.create_task(client(), name=f"bench.api.client-{c}") for c in range(concurrency)))
    return _Phase(latencies, errors, time.perf_counter() - t_start)


def _scenarios(base_url: str, now_s: int) -> dict[str, Any]:
    rng = random.Random(7)
    day_minutes = 24 * 60

    candles = f"{base_url}/api/candles?exchange=binance&symbol=BTC-USDT&interval=1m&limit=500"

    def window(start_s: int) -> str:
        return f"{candles}&start={datetime.fromtimestamp(start_s, tz=UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"

    def history(_: int) -> str:
        # a random 500-minute window of the last day: misses until the day's windows are cached
        return window(now_s - rng.randrange(500, day_minutes) * 60)

    def scroll(i: int) -> str:
        # never the same page twice (shifted 7 s per request); its hour-long chunks are shared
        return window(now_s - 2 * day_minutes * 60 + 7 * i)

    return {
        "latest_quotes": lambda _: f"{base_url}/api/quotes/latest",
        "candles": lambda _: candles,
        "candles_history": history,
        "candles_scroll": scroll,
    }


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp
    import asyncpg
    import redis.asyncio as aioredis

    from alphapulse.settings import env

    dsn = env("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/alphapulse"
    admin_dsn, bench_dsn = _admin_dsn(dsn)
    bench_db = bench_dsn.rpartition("/")[2]
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{bench_db}"')
    proc = None
    notes: list[str] = []
    results: list[dict[str, Any]] = []
    try:
        t0 = time.perf_counter()
        await _prepare(bench_dsn, args.trades, args.days)
        notes.append(f"seeded {args.trades:,} trades in {time.perf_counter() - t0:.0f} s")
        proc, base_url = await _start_api(bench_dsn, prefix)
        connector = aiohttp.TCPConnector(limit=max(64, args.concurrency), force_close=False)
        # unsafe=True: aiohttp's cookie jar otherwise ignores cookies set by an IP-address host
        async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            async with session.post(
                f"{base_url}/api/auth/login", json={"username": "bench", "password": _PASSWORD}
            ) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"bench login failed: {resp.status} {await resp.text()}")
            urls = _scenarios(base_url, int(time.time()))
            wanted = [s.strip() for s in args.scenarios.split(",") if s.strip()]
            for name in wanted:
                url_for = urls[name]
                if name == "candles_scroll":  # sequential: the cost of a new page, no rate to keep up with
                    phase = await _closed_loop(session, url_for, 1, args.seconds)
                    results.append(
                        result(
                            "alphapulse",
                            len(phase.latencies_ns) / phase.elapsed_s,
                            latency_summary(phase.latencies_ns),
                            scenario=name,
                            mode="closed-loop x1",
                            errors=phase.errors,
                        )
                    )
                    continue
                for _ in range(50):  # warm connections, caches and the plan cache
                    async with session.get(url_for(0)) as resp:
                        await resp.read()
                        if resp.status != 200:
                            raise RuntimeError(f"{name}: {resp.status} {await resp.text()}")
                phase = await _open_loop(session, url_for, args.rate, args.seconds)
                results.append(
                    result(
                        "alphapulse",
                        len(phase.latencies_ns) / phase.elapsed_s,
                        latency_summary(phase.latencies_ns),
                        scenario=f"{name}@{args.rate}rps",
                        mode="open-loop",
                        errors=phase.errors,
                    )
                )
                phase = await _closed_loop(session, url_for, args.concurrency, args.seconds)
                results.append(
                    result(
                        "alphapulse",
                        len(phase.latencies_ns) / phase.elapsed_s,
                        latency_summary(phase.latencies_ns),
                        scenario=f"{name}@max",
                        mode=f"closed-loop x{args.concurrency}",
                        errors=phase.errors,
                    )
                )
    finally:
        if proc is not None and proc.returncode is None:
            proc.terminate()
            await proc.wait()
        await admin.execute(f'DROP DATABASE IF EXISTS "{bench_db}" WITH (FORCE)')
        await admin.close()
        r = aioredis.from_url(env("REDIS_URL") or "redis://127.0.0.1:6379/0")
        keys = [k async for k in r.scan_iter(match=f"{prefix}*")]
        if keys:
            await r.delete(*keys)
        await r.aclose()
    notes.append("no peer system: the API's latency is compared against the target (p99 < 50 ms at 500 req/s)")
    notes.append(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    return {"bench": "api", "results": results, "notes": notes, "trades": args.trades, "rate": args.rate}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark (see the module docstring); returns the DESIGN.md report shape."""
    import uvloop

    return uvloop.run(_main(args))
