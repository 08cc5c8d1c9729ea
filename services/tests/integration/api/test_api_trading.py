"""Orders: risk checks, the Redis stream out, events back into orders, fills, positions, balances."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
from api_harness import RunningApi, create_account, login, seed_market

from alphapulse.api.events import CONSUMER_GROUP

PROBLEM = "application/problem+json"


async def _stream_entries(api: RunningApi) -> list[dict[str, str]]:
    entries = await api.redis.xrange(api.settings.orders_stream)
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in entries]


async def _push_event(api: RunningApi, **fields: str) -> None:
    await api.redis.xadd(api.settings.order_events_stream, {"v": "1", "ts_ns": str(api.clock.now_ns()), **fields})


async def _wait_for(predicate: Any, timeout_s: float = 10.0) -> Any:
    """Poll until ``predicate()`` returns something truthy (the consumer is a background task)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def _setup(api: RunningApi) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, int]]:
    """Market data, an admin and a trader logged in, and a paper account of the trader's."""
    await seed_market(api.pool, now_s=api.clock.now_ns() / 1e9)
    async with api.client() as admin, api.client() as trader:
        assert (await login(admin, "admin")).status_code == 200
        assert (await login(trader, "trader")).status_code == 200
        yield admin, trader, await create_account(admin, "trader")


ORDER = {
    "exchange": "binance",
    "symbol": "BTC-USDT",
    "side": "buy",
    "type": "limit",
    "quantity": "0.5",
    "limit_price": "64000.00",
    "time_in_force": "gtc",
}


async def test_submit_queues_one_stream_entry_with_the_documented_fields(
    api: RunningApi, users: dict[str, int]
) -> None:
    async with _setup(api) as (_admin, trader, account_id):
        resp = await trader.post("/api/orders", json={**ORDER, "account_id": account_id, "client_order_id": "c-1"})
        assert resp.status_code == 201, resp.text
        order = resp.json()
        assert order["status"] == "pending_new"
        assert order["quantity"] == "0.5"
        assert resp.headers["location"] == f"/api/orders/{order['id']}"
        entries = await _stream_entries(api)
        assert len(entries) == 1
        entry = entries[0]
        created_ns = int(entry.pop("created_ns"))
        assert abs(created_ns - api.clock.now_ns()) < 60 * 10**9
        assert entry == {
            "v": "1",
            "action": "new",
            "order_id": order["id"],
            "account": str(account_id),
            "exchange": "binance",
            "symbol": "BTC-USDT",
            "side": "buy",
            "type": "limit",
            "quantity": "0.5",
            "limit_price": "64000.00",
            "time_in_force": "gtc",
            "user": "trader",
        }
        # the same client order id again is a conflict, and queues nothing
        again = await trader.post("/api/orders", json={**ORDER, "account_id": account_id, "client_order_id": "c-1"})
        assert again.status_code == 409
        assert len(await _stream_entries(api)) == 1
        listed = (await trader.get("/api/orders", params={"account_id": account_id})).json()
        assert [o["id"] for o in listed["items"]] == [order["id"]]
        assert (await trader.get(f"/api/orders/{order['id']}")).json()["client_order_id"] == "c-1"


async def test_market_order_encodes_an_empty_limit_price(api: RunningApi, users: dict[str, int]) -> None:
    async with _setup(api) as (_admin, trader, account_id):
        body = {
            **ORDER,
            "type": "market",
            "limit_price": None,
            "time_in_force": "ioc",
            "account_id": account_id,
        }
        resp = await trader.post("/api/orders", json=body)
        assert resp.status_code == 201, resp.text
        (entry,) = await _stream_entries(api)
        assert entry["type"] == "market"
        assert entry["limit_price"] == ""
        assert entry["time_in_force"] == "ioc"


