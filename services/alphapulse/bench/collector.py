"""``alphapulse bench collector``: the whole receive path per venue, and cryptofeed 3.0.1 on the same messages.

Per venue, N trade messages (one trade each, built from the venue's fixture session with fresh trade
ids and the venue's exact wire shape) are written by a raw WebSocket server process (pre-framed
bytes, so it is never the bottleneck) to the real collector (``Collector``: websockets client,
parser, frame writer, ``FeedServer``), pinned to one core; a reader process on the feed socket counts
the trade frames and measures receive-to-socket latency (frame arrival minus its ``ts_recv``).
Reported: messages/s (first receive to last frame read), CPU per message (the collector process's
CPU time / N), latency p50/p99/p99.9. The peer, cryptofeed 3.0.1 (AGPL: never a dependency; run
from its own Python 3.13 environment, symbol tables seeded so it starts without the network),
handles the same bytes from the same server through its FeedHandler with a trade callback.
"""

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from alphapulse.bench._peer_env import CRYPTOFEED_PYTHON as PEER_PYTHON
from alphapulse.bench.stats import latency_summary, result

__all__ = ("add_arguments", "run")

VENUES = ("kraken", "coinbase", "binance")
SYMBOLS = {"kraken": "BTC-USD", "coinbase": "BTC-USD", "binance": "BTC-USDT"}
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--messages", type=int, default=200_000, help="trade messages per venue (default 200000)")
    parser.add_argument("--venue", action="append", choices=VENUES, help="only this venue (repeatable)")
    parser.add_argument("--no-peer", action="store_true", help="skip cryptofeed")
    parser.add_argument(
        "--ws-client", choices=("picows", "websockets"), help="the collector's WebSocket client (default: the setting)"
    )
    parser.add_argument("--peer-python", default=str(PEER_PYTHON), help="Python of the cryptofeed environment")
    parser.add_argument(
        "--latency-rate", type=float, default=20_000, help="paced run for latency, messages/s (0: skip; default 20000)"
    )


# -- the messages -----------------------------------------------------------------------------------
def trade_messages(venue: str, n: int) -> list[bytes]:
    """N one-trade messages in the venue's wire shape, trade ids consecutive, prices on the tick."""
    base_ms = 1_772_461_800_000
    out = []
    for i in range(n):
        px = f"{90000 + (i % 200) * 0.5:.1f}"
        qty = f"0.{(i * 7919) % 99999999 + 1:08d}"
        side = "buy" if i % 3 else "sell"
        ms = base_ms + i // 10
        sec, frac = divmod(ms, 1000)
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{frac:03d}{i % 1000:03d}Z"
        if venue == "kraken":
            msg = (
                f'{{"channel":"trade","type":"update","data":[{{"symbol":"BTC/USD","side":"{side}","price":{px},'
                f'"qty":{qty},"ord_type":"market","trade_id":{104950210 + i},"timestamp":"{ts}"}}]}}'
            )
        elif venue == "coinbase":
            msg = (
                f'{{"channel":"market_trades","timestamp":"{ts[:-1]}123Z","sequence_num":{i + 1},"events":[{{"type":'
                f'"update","trades":[{{"trade_id":"{995100000 + i}","product_id":"BTC-USD","price":"{px}",'
                f'"size":"{qty}","side":"{side.upper()}","time":"{ts}"}}]}}]}}'
            )
        else:
            # aggTrade: what cryptofeed subscribes for Binance trades, so both sides get the same messages
            msg = (
                f'{{"stream":"btcusdt@aggTrade","data":{{"e":"aggTrade","E":{ms},"s":"BTCUSDT","a":{6601300000 + i},'
                f'"p":"{px}0000000","q":"{qty}","f":{7701300000 + i},"l":{7701300000 + i},"T":{ms},'
                f'"m":{"true" if side == "sell" else "false"},"M":true}}}}'
            )
        out.append(msg.encode())
    return out


