"""Generator throughput: how many venue messages per second the simulator puts on the wire.

All three venues run in this process's event loop at the requested total event rate; one
client per venue subscribes to every channel of every symbol and drains the socket from a
thread (raw ``recv``, no parsing: the bench measures the simulator, not a client). The count is
the simulator's own number of frames written.

    PYTHONPATH=services python -m alphapulse.sim.bench --seconds 5 --rate 1000000 [--processes]
"""

import argparse
import asyncio
import concurrent.futures
import multiprocessing
import socket
import time
from typing import Any

import orjson
import uvloop

from alphapulse.bench._wsclient import masked_text, upgrade_request
from alphapulse.sim import simulator
from alphapulse.sim.server import VenueSimulator

__all__ = ("run_bench",)


def _subscriptions(venue: str, sim: VenueSimulator[Any]) -> tuple[str, list[str]]:
    if venue == "kraken":
        syms = [s.replace("-", "/") for s in sim.symbols]
        msgs = [
            {"method": "subscribe", "params": {"channel": c, "symbol": syms}, "req_id": k}
            for k, c in enumerate(("trade", "ticker", "book"))
        ]
        return sim.ws_url, [orjson.dumps(m).decode() for m in msgs]
    if venue == "coinbase":
        msgs = [
            {"type": "subscribe", "product_ids": list(sim.symbols), "channel": c}
            for c in ("heartbeats", "market_trades", "ticker", "level2")
        ]
        return sim.ws_url, [orjson.dumps(m).decode() for m in msgs]
    streams = [
        f"{s.replace('-', '').lower()}@{kind}"
        for s in sim.symbols
        for kind in ("trade", "aggTrade", "bookTicker", "depth@100ms")
    ]
    return f"{sim.ws_url}?streams={'/'.join(streams)}", []


def _drain(url: str, requests: list[str], seconds: float) -> int:
    """A raw WebSocket client in its own process: handshake, subscribe, then read and count bytes."""
    rest = url.removeprefix("ws://")
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(upgrade_request(hostport, f"/{path}"))
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(4096)
    for r in requests:
        sock.sendall(masked_text(r.encode()))
    sock.settimeout(0.2)
    n = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(1 << 20)
        except TimeoutError:
            continue
        if not chunk:
            break
        n += len(chunk)
    sock.close()
    return n


VENUES = ("kraken", "coinbase", "binance")


async def run_bench(
    seconds: float = 3.0,
    rate: float = 1_000_000.0,
    venues: tuple[str, ...] = VENUES,
    *,
    processes: bool = False,
) -> dict[str, Any]:
    """Run ``venues`` at ``rate`` events/s in total for ``seconds``; report messages/s and CPU.

    With ``processes`` every venue runs in its own process (as ``alphapulse sim --processes``
    does), so the venues use every core there is.
    """
    if processes:
        return await _run_in_processes(seconds, rate, venues)
    sims = [simulator(v, rate=rate / len(venues)) for v in venues]
    for s in sims:
        await s.start()
    loop = asyncio.get_running_loop()
    pool = concurrent.futures.ProcessPoolExecutor(len(sims), mp_context=multiprocessing.get_context("spawn"))
    drains = []
    try:
        for s in sims:
            url, reqs = _subscriptions(s.venue, s)
            drains.append(loop.run_in_executor(pool, _drain, url, reqs, seconds + 2.0))
        for s in sims:
            await s.wait_for_connections(1)
        await asyncio.sleep(0.5)  # subscriptions settle
        m0 = [s.messages_sent for s in sims]
        e0 = [s.stats.events_generated for s in sims]
        t0 = time.perf_counter()
        c0 = time.process_time()
        await asyncio.sleep(seconds)
        cpu = time.process_time() - c0
        elapsed = time.perf_counter() - t0
        m1 = [s.messages_sent for s in sims]
        e1 = [s.stats.events_generated for s in sims]
        counts = await asyncio.gather(*drains)
    finally:
        for s in sims:
            await s.stop()
        pool.shutdown(wait=True, cancel_futures=True)
    per_venue = [
        {
            "venue": s.venue,
            "messages_per_s": round((b - a) / elapsed),
            "events_per_s": round((eb - ea) / elapsed),
        }
        for s, a, b, ea, eb in zip(sims, m0, m1, e0, e1, strict=True)
    ]
    total = sum(b - a for a, b in zip(m0, m1, strict=True))
    return _summary(
        rate=rate,
        elapsed=elapsed,
        total=total,
        cpu=cpu,
        received=sum(counts),
        per_venue=per_venue,
        processes=1,
    )


def _summary(
    *,
    rate: float,
    elapsed: float,
    total: int,
    cpu: float,
    received: int,
    per_venue: list[dict[str, Any]],
    processes: int,
) -> dict[str, Any]:
    return {
        "bench": "sim-generator",
        "processes": processes,
        "seconds": round(elapsed, 3),
        "rate_events_per_s": rate,
        "messages_per_s": round(total / elapsed),
        # CPU of the simulator process(es) only (the drains run elsewhere): the rate free cores give
        "cpu_s": round(cpu, 3),
        "cpu_ns_per_message": round(cpu / total * 1e9) if total else None,
        "messages_per_cpu_s": round(total / cpu) if cpu else None,
        "bytes_received": received,
        "venues": per_venue,
    }


def _bench_worker(venue: str, seconds: float, rate: float) -> dict[str, Any]:
    result: dict[str, Any] = uvloop.run(run_bench(seconds, rate, (venue,)))
    return result


async def _run_in_processes(seconds: float, rate: float, venues: tuple[str, ...]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(len(venues), mp_context=ctx) as pool:
        parts = await asyncio.gather(
            *(loop.run_in_executor(pool, _bench_worker, v, seconds, rate / len(venues)) for v in venues)
        )
    elapsed = max(p["seconds"] for p in parts)
    total = sum(p["messages_per_s"] * p["seconds"] for p in parts)
    per_venue = [{**p["venues"][0], "cpu_ns_per_message": p["cpu_ns_per_message"]} for p in parts]
    return _summary(
        rate=rate,
        elapsed=elapsed,
        total=round(total),
        cpu=sum(p["cpu_s"] for p in parts),
        received=sum(p["bytes_received"] for p in parts),
        per_venue=per_venue,
        processes=len(venues),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rate", type=float, default=1_000_000.0)
    ap.add_argument("--venues", default=",".join(VENUES), help="comma-separated (default: all three)")
    ap.add_argument("--processes", action="store_true", help="one process per venue")
    ap.add_argument("--no-uvloop", action="store_true")
    a = ap.parse_args()
    venues = tuple(v for v in a.venues.split(",") if v)
    bench = run_bench(a.seconds, a.rate, venues, processes=a.processes)
    result = asyncio.run(bench) if a.no_uvloop else uvloop.run(bench)
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
