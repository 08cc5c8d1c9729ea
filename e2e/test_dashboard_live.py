"""The real dashboard in headless Chromium against the real API, bridge and pipeline fed by the simulator.

Everything is a process a user would run (``e2e/stack.py``): simulator -> collectors -> relay ->
{writer, bridge}, and the API serving the built dashboard. The browser logs in, sees prices move
live (through the bridge, not the database), opens a chart, places a paper order and sees it
listed. The trading node is not part of this run: the order is checked as queued/pending, which
is as far as the API takes it (fills are the trading node's, tested in services/tests/integration).
Screenshots go to ``e2e/artifacts/live/``.
"""

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from stack import REPO, Stack, StackOptions

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FRONTEND = REPO / "frontend"
PASSWORD = "correct-horse-battery-staple"


def _built() -> Path:
    """frontend/dist, built when its sources are newer (as the API's browser test does)."""
    dist = FRONTEND / "dist"
    sources = [*FRONTEND.joinpath("src").rglob("*"), FRONTEND / "index.html", FRONTEND / "package-lock.json"]
    newest = max(p.stat().st_mtime for p in sources if p.is_file())
    if not (dist / "index.html").exists() or (dist / "index.html").stat().st_mtime < newest:
        if not (FRONTEND / "node_modules").exists():
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=FRONTEND, check=True, timeout=600)
        subprocess.run(["npm", "run", "build"], cwd=FRONTEND, check=True, timeout=600)
    return dist


def _create_user(stack: Stack, name: str, role: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "alphapulse", "users", "create", "--username", name, "--role", role, "--password-stdin"],
        input=PASSWORD.encode() + b"\n",
        env=stack.env(),
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def live_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    _built()
    # plain http on 127.0.0.1: the session cookie cannot be Secure here
    options = StackOptions(rate=200.0, api=True, extra_env={"ALPHAPULSE_COOKIE_SECURE": "false"})
    stack = Stack(options, root=tmp_path_factory.mktemp("live")).start()
    try:
        _create_user(stack, "admin", "admin")
        _create_user(stack, "trader", "trader")
        with httpx.Client(base_url=stack.api_url, timeout=30) as admin:
            r = admin.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
            assert r.status_code == 200, r.text
            body = {
                "name": "trader-paper",
                "owner": "trader",
                "base_currency": "USDT",
                "balances": [{"asset": "USDT", "amount": "100000"}],
            }
            r = admin.post("/api/accounts", json=body)
            assert r.status_code == 201, r.text
        yield stack
    finally:
        stack.stop()


async def test_dashboard_shows_live_prices_chart_and_orders(live_stack: Stack, artifacts: Path) -> None:
    from playwright.async_api import async_playwright

    assert CHROMIUM, "Debian's chromium is required for the browser tests"
    out = artifacts / "live"
    out.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 860})
            await page.goto(live_stack.api_url)
            await page.fill("input[name=username]", "trader")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_selector("[data-testid=quotes-table]")
            await page.wait_for_selector("[data-testid=bridge-state]")
            # live: the bridge connection is up and a price cell changes within a few seconds
            row = page.locator("[data-testid=quote-binance-BTC-USDT]")
            await row.wait_for(timeout=20_000)
            bid = row.locator("[data-testid=bid]")
            await page.wait_for_function(
                "el => /[0-9]/.test(el.textContent)", arg=await bid.element_handle(), timeout=20_000
            )
            seen = {await bid.inner_text()}
            deadline = time.monotonic() + 15
            while len(seen) < 2 and time.monotonic() < deadline:
                await page.wait_for_timeout(250)
                seen.add(await bid.inner_text())
            await page.screenshot(path=out / "market.png", full_page=True)
            assert len(seen) >= 2, f"the BTC-USDT bid did not move: {seen}"
            state = await page.locator("[data-testid=bridge-state]").get_attribute("class") or ""
            assert "conn-live" in state, state

            await page.click("[data-testid=nav-chart]")
            await page.wait_for_selector("[data-testid=chart-status]", timeout=20_000)
            await page.wait_for_timeout(1500)
            await page.screenshot(path=out / "chart.png", full_page=True)

            await page.click("[data-testid=nav-trade]")
            await page.wait_for_selector("[data-testid=order-ticket] select[name=account] option", state="attached")
            await page.fill("input[name=quantity]", "0.01")
            await page.fill("input[name=limit_price]", "1000.00")
            await page.click("[data-testid=order-ticket] button[type=submit]")
            await page.wait_for_selector("[data-testid=order-message]:has-text('queued')", timeout=20_000)
            await page.wait_for_selector("[data-testid=order-row]", timeout=20_000)
            listed = await page.locator("[data-testid=order-row]").first.inner_text()
            await page.screenshot(path=out / "trade.png", full_page=True)
            assert "pending_new" in listed or "accepted" in listed or "submitted" in listed, listed
        finally:
            await browser.close()