def prelude(venue: str, fixtures: Path | None) -> list[bytes]:
    """What the venue sends before data: Kraken's instrument snapshot and acks; a Coinbase subscriptions ack."""
    if venue == "kraken":
        return [
            b'{"method":"subscribe","req_id":1,"result":{"channel":"instrument","snapshot":true},"success":true}',
            b'{"channel":"instrument","type":"snapshot","data":{"assets":[],"pairs":[{"symbol":"BTC/USD","base":'
            b'"BTC","quote":"USD","status":"online","qty_precision":8,"qty_increment":1e-08,"price_precision":1,'
            b'"price_increment":0.1}]}}',
            b'{"method":"subscribe","req_id":2,"result":{"channel":"trade","snapshot":false,"symbol":"BTC/USD"},'
            b'"success":true}',
        ]
    if venue == "coinbase":
        return [b'{"channel":"subscriptions","timestamp":"2026-03-02T14:30:00.306Z","sequence_num":0,"events":[]}']
    return [b'{"result":null,"id":1}']


def _ws_frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = bytes([0x81, n])
    elif n < 65536:
        head = bytes([0x81, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x81, 127]) + n.to_bytes(8, "big")
    return head + payload


# -- the raw WebSocket server (its own process) ---------------------------------------------------------
def _serve(sock: socket.socket, blob: bytes, rest: dict[str, bytes], ready: Any, rate: float = 0.0) -> None:
    """Accept connections; after the client's first message, write the pre-framed blob in big chunks
    (``rate`` 0: as fast as the client reads), or paced at ``rate`` messages/s in groups of 10."""
    ready.set()
    while True:
        conn, _ = sock.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(65536)
            if not chunk:
                break
            head += chunk
        request = head.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        target = request.split(" ", 2)[1] if " " in request else "/"
        key = next(
            (ln.split(":", 1)[1].strip() for ln in request.split("\r\n") if ln.lower().startswith("sec-websocket-key")),
            None,
        )
        if key is None:  # plain HTTP: REST metadata
            body = rest.get(target.split("?", 1)[0], b"{}")
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                % len(body)
                + body
            )
            conn.close()
            continue
        accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest())
        conn.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "
            + accept
            + b"\r\n\r\n"
        )
        conn.settimeout(1.0)  # the client's subscribe (Binance clients may subscribe in the URL instead)
        with contextlib.suppress(TimeoutError, OSError):
            conn.recv(65536)
        conn.settimeout(None)
        time.sleep(0.3)  # let the reader attach and the client settle
        view = memoryview(blob)
        with contextlib.suppress(OSError):  # a client may leave as soon as it has counted its messages
            if rate:
                _paced(conn, blob, rate)
            else:
                for i in range(0, len(blob), 1 << 20):
                    conn.sendall(view[i : i + (1 << 20)])
            while conn.recv(65536):
                pass
        conn.close()


def _paced(conn: socket.socket, blob: bytes, rate: float) -> None:
    frames, i = [], 0
    while i < len(blob):  # split the pre-framed blob back into frames (server frames: no mask)
        n = blob[i + 1] & 0x7F
        head = 2 + (2 if n == 126 else 8 if n == 127 else 0)
        if n == 126:
            n = int.from_bytes(blob[i + 2 : i + 4], "big")
        elif n == 127:
            n = int.from_bytes(blob[i + 2 : i + 10], "big")
        frames.append(blob[i : i + head + n])
        i += head + n
    start = time.perf_counter()
    for k in range(0, len(frames), 10):
        ahead = start + k / rate - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)
        conn.sendall(b"".join(frames[k : k + 10]))