async def test_viewer_cannot_trade(api: RunningApi, users: dict[str, int]) -> None:
    async with _setup(api) as (admin, _trader, _), api.client() as viewer:
        await login(viewer, "viewer")
        viewer_account = await create_account(admin, "viewer", name="viewer-paper")
        resp = await viewer.post("/api/orders", json={**ORDER, "account_id": viewer_account})
        assert resp.status_code == 403
        assert resp.headers["content-type"].startswith(PROBLEM)
        assert await _stream_entries(api) == []
        # but may read its own account
        assert (await viewer.get(f"/api/accounts/{viewer_account}/portfolio")).status_code == 200


async def test_a_trader_cannot_use_someone_elses_account(api: RunningApi, users: dict[str, int]) -> None:
    async with _setup(api) as (admin, trader, _):
        other = await create_account(admin, "admin", name="admin-paper")
        resp = await trader.post("/api/orders", json={**ORDER, "account_id": other})
        assert resp.status_code == 404
        assert (await trader.get(f"/api/accounts/{other}")).status_code == 404
        assert (await admin.get(f"/api/accounts/{other}")).status_code == 200


async def test_risk_checks_refuse_before_anything_is_queued(api: RunningApi, users: dict[str, int]) -> None:
    async with _setup(api) as (_admin, trader, account_id):
        cases = [
            ({"symbol": "DOGE-USDT"}, "not a known instrument"),
            ({"quantity": "100", "limit_price": "64000.00"}, "exceeds the maximum order notional"),
            ({"quantity": "0.000001"}, "quantity increment"),
            ({"limit_price": "64000.005"}, "price increment"),
            ({"type": "market", "limit_price": None, "quantity": "20"}, "exceeds the maximum order notional"),
        ]
        for change, reason in cases:
            resp = await trader.post("/api/orders", json={**ORDER, "account_id": account_id, **change})
            assert resp.status_code == 422, (change, resp.text)
            assert reason in resp.json()["detail"], (change, resp.json())
            assert reason in resp.json()["reason"]
        assert await _stream_entries(api) == []
        assert await api.pool.fetchval("SELECT count(*) FROM orders") == 0


async def test_order_input_is_validated(api: RunningApi, users: dict[str, int]) -> None:
    async with _setup(api) as (_admin, trader, account_id):
        bad = [
            {"side": "hold"},
            {"type": "stop"},
            {"quantity": "-1"},
            {"quantity": "1e3"},
            {"quantity": "0"},
            {"quantity": 0.5},
            {"time_in_force": "day"},
            {"symbol": "btcusdt"},
            {"exchange": "Binance!"},
            {"limit_price": None},
            {"type": "market"},
            {"account_id": 0},
            {"unexpected": "field"},
        ]
        for change in bad:
            resp = await trader.post("/api/orders", json={**ORDER, "account_id": account_id, **change})
            assert resp.status_code == 400, (change, resp.text)
            assert resp.headers["content-type"].startswith(PROBLEM)
        assert await _stream_entries(api) == []


