"""Market data, portfolio reads, backtests and the service endpoints, over HTTP."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from api_harness import RunningApi, create_account, insert_trades, login, seed_market
from prometheus_client import REGISTRY, generate_latest

from alphapulse.api.equity import snapshot_equity
from alphapulse.api.marketdata import MarketData

PROBLEM = "application/problem+json"


@pytest.fixture
async def viewer(api: RunningApi, users: dict[str, int]) -> AsyncIterator[httpx.AsyncClient]:
    await seed_market(api.pool, now_s=api.clock.now_ns() / 1e9)
    async with api.client() as client:
        assert (await login(client, "viewer")).status_code == 200
        yield client


def _iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


async def test_market_data_needs_a_session(api: RunningApi) -> None:
    async with api.client() as anonymous:
        for path in ("/api/instruments", "/api/quotes/latest", "/api/feeds/health", "/api/accounts"):
            resp = await anonymous.get(path)
            assert resp.status_code == 401, path
            assert resp.headers["content-type"].startswith(PROBLEM)


async def test_instruments_and_feeds(viewer: httpx.AsyncClient) -> None:
    instruments = (await viewer.get("/api/instruments")).json()
    assert [(i["exchange"], i["symbol"]) for i in instruments] == [
        ("binance", "BTC-USDT"),
        ("binance", "ETH-USDT"),
        ("kraken", "BTC-USDT"),
    ]
    assert (instruments[0]["price_scale"], instruments[0]["price_increment"]) == (2, "0.01")
    assert instruments[2]["qty_increment"] == "1E-8"
    assert len((await viewer.get("/api/instruments", params={"exchange": "kraken"})).json()) == 1
    assert (await viewer.get("/api/instruments", params={"exchange": "NOT VALID"})).status_code == 400
    feeds = (await viewer.get("/api/feeds")).json()
    assert feeds == [
        {"exchange": "binance", "symbols": ["BTC-USDT", "ETH-USDT"]},
        {"exchange": "kraken", "symbols": ["BTC-USDT"]},
    ]


async def test_latest_quotes_are_the_newest_and_cached(api: RunningApi, viewer: httpx.AsyncClient) -> None:
    quotes = (await viewer.get("/api/quotes/latest")).json()
    assert len(quotes) == 3
    btc = next(q for q in quotes if (q["exchange"], q["symbol"]) == ("binance", "BTC-USDT"))
    assert (btc["bid_price"], btc["ask_price"]) == ("63999.00", "64000.00")
    assert btc["ts_recv_ns"] - btc["ts_exchange_ns"] == 3_000_000
    only = (await viewer.get("/api/quotes/latest", params={"exchange": "kraken", "symbol": "BTC-USDT"})).json()
    assert [(q["exchange"], q["symbol"]) for q in only] == [("kraken", "BTC-USDT")]
    assert await api.redis.exists(f"{api.settings.key_prefix}cache:quotes:latest")
    # a newer quote shows up once the cache entry (1 s) has expired
    await api.pool.execute("INSERT INTO quotes VALUES (now() + interval '1 minute', 101, 1, 1, 2, 1, 9, 1, 2)")
    assert (await viewer.get("/api/quotes/latest", params={"symbol": "BTC-USDT", "exchange": "binance"})).json()[0][
        "bid_price"
    ] == "63999.00"
    await api.redis.delete(f"{api.settings.key_prefix}cache:quotes:latest")
    fresh = (await viewer.get("/api/quotes/latest", params={"symbol": "BTC-USDT", "exchange": "binance"})).json()
    assert fresh[0]["bid_price"] == "1"


async def test_trades_page_through_a_time_range(api: RunningApi, viewer: httpx.AsyncClient) -> None:
    last = await api.pool.fetchval("SELECT max(time) FROM trades WHERE instrument_id = 101")
    params: dict[str, Any] = {
        "exchange": "binance",
        "symbol": "BTC-USDT",
        "limit": 50,
        "start": _iso(last - timedelta(seconds=99)),
        "end": _iso(last + timedelta(seconds=1)),
    }
    seen = []
    while True:
        resp = await viewer.get("/api/trades", params=params)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        seen += page["items"]
        if not page["next_cursor"]:
            break
        params["cursor"] = page["next_cursor"]
    assert len(seen) == 100
    keys = [(t["ts_exchange_ns"], t["trade_id"]) for t in seen]
    assert keys == sorted(keys)
    assert len(set(keys)) == 100
    assert all(t["exchange"] == "binance" and t["symbol"] == "BTC-USDT" for t in seen)
    assert seen[0]["price"] in {"63997", "63998", "63999", "64000", "64001", "64002", "64003"}


async def test_trades_validation(viewer: httpx.AsyncClient) -> None:
    base = {"exchange": "binance", "symbol": "BTC-USDT"}
    for params in (
        {},
        {"exchange": "binance"},
        {**base, "limit": 0},
        {**base, "limit": 5001},
        {**base, "start": "yesterday"},
        {**base, "start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        {**base, "cursor": "!!"},
        {**base, "symbol": "BTCUSDT"},
        {**base, "start": "9999-01-01T00:00:00Z"},
    ):
        resp = await viewer.get("/api/trades", params=params)
        assert resp.status_code == 400, (params, resp.text)
        assert resp.headers["content-type"].startswith(PROBLEM)
    # a candles cursor is refused by trades
    candles = (
        await viewer.get("/api/candles", params={**base, "limit": 1, "interval": "1m", "start": "2026-01-01T00:00:00Z"})
    ).json()
    assert (await viewer.get("/api/trades", params={**base, "cursor": candles["next_cursor"]})).status_code == 400


async def test_candles_aggregate_trades(api: RunningApi, viewer: httpx.AsyncClient) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def trade(trade_id: int, price: str, qty: str, at_s: int) -> tuple[Any, ...]:
        ns = int((start + timedelta(seconds=at_s)).timestamp()) * 10**9
        return (
            start + timedelta(seconds=at_s),
            101,
            trade_id,
            "buy",
            Decimal(price),
            Decimal(qty),
            trade_id,
            ns,
            ns,
        )

    # two minutes of trades, out of insertion order
    await insert_trades(
        api.pool,
        [
            trade(1, "100", "1", 1),
            trade(3, "90", "2", 50),
            trade(2, "120", "1", 20),
            trade(4, "95", "0.5", 61),
        ],
    )
    params = {
        "exchange": "binance",
        "symbol": "BTC-USDT",
        "interval": "1m",
        "start": _iso(start),
        "end": _iso(start + timedelta(minutes=5)),
    }
    page = (await viewer.get("/api/candles", params=params)).json()
    assert page["next_cursor"] is None
    assert page["items"] == [
        {
            "ts": "2026-01-01T00:00:00Z",
            "open": "100",
            "high": "120",
            "low": "90",
            "close": "90",
            "volume": "4",
            "notional": "400",
            "trades": 3,
        },
        {
            "ts": "2026-01-01T00:01:00Z",
            "open": "95",
            "high": "95",
            "low": "95",
            "close": "95",
            "volume": "0.5",
            "notional": "47.5",
            "trades": 1,
        },
    ]
    # one bucket per page: the cursor walks forward
    first = (await viewer.get("/api/candles", params={**params, "limit": 1})).json()
    assert [c["ts"] for c in first["items"]] == ["2026-01-01T00:00:00Z"]
    second = (await viewer.get("/api/candles", params={**params, "limit": 1, "cursor": first["next_cursor"]})).json()
    assert [c["ts"] for c in second["items"]] == ["2026-01-01T00:01:00Z"]
    hourly = (await viewer.get("/api/candles", params={**params, "interval": "1h"})).json()
    assert [(c["open"], c["close"], c["trades"]) for c in hourly["items"]] == [("100", "95", 4)]
    assert (await viewer.get("/api/candles", params={**params, "interval": "2m"})).status_code == 400
    # the default window ends with the current bucket and holds recent trades
    recent = (await viewer.get("/api/candles", params={"exchange": "binance", "symbol": "BTC-USDT", "limit": 5})).json()
    assert sum(c["trades"] for c in recent["items"]) > 0
    assert recent["next_cursor"] is None


async def test_feed_health(api: RunningApi, viewer: httpx.AsyncClient) -> None:
    now_ns = api.clock.now_ns()
    await api.pool.execute(
        "INSERT INTO gaps (time, source, feed, exchange, reason, detected_ns) VALUES (now(), 'relay', 'kraken-spot', "
        "'kraken', 'exchange_gap', $1)",
        now_ns,
    )
    await api.pool.execute(
        "INSERT INTO feed_events (time, feed, exchange, kind, ts_ns) VALUES "
        "(now() - interval '1 minute', 'kraken-spot', 'kraken', 'connected', $1), "
        "(now(), 'kraken-spot', 'kraken', 'disconnected', $2)",
        now_ns - 60 * 10**9,
        now_ns,
    )
    health = {(h["exchange"], h["symbol"]): h for h in (await viewer.get("/api/feeds/health")).json()}
    btc = health[("binance", "BTC-USDT")]
    assert btc["status"] == "live"
    assert btc["trades_per_s_1m"] > 0
    assert 2 <= btc["latency_p50_ms_1m"] <= 6
    assert btc["gaps_1h"] == 0
    assert health[("kraken", "BTC-USDT")]["gaps_1h"] == 1
    assert health[("kraken", "BTC-USDT")]["status"] == "down"
    assert health[("kraken", "BTC-USDT")]["last_feed_event"] == "disconnected"
    assert btc["last_feed_event"] is None
    only = (await viewer.get("/api/feeds/health", params={"exchange": "binance"})).json()
    assert {h["exchange"] for h in only} == {"binance"}


async def test_accounts_and_equity_history(api: RunningApi, viewer: httpx.AsyncClient) -> None:
    async with api.client() as admin:
        await login(admin, "admin")
        account_id = await create_account(admin, "viewer", usdt="1000", extra=[{"asset": "BTC", "amount": "0.1"}])
        bad = await admin.post("/api/accounts", json={"name": "x", "owner": "nobody", "balances": []})
        assert bad.status_code == 400
        dup = await admin.post("/api/accounts", json={"name": "paper-1", "owner": "viewer"})
        assert dup.status_code == 409
        twice = await admin.post(
            "/api/accounts",
            json={
                "name": "y",
                "owner": "viewer",
                "balances": [{"asset": "BTC", "amount": "1"}, {"asset": "BTC", "amount": "2"}],
            },
        )
        assert twice.status_code == 400
    assert (await viewer.post("/api/accounts", json={"name": "mine", "owner": "viewer"})).status_code == 403
    accounts = (await viewer.get("/api/accounts")).json()
    assert [(a["id"], a["owner"], a["kind"]) for a in accounts] == [(account_id, "viewer", "paper")]
    portfolio = (await viewer.get(f"/api/accounts/{account_id}/portfolio")).json()
    # BTC valued at the binance BTC-USDT mid (the first venue quoting it)
    assert Decimal(portfolio["equity"]) == Decimal(1000) + Decimal("0.1") * Decimal("63999.5")
    assert portfolio["unpriced_assets"] == []
    market = MarketData(api.pool, api.redis, prefix=api.settings.key_prefix, quotes_ttl_ms=0, candles_ttl_ms=0)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for minutes in (0, 1, 2):
        assert await snapshot_equity(api.pool, market, now=t0 + timedelta(minutes=minutes)) == 1
    history = (
        await viewer.get(
            f"/api/accounts/{account_id}/equity",
            params={"start": _iso(t0), "end": _iso(t0 + timedelta(hours=1))},
        )
    ).json()
    assert [h["ts"] for h in history] == [
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:01:00Z",
        "2026-01-01T00:02:00Z",
    ]
    assert Decimal(history[0]["equity"]) == Decimal(portfolio["equity"])
    assert (await viewer.get("/api/accounts/999999/portfolio")).status_code == 404
    assert (await viewer.get("/api/accounts/0")).status_code == 400
    assert (await viewer.get("/api/accounts/99999999999999999999")).status_code in {400, 404}


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, object]:
    return {"backtests_db": tmp_path / "backtests.duckdb"}


async def test_backtest_runs_are_read_from_the_backtesters_results_file(
    api: RunningApi, viewer: httpx.AsyncClient
) -> None:
    import duckdb

    from alphapulse.trading.backtest.results import SCHEMA  # the writer's own schema: the contract

    assert (await viewer.get("/api/backtests")).json() == {"items": [], "next_cursor": None}  # no file yet
    con = duckdb.connect(str(api.settings.backtests_db))
    con.execute(SCHEMA)
    for n in range(3):
        con.execute(
            "INSERT INTO backtest_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [f"run-{n}", 1_772_461_800_000_000_000 + n, f"ema {n}", orjson.dumps({"fast": 5 + n}).decode(), "/cat",
             1, 2, "L1", 7, 1000, 0.5, 3, 4, 12.5 + n, 0.25, 0.1, f"fp{n}", orjson.dumps({"sharpe": 1.5}).decode()],
        )  # fmt: skip
    con.executemany("INSERT INTO backtest_equity VALUES (?, ?, ?)", [["run-0", t, t * 0.5] for t in range(100)])
    con.close()
    page = (await viewer.get("/api/backtests", params={"limit": 2})).json()
    assert [r["run_id"] for r in page["items"]] == ["run-2", "run-1"]
    assert page["items"][0]["pnl"] == 14.5
    rest = (await viewer.get("/api/backtests", params={"limit": 2, "cursor": page["next_cursor"]})).json()
    assert [r["run_id"] for r in rest["items"]] == ["run-0"]
    one = (await viewer.get("/api/backtests/run-0")).json()
    assert (one["config"], one["stats"], one["fingerprint"]) == ({"fast": 5}, {"sharpe": 1.5}, "fp0")
    curve = (await viewer.get("/api/backtests/run-0/equity", params={"points": 10})).json()
    assert 10 <= len(curve) <= 11
    assert curve[-1] == {"ts_ns": 99, "pnl": 49.5}
    assert (await viewer.get("/api/backtests/nope")).status_code == 404
    assert (await viewer.get("/api/backtests/bad id!")).status_code in {400, 404}


async def test_health_readiness_metrics_schema_and_root(api: RunningApi, viewer: httpx.AsyncClient) -> None:
    async with api.client() as anonymous:
        assert (await anonymous.get("/healthz")).json() == {"status": "ok", "checks": {}}
        assert (await anonymous.get("/api/config")).json()["bridge_url"] == "ws://127.0.0.1:8765/ws"
        ready = await anonymous.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}
        await anonymous.get("/api/does-not-exist")
        # the metrics live on a port of their own (test_api_cli.py): the API's port, which the Ingress
        # publishes whole, does not serve them
        assert (await anonymous.get("/metrics")).status_code == 404
        text = generate_latest(REGISTRY).decode()
        assert 'alphapulse_api_requests_total{method="GET",route="/readyz",status="200"}' in text
        assert 'route="unmatched",status="404"' in text
        assert "alphapulse_api_request_seconds_bucket" in text
        schema = (await anonymous.get("/schema/openapi.json")).json()
        assert schema["components"]["securitySchemes"]["session"]["in"] == "cookie"
        assert "/api/orders" in schema["paths"]
        root = await anonymous.get("/")
        assert root.status_code == 200
        assert "npm run build" in root.text


async def test_readiness_reports_a_dead_database(api: RunningApi, database: str, users: dict[str, int]) -> None:
    import asyncpg
    from api_harness import PG_ADMIN_DSN

    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        # end the API's connections; the pool reconnects on next use, so block new ones first
        await admin.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", database)
        async with api.client() as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["database"].startswith("down")
            assert ready.json()["checks"]["redis"] == "ok"
            login_resp = await login(client, "viewer")
            assert login_resp.status_code == 503
            assert login_resp.headers["content-type"].startswith(PROBLEM)
    finally:
        await admin.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')
        await admin.close()


async def test_candles_across_cache_chunks_equal_one_aggregation(api: RunningApi, viewer: httpx.AsyncClient) -> None:
    """Pages are assembled from hour-long cached chunks; the result equals aggregating the range at once."""
    start = datetime(2026, 1, 1, 0, 50, tzinfo=UTC)
    rows = []
    for i in range(40):  # a trade every 30 s from 00:50 to 01:09:30, crossing the 01:00 chunk edge
        at = start + timedelta(seconds=30 * i)
        ns = int(at.timestamp()) * 10**9
        rows.append((at, 101, 10_000 + i, "buy", Decimal(100 + i % 9), Decimal("0.5"), i, ns, ns))
    await insert_trades(api.pool, rows)
    params = {
        "exchange": "binance",
        "symbol": "BTC-USDT",
        "interval": "1m",
        "start": "2026-01-01T00:55:00Z",
        "end": "2026-01-01T01:05:00Z",
    }
    page = (await viewer.get("/api/candles", params=params)).json()
    direct = await api.pool.fetch(
        "SELECT bucket, open, close, trades FROM ap_candles('1 minute', $1, $2, ARRAY[101::bigint]) ORDER BY bucket",
        datetime(2026, 1, 1, 0, 55, tzinfo=UTC),
        datetime(2026, 1, 1, 1, 5, tzinfo=UTC),
    )
    assert [(c["ts"], c["open"], c["close"], c["trades"]) for c in page["items"]] == [
        (_iso(r["bucket"]), str(r["open"]), str(r["close"]), r["trades"]) for r in direct
    ]
    assert len(page["items"]) == 10
