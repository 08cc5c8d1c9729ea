"""The whole pipeline as real processes: simulator -> collectors -> relay -> {writer, bridge}.

What a consumer of the relay saw (``alphapulse tap``, the user's own debugging tool) is the
reference: the database must hold exactly those trades, once each, and a browser client of the
bridge must get exactly the subscribed trades and quotes, with the same decimal strings.
"""

import asyncio
import collections
import contextlib
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from typing import Any

import asyncpg
import orjson
import pytest
from stack import BRIDGE_SECRET, Stack
from websockets.asyncio.client import connect

from alphapulse.tokens import issue_token

TradeKey = tuple[str, str, str, str, str, str, int, int]


class Tap:
    """``alphapulse tap --json`` on the relay, as a subprocess, recording every line it prints."""

    def __init__(self, stack: Stack, *types: str) -> None:
        argv = [sys.executable, "-m", "alphapulse", "tap", "--relay", stack.relay_endpoint, "--json"]
        for t in types:
            argv += ["--type", t]
        # a file, not a pipe: nobody reads a pipe until the end, and a full one would stall the tap
        self.out = tempfile.TemporaryFile()  # noqa: SIM115 -- lives as long as the tap
        self.proc = subprocess.Popen(argv, stdout=self.out, stderr=subprocess.STDOUT, env=stack.env())

    def stop(self) -> list[dict[str, Any]]:
        self.proc.terminate()
        self.proc.wait(10)
        self.out.seek(0)
        out = self.out.read()
        self.out.close()
        assert self.proc.returncode in (0, -15, 130), out[-2000:]
        return [orjson.loads(line) for line in out.splitlines() if line.startswith(b"{")]


def trade_key(d: dict[str, Any]) -> TradeKey:
    return (
        d["exchange"],
        d["symbol"],
        str(d["trade_id"]),
        d["side"],
        d["price"],
        d["qty"],
        int(d["ts_exchange_ns"]),
        int(d["ts_recv_ns"]),
    )


async def record_tap(stack: Stack, seconds: float, *types: str) -> list[dict[str, Any]]:
    tap = Tap(stack, *types)
    await asyncio.sleep(seconds)
    return tap.stop()


async def db_trades_between(dsn: str, lo_ns: int, hi_ns: int) -> list[TradeKey]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            """
            SELECT i.exchange, i.symbol, t.trade_id::text AS trade_id, t.side,
                   t.price::text AS price, t.qty::text AS qty, t.ts_exchange_ns, t.ts_recv_ns
            FROM trades t JOIN instruments i USING (instrument_id)
            WHERE t.ts_recv_ns BETWEEN $1 AND $2
            """,
            lo_ns,
            hi_ns,
        )
    finally:
        await conn.close()
    return [tuple(r.values()) for r in rows]


async def test_database_holds_exactly_the_trades_the_relay_carried(pipeline: Stack) -> None:
    tapped = await record_tap(pipeline, 4.0, "trade")
    live = [d for d in tapped if not d.get("snapshot")]
    assert len(live) >= 20, f"too few trades in 4 s at 300 events/s: {len(live)}\n{pipeline.logs()}"
    assert {d["exchange"] for d in live} == {"kraken", "coinbase", "binance"}
    # the tap joined mid-stream: compare over the span of receive times it saw completely
    lo = min(d["ts_recv_ns"] for d in live)
    hi = max(d["ts_recv_ns"] for d in live)
    want = collections.Counter(trade_key(d) for d in live)
    got: collections.Counter[TradeKey] = collections.Counter()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the writer batches: wait for the rows, bounded
        got = collections.Counter(await db_trades_between(pipeline.dsn, lo, hi))
        if got == want:
            break
        await asyncio.sleep(0.25)
    assert got == want, (
        f"missing {list((want - got).items())[:5]} extra {list((got - want).items())[:5]} ({sum(want.values())} tapped)"
    )
    assert max(got.values()) == 1
    conn = await asyncpg.connect(pipeline.dsn)
    try:
        dupes = await conn.fetchval(
            "SELECT count(*) - count(DISTINCT (instrument_id, trade_id)) FROM trades",
        )
        counts = await conn.fetch("SELECT exchange, count(*) AS n FROM instruments GROUP BY exchange")
    finally:
        await conn.close()
    assert dupes == 0
    assert {r["exchange"]: r["n"] for r in counts} == {"kraken": 3, "coinbase": 3, "binance": 3}