async def test_events_move_the_order_and_book_fills_positions_and_balances(
    api: RunningApi, users: dict[str, int]
) -> None:
    async with _setup(api) as (_admin, trader, account_id):
        order = (await trader.post("/api/orders", json={**ORDER, "account_id": account_id})).json()
        oid = order["id"]

        async def status() -> str:
            return str((await trader.get(f"/api/orders/{oid}")).json()["status"])

        await _push_event(api, order_id=oid, type="accepted", venue_order_id="V-1")
        await _wait_for(lambda: _eq(status, "accepted"))
        await _push_event(
            api,
            order_id=oid,
            type="partially_filled",
            fill_id="f1",
            price="63990.00",
            qty="0.2",
            fee="1.5",
            fee_asset="USDT",
            liquidity="maker",
        )
        await _wait_for(lambda: _eq(status, "partially_filled"))
        await _push_event(api, order_id=oid, type="filled", fill_id="f2", price="64000.00", qty="0.3", fee="2")
        await _wait_for(lambda: _eq(status, "filled"))

        got = (await trader.get(f"/api/orders/{oid}")).json()
        assert Decimal(got["filled_qty"]) == Decimal("0.5")
        assert Decimal(got["avg_fill_price"]) == (Decimal("0.2") * 63990 + Decimal("0.3") * 64000) / Decimal("0.5")
        assert Decimal(got["fees"]) == Decimal("3.5")

        fills = (await trader.get("/api/fills", params={"account_id": account_id})).json()["items"]
        assert [(f["fill_id"], f["qty"], f["price"]) for f in fills] == [
            ("f2", "0.3", "64000.00"),
            ("f1", "0.2", "63990.00"),
        ]
        portfolio = (await trader.get(f"/api/accounts/{account_id}/portfolio")).json()
        (pos,) = portfolio["positions"]
        assert (pos["exchange"], pos["symbol"]) == ("binance", "BTC-USDT")
        assert Decimal(pos["qty"]) == Decimal("0.5")
        assert Decimal(pos["avg_price"]) == Decimal("63996")
        mark = (Decimal("63999.00") + Decimal("64000.00")) / 2  # latest binance quote mid
        assert Decimal(pos["mark_price"]) == mark
        assert Decimal(pos["unrealised_pnl"]) == Decimal("0.5") * (mark - Decimal("63996"))
        balances = {b["asset"]: Decimal(b["amount"]) for b in portfolio["balances"]}
        assert balances["BTC"] == Decimal("0.5")
        assert balances["USDT"] == Decimal(100000) - Decimal("0.2") * 63990 - Decimal("0.3") * 64000 - Decimal("3.5")
        assert Decimal(portfolio["equity"]) == balances["USDT"] + Decimal("0.5") * mark

        # a duplicate delivery of the same fill changes nothing; the terminal order ignores a late cancel
        await _push_event(api, order_id=oid, type="filled", fill_id="f2", price="64000.00", qty="0.3", fee="2")
        await _push_event(api, order_id=oid, type="cancelled")
        await _wait_for(lambda: _count_is(api, "SELECT count(*) FROM order_events", 5))
        assert await status() == "filled"
        assert await api.pool.fetchval("SELECT count(*) FROM fills") == 2
        outcomes = [r["outcome"] for r in await api.pool.fetch("SELECT outcome FROM order_events ORDER BY stream_id")]
        assert outcomes == ["applied", "applied", "applied", "duplicate_fill", "ignored_terminal"]

        # every entry was acknowledged (right after its transaction committed)
        async def none_pending() -> bool:
            pending = await api.redis.xpending(api.settings.order_events_stream, CONSUMER_GROUP)
            return bool(pending["pending"] == 0)

        await _wait_for(none_pending)


async def test_selling_books_realised_pnl(api: RunningApi, users: dict[str, int]) -> None:
    async with _setup(api) as (_admin, trader, account_id):
        for side, price, fid in (("buy", "60000.00", "b"), ("sell", "61000.00", "s")):
            body = {**ORDER, "side": side, "limit_price": price, "quantity": "0.1", "account_id": account_id}
            oid = (await trader.post("/api/orders", json=body)).json()["id"]
            await _push_event(api, order_id=oid, type="filled", fill_id=fid, price=price, qty="0.1")
        await _wait_for(lambda: _count_is(api, "SELECT count(*) FROM fills", 2))
        portfolio = (await trader.get(f"/api/accounts/{account_id}/portfolio")).json()
        (pos,) = portfolio["positions"]
        assert Decimal(pos["qty"]) == 0
        assert Decimal(pos["realised_pnl"]) == Decimal(100)
        assert Decimal(portfolio["realised_pnl"]) == Decimal(100)
        assert Decimal(portfolio["equity"]) == Decimal(100100)