def _start_server(blob: bytes, rest: dict[str, bytes], rate: float = 0.0) -> tuple[Any, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port: int = sock.getsockname()[1]
    ctx = mp.get_context("fork")
    ready = ctx.Event()
    proc = ctx.Process(target=_serve, args=(sock, blob, rest, ready, rate), daemon=True)
    proc.start()
    sock.close()
    ready.wait(10)
    return proc, port


# -- our collector (its own process, one core) -----------------------------------------------------------
def _reader(path: str, expect: int, out: Connection) -> None:
    """Count trade frames on the feed socket; latency = arrival - ts_recv (in bulk, per chunk)."""

    async def main() -> None:
        reader: asyncio.StreamReader | None = None
        for _ in range(500):
            # the path exists from bind(), before listen(): a refused connect means "not yet"
            try:
                reader, _w = await asyncio.open_unix_connection(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                await asyncio.sleep(0.01)
        if reader is None:
            reader, _w = await asyncio.open_unix_connection(path)  # raises why it cannot
        out.send("ready")
        got, lat, rest, first, last = 0, [], b"", 0, 0
        while got < expect:
            data = await reader.read(1 << 20)
            if not data:
                break
            now = time.time_ns()
            data = rest + data
            cut = len(data) - len(data) % 48
            rest = data[cut:]
            cells = np.frombuffer(data[:cut], dtype=np.uint8).reshape(-1, 48)
            trades = cells[cells[:, 1] == 1]
            if len(trades):
                ts = trades[:, 24:32].copy().view("<i8").ravel()
                first = first or int(ts[0])
                last = now
                lat.append(now - ts)
                got += len(trades)
        out.send((got, first, last, np.concatenate(lat) if lat else np.zeros(0, dtype=np.int64)))

    asyncio.run(main())


def _collector_proc(
    venue: str, url: str, rest_url: str, sock_dir: str, n: int, out: Connection, ws_client: str | None = None
) -> None:
    os.sched_setaffinity(0, {0})
    import uvloop

    from alphapulse.collectors.connection import ConnectionSettings
    from alphapulse.collectors.service import Collector
    from alphapulse.feeds import ExchangeFeed

    feed = ExchangeFeed(f"bench-{venue}", venue, (SYMBOLS[venue],), ("trades",), url=url, rest_url=rest_url)
    settings = ConnectionSettings(
        idle_timeout_s=None, subscribe_interval_s=0.0, ping_interval_s=None, ws_client=ws_client
    )
    collector = Collector(feed, Path(sock_dir), settings=settings, agg_trades=venue == "binance")

    async def main() -> None:
        task = asyncio.create_task(collector.run())
        cpu0: float | None = None
        t0, k0 = 0.0, 0
        while collector.writer.trades < n and not task.done():
            await asyncio.sleep(0.005)
            if cpu0 is None and collector.writer.trades:
                cpu0, t0, k0 = time.process_time(), time.perf_counter(), collector.writer.trades
        cpu1, t1, k1 = time.process_time(), time.perf_counter(), collector.writer.trades
        await asyncio.sleep(0.2)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert cpu0 is not None
        out.send(
            {"cpu_s": cpu1 - cpu0, "wall_s": t1 - t0, "trades": k1 - k0, "errors": dict(collector.parser.stats.errors)}
        )

    uvloop.run(main())


def _rest_for(venue: str) -> dict[str, bytes]:
    if venue == "coinbase":
        return {
            "/api/v3/brokerage/market/products": json.dumps(
                {
                    "products": [
                        {
                            "product_id": "BTC-USD",
                            "quote_increment": "0.01",
                            "base_increment": "0.00000001",
                            "price_increment": "0.01",
                        }
                    ]
                }
            ).encode()
        }
    if venue == "binance":
        return {
            "/api/v3/exchangeInfo": json.dumps(
                {
                    "symbols": [
                        {
                            "symbol": "BTCUSDT",
                            "filters": [
                                {"filterType": "PRICE_FILTER", "tickSize": "0.01000000"},
                                {"filterType": "LOT_SIZE", "stepSize": "0.00000001"},
                            ],
                        }
                    ]
                }
            ).encode()
        }
    return {}


def _run_ours(venue: str, n: int, rate: float = 0.0, ws_client: str | None = None) -> dict[str, Any]:
    from alphapulse.collectors.transport import resolve_client

    client = resolve_client(ws_client)
    blob = b"".join(_ws_frame(m) for m in prelude(venue, None) + trade_messages(venue, n))
    server, port = _start_server(blob, _rest_for(venue), rate)
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="apb-", dir="/tmp") as d:
        path = f"{d}/feeds/bench-{venue}.sock"
        r_out, r_in = ctx.Pipe(duplex=False)
        c_out, c_in = ctx.Pipe(duplex=False)
        url = f"ws://127.0.0.1:{port}/" + {"kraken": "v2", "coinbase": "", "binance": "stream"}[venue]
        collector = ctx.Process(
            target=_collector_proc, args=(venue, url, f"http://127.0.0.1:{port}", d, n, c_in, client)
        )
        collector.start()
        reader = ctx.Process(target=_reader, args=(path, n, r_in))
        reader.start()
        r_out.recv()
        stats = c_out.recv()
        got, _first, _last, lat = r_out.recv()
        for p in (collector, reader):
            p.join(10)
    server.kill()
    per_msg_us = stats["cpu_s"] / max(1, stats["trades"]) * 1e6
    if rate:
        return result(
            "alphapulse",
            stats["trades"] / stats["wall_s"],
            latency_summary(lat),
            venue=venue,
            scenario=f"paced {rate:,.0f} msg/s (latency)",
            ws_client=client,
            cpu_us_per_msg=round(per_msg_us, 2),
            messages=n,
        )
    return result(
        "alphapulse",
        stats["trades"] / stats["wall_s"],
        latency_summary(lat),
        venue=venue,
        cpu_us_per_msg=round(per_msg_us, 2),
        ws_client=client,
        messages=n,
        frames_read=got,
        parse_errors=stats["errors"],
    )


# -- the peer -------------------------------------------------------------------------------------------
PEER_SCRIPT = Path(__file__).with_name("_cryptofeed_peer.py")


def _run_peer(venue: str, n: int, python: str) -> dict[str, Any]:
    # cryptofeed subscribes to Binance in the URL, so no SUBSCRIBE ack (which its handler cannot parse)
    first = [] if venue == "binance" else prelude(venue, None)
    blob = b"".join(_ws_frame(m) for m in first + trade_messages(venue, n))
    server, port = _start_server(blob, _rest_for(venue))
    try:
        proc = subprocess.run(
            [python, str(PEER_SCRIPT), venue, str(port), str(n)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            env={**os.environ, "PYTHONPATH": "", "XDG_CACHE_HOME": tempfile.mkdtemp(prefix="cf-cache-")},
        )
    finally:
        server.kill()
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"system": "cryptofeed-3.0.1", "venue": venue, "error": proc.stderr[-600:]}
    doc = json.loads(lines[-1])
    return result(
        "cryptofeed-3.0.1",
        doc["trades"] / doc["wall_s"],
        {"p50": float("nan"), "p99": float("nan"), "p999": float("nan")},
        venue=venue,
        cpu_us_per_msg=round(doc["cpu_s"] / max(1, doc["trades"]) * 1e6, 2),
        messages=n,
        trades=doc["trades"],
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    venues = args.venue or list(VENUES)
    results: list[dict[str, Any]] = []
    notes = [
        "collector pinned to one core; server and reader on the other; no TLS (local WebSocket)",
        "cryptofeed measured with a trade callback only (no frame encoding, no socket): its own FeedHandler",
        "throughput runs blast messages (latency there is queueing); the paced runs measure receive-to-socket latency",
    ]
    for venue in venues:
        results.append(_run_ours(venue, args.messages, ws_client=args.ws_client))
    if args.latency_rate:
        for venue in venues:
            results.append(_run_ours(venue, max(10_000, args.messages // 5), args.latency_rate, args.ws_client))
    if not args.no_peer:
        if not Path(args.peer_python).exists():
            notes.append(
                f"cryptofeed not run: {args.peer_python} missing (python3.13 -m venv; pip install cryptofeed==3.0.1)"
            )
        else:
            for venue in venues:
                results.append(_run_peer(venue, args.messages, args.peer_python))
    ours = {r["venue"]: r for r in results if r["system"] == "alphapulse" and "scenario" not in r}
    for r in results:
        if r["system"] != "alphapulse" and "throughput_per_s" in r and r["venue"] in ours:
            mine = ours[r["venue"]]
            mine["speedup_vs_cryptofeed"] = round(mine["throughput_per_s"] / max(1, r["throughput_per_s"]), 2)
            mine["cpu_ratio_vs_cryptofeed"] = round(r["cpu_us_per_msg"] / max(1e-9, mine["cpu_us_per_msg"]), 2)
    return {"bench": "collector", "results": results, "notes": notes}


if __name__ == "__main__":  # pragma: no cover - `alphapulse bench collector` is the entry point
    ap = argparse.ArgumentParser()
    add_arguments(ap)
    print(json.dumps(run(ap.parse_args()), indent=1))
    sys.exit(0)