def _token(sub: str = "e2e", role: str = "viewer") -> str:
    return issue_token(BRIDGE_SECRET.encode(), sub, role, now_s=int(time.time()), ttl_s=300)


async def test_bridge_client_gets_the_subscribed_trades_and_quotes_exactly(pipeline: Stack) -> None:
    subscribed = {("binance", "BTC-USDT"), ("kraken", "ETH-USD")}
    tap = Tap(pipeline, "trade", "quote")
    got: list[dict[str, Any]] = []
    try:
        async with connect(pipeline.bridge_url, compression=None) as ws:
            await ws.send(orjson.dumps({"op": "auth", "token": _token()}).decode())
            welcome = orjson.loads(await ws.recv())
            assert welcome[0]["type"] == "welcome", welcome
            for exchange, symbol in subscribed:
                msg = {"op": "subscribe", "exchange": exchange, "symbols": [symbol], "channels": ["trades", "quotes"]}
                await ws.send(orjson.dumps(msg).decode())
            deadline = time.monotonic() + 4.0
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    async for message in ws:
                        got.extend(orjson.loads(message))
    finally:
        await asyncio.sleep(0.3)  # let the tap print what the bridge already forwarded
        tapped = tap.stop()
    market = [e for e in got if e["type"] in ("trade", "quote")]
    # nothing the client did not ask for
    assert {(e["exchange"], e["symbol"]) for e in market} == subscribed, market[:3]
    live_trades = [e for e in market if e["type"] == "trade" and not e.get("snapshot")]
    quotes = [e for e in market if e["type"] == "quote"]
    assert len(live_trades) >= 2, f"{len(market)} events"
    assert len(quotes) >= 2
    # every event equals, field for field (decimal strings included), what the relay carried
    fields = ("type", "exchange", "symbol", "seq", "ts_exchange_ns", "ts_recv_ns")
    extra = {"trade": ("side", "price", "qty"), "quote": ("bid_price", "bid_qty", "ask_price", "ask_qty")}

    def key(e: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(str(e[f]) for f in (*fields, *extra[e["type"]]))

    relay_side = {key(e) for e in tapped if (e["exchange"], e["symbol"]) in subscribed}
    bridge_live = [e for e in market if not e.get("snapshot") and e["ts_recv_ns"] >= tapped[0]["ts_recv_ns"]]
    missing = [key(e) for e in bridge_live if key(e) not in relay_side]
    assert not missing, missing[:3]
    # and the decimals are exact strings at the venue's precision, never floats
    for e in live_trades:
        assert isinstance(e["price"], str)
        assert isinstance(e["qty"], str)
        assert Decimal(e["price"]) > 0
        assert Decimal(e["qty"]) > 0
    # the client got every live trade the relay carried for its symbols while it was subscribed
    # over the span both saw (the tap, a subprocess, connects later than the client)
    first = max(min(e["ts_recv_ns"] for e in live_trades), min(e["ts_recv_ns"] for e in tapped))
    last = min(max(e["ts_recv_ns"] for e in live_trades), max(e["ts_recv_ns"] for e in tapped))
    relay_trades = {
        key(e)
        for e in tapped
        if e["type"] == "trade" and (e["exchange"], e["symbol"]) in subscribed and first <= e["ts_recv_ns"] <= last
    }
    assert relay_trades, "no overlap between the tap and the client"
    assert relay_trades == {key(e) for e in live_trades if first <= e["ts_recv_ns"] <= last}


@pytest.mark.parametrize("venue", ["kraken", "coinbase", "binance"])
def test_every_venue_is_collected_and_healthy(pipeline: Stack, venue: str) -> None:
    assert pipeline.healthy(f"collector:{venue}")
    with urlopen_text(pipeline.http(f"collector:{venue}") + "/metrics") as text:
        frames = [line for line in text.splitlines() if line.startswith("alphapulse_collector_frames_total")]
    assert frames, f"no frame counter on collector {venue}"
    assert sum(float(line.rsplit(" ", 1)[1]) for line in frames) > 0


@contextlib.contextmanager
def urlopen_text(url: str) -> Any:
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as r:
        yield r.read().decode()