async def test_rejected_and_invalid_events(api: RunningApi, users: dict[str, int]) -> None:
    async with _setup(api) as (_admin, trader, account_id):
        oid = (await trader.post("/api/orders", json={**ORDER, "account_id": account_id})).json()["id"]
        await _push_event(api, order_id=oid, type="rejected", reason="insufficient margin")
        await _push_event(api, order_id=oid, type="exploded")
        await _push_event(api, order_id=str(uuid.uuid4()), type="accepted")
        await _wait_for(lambda: _count_is(api, "SELECT count(*) FROM order_events", 3))
        got = (await trader.get(f"/api/orders/{oid}")).json()
        assert (got["status"], got["reject_reason"]) == ("rejected", "insufficient margin")
        outcomes = sorted(r["outcome"] for r in await api.pool.fetch("SELECT outcome FROM order_events"))
        assert outcomes[0] == "applied"
        assert outcomes[1].startswith("invalid: unknown event type")
        assert outcomes[2] == "unknown_order"
        # a rejected order cannot be cancelled
        assert (await trader.post(f"/api/orders/{oid}/cancel")).status_code == 409


async def test_cancel_queues_a_cancel_request_then_the_event_closes_the_order(
    api: RunningApi, users: dict[str, int]
) -> None:
    async with _setup(api) as (_admin, trader, account_id), api.client() as viewer:
        oid = (await trader.post("/api/orders", json={**ORDER, "account_id": account_id})).json()["id"]
        await login(viewer, "viewer")
        assert (await viewer.post(f"/api/orders/{oid}/cancel")).status_code == 403
        resp = await trader.post(f"/api/orders/{oid}/cancel")
        assert resp.status_code == 202
        assert resp.json()["cancel_requested_at"] is not None
        _new, cancel = await _stream_entries(api)
        assert cancel["action"] == "cancel"
        assert (cancel["order_id"], cancel["account"], cancel["user"]) == (oid, str(account_id), "trader")
        await _push_event(api, order_id=oid, type="cancelled")

        async def cancelled() -> bool:
            return bool((await trader.get(f"/api/orders/{oid}")).json()["status"] == "cancelled")

        await _wait_for(cancelled)
        assert (await trader.get("/api/orders", params={"status": "open"})).json()["items"] == []
        assert (await trader.post(f"/api/orders/{uuid.uuid4()}/cancel")).status_code == 404


async def test_orders_paginate_newest_first(api: RunningApi, users: dict[str, int]) -> None:
    async with _setup(api) as (_admin, trader, account_id):
        ids = []
        for _ in range(5):
            ids.append((await trader.post("/api/orders", json={**ORDER, "account_id": account_id})).json()["id"])
        seen: list[str] = []
        params: dict[str, Any] = {"limit": 2}
        while True:
            page = (await trader.get("/api/orders", params=params)).json()
            seen += [o["id"] for o in page["items"]]
            if page["next_cursor"] is None:
                break
            params["cursor"] = page["next_cursor"]
        assert seen == ids[::-1]
        bad = await trader.get("/api/orders", params={"cursor": "not-a-cursor"})
        assert bad.status_code == 400


async def test_queue_down_marks_the_order_rejected_and_answers_503(api: RunningApi, users: dict[str, int]) -> None:
    async with _setup(api) as (_admin, trader, account_id):
        # a key of the wrong type where the stream should be makes XADD fail like an unavailable queue
        await api.redis.set(api.settings.orders_stream, "not a stream")
        resp = await trader.post("/api/orders", json={**ORDER, "account_id": account_id})
        assert resp.status_code == 503
        row = await api.pool.fetchrow("SELECT status, reject_reason FROM orders")
        assert (row["status"], row["reject_reason"]) == ("rejected", "order queue unavailable")


async def _eq(get: Any, want: str) -> bool:
    return bool(await get() == want)


async def _count_is(api: RunningApi, sql: str, want: int) -> bool:
    return int(await api.pool.fetchval(sql)) == want
